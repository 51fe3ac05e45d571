# NixOS VM test: both servers on the CPU with small fixed-output models, a describe on each, and a round
# trip (TTS speaks a sentence, STT transcribes it). Needs KVM and a nixpkgs checkout: run it with
# `nix build .#checks.x86_64-linux.vm`. It has never been run by this project's CI (no KVM, no nixpkgs
# there); see the README section "NixOS".
{ pkgs, module }:

let
  models = pkgs.callPackage ../packages/models.nix { };
in
pkgs.testers.runNixOSTest {
  name = "wyoming-rs";

  nodes.machine =
    { ... }:
    {
      imports = [ module ];
      virtualisation.memorySize = 3072;
      virtualisation.cores = 2;

      services.wyoming-rs.faster-whisper.servers.test = {
        enable = true;
        uri = "tcp://0.0.0.0:10300";
        model = "${models.whisperTinyEn}";
        language = "en";
        device = "cpu";
        localFilesOnly = true;
        zeroconf.enable = false;
        openFirewall = true;
      };

      services.wyoming-rs.piper.servers.test = {
        enable = true;
        uri = "tcp://0.0.0.0:10200";
        engine = "piper";
        voice = "${models.piperJoe}/en_US-joe-medium.onnx";
        device = "cpu";
        zeroconf.enable = false;
        openFirewall = true;
      };

      environment.systemPackages = [ (pkgs.python3.withPackages (p: [ p.wyoming ])) ];
    };

  testScript = ''
    start_all()
    machine.wait_for_unit("wyoming-rs-faster-whisper-test.service")
    machine.wait_for_unit("wyoming-rs-piper-test.service")
    machine.wait_for_open_port(10300)
    machine.wait_for_open_port(10200)

    with subtest("hardening: dynamic users, nothing runs as root"):
        for unit in ["wyoming-rs-faster-whisper-test", "wyoming-rs-piper-test"]:
            user = machine.succeed(f"systemctl show -p User --value {unit}").strip()
            assert user != "root", f"{unit} runs as {user}"
            machine.succeed(f"systemctl show -p DynamicUser --value {unit} | grep -qx yes")

    with subtest("describe and a TTS -> STT round trip"):
        out = machine.succeed("python3 ${./roundtrip.py} 127.0.0.1 10200 10300 'Turn on the kitchen light.'")
        print(out)
        assert "kitchen" in out.lower(), out

    with subtest("Restart=on-failure brings a killed server back"):
        machine.succeed("systemctl kill --signal=SIGKILL wyoming-rs-faster-whisper-test.service")
        machine.wait_until_succeeds("systemctl is-active wyoming-rs-faster-whisper-test.service", timeout=60)
        machine.wait_for_open_port(10300)
  '';
}
