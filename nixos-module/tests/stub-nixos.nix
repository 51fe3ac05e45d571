# The NixOS options the wyoming-rs module writes to, declared as loosely as the evaluation test needs
# (the real declarations live in nixpkgs' nixos/modules).
{ lib, ... }:
let
  inherit (lib) mkOption types;
in
{
  options = {
    assertions = mkOption {
      type = types.listOf types.attrs;
      default = [ ];
    };
    warnings = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    systemd.services = mkOption {
      type = types.attrsOf types.attrs;
      default = { };
    };
    networking.firewall = {
      allowedTCPPorts = mkOption {
        type = types.listOf types.port;
        default = [ ];
      };
      allowedUDPPorts = mkOption {
        type = types.listOf types.port;
        default = [ ];
      };
    };
  };
}
