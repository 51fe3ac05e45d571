{
  description = "wyoming-rs: Rust Wyoming STT (10300) and TTS (10200) servers and a Mumble voice bridge";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      system = "x86_64-linux";
      pkgs = nixpkgs.legacyPackages.${system};
      # CUDA is unfree; only the CUDA variants are built from this instance.
      pkgsUnfree = import nixpkgs {
        inherit system;
        config.allowUnfree = true;
      };
      build = p: args: p.callPackage ./nixos-module/packages/wyoming-rs.nix args;
    in
    {
      overlays.default = final: _prev: {
        wyoming-whisper-gpu = build final { crate = "wyoming-whisper-gpu"; };
        wyoming-whisper-gpu-cuda = build final {
          crate = "wyoming-whisper-gpu";
          cudaSupport = true;
        };
        wyoming-luxtts = build final { crate = "wyoming-luxtts"; };
        wyoming-luxtts-cuda = build final {
          crate = "wyoming-luxtts";
          cudaSupport = true;
        };
        wyoming-bridge = build final { crate = "wyoming-bridge"; };
      };

      packages.${system} = rec {
        wyoming-whisper-gpu = build pkgs { crate = "wyoming-whisper-gpu"; };
        # CTranslate2 with CUDA for compute capability 7.5 (T1000); for another card:
        # wyoming-whisper-gpu-cuda.override { cudaCapabilities = [ "8.6" ]; }
        wyoming-whisper-gpu-cuda = build pkgsUnfree {
          crate = "wyoming-whisper-gpu";
          cudaSupport = true;
          cudaCapabilities = [ "7.5" ];
        };
        wyoming-luxtts = build pkgs { crate = "wyoming-luxtts"; };
        wyoming-luxtts-cuda = build pkgsUnfree {
          crate = "wyoming-luxtts";
          cudaSupport = true;
        };
        wyoming-bridge = build pkgs { crate = "wyoming-bridge"; };
        default = wyoming-whisper-gpu;
      };

      # The module builds its packages from this source with the system's nixpkgs (pkgs.callPackage), so it
      # needs no overlay; services.wyoming-rs.*.package options override them.
      nixosModules.default = import ./nixos-module;

      checks.${system} = {
        inherit (self.packages.${system}) wyoming-whisper-gpu wyoming-luxtts wyoming-bridge;
        # Boots a VM with both servers on CPU and runs a describe and a TTS -> STT round trip (needs KVM).
        vm = import ./nixos-module/tests/vm.nix {
          inherit pkgs;
          module = self.nixosModules.default;
        };
      };
    };
}
