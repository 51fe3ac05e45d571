# The wyoming-rs NixOS module: services.wyoming-rs.{faster-whisper,piper}.servers.<name> (the option
# names of nixpkgs' services.wyoming.{faster-whisper,piper}) and services.wyoming-rs.bridge.
{
  imports = [
    ./whisper.nix
    ./tts.nix
    ./bridge.nix
  ];
}
