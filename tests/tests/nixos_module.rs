//! The NixOS module (`nixos-module/`, `flake.nix`) checked without nixpkgs and without building anything:
//!
//! 1. every `.nix` file in the repository parses (`nix-instantiate --parse`);
//! 2. the module, evaluated against the stub library `nixos-module/tests/stub-lib.nix` for the sample
//!    configuration and for the README's example, renders the expected systemd units (ExecStart flags,
//!    environment, hardening, credentials, ordering) and firewall ports; bad configurations are refused;
//! 3. the ExecStart argument vectors it renders are accepted by the real binaries (`--check-config`
//!    appended: flags parsed and validated, no model loaded), the bridge through its credential wrapper.
//!
//! `nix-instantiate` comes from Debian's `nix-bin` (`make setup`). It runs in restricted mode with a dummy
//! store: nothing can be fetched or built, and nothing outside the repository can be read. What this does
//! not prove is listed in the README section "NixOS".

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use wyoming_tests::repo_root;

/// `nix-instantiate`, or `None` (with a printed reason) when it is missing; under
/// `WYOMING_RS_REQUIRE_PEERS` (as `make test` runs) a missing one fails the test.
fn nix_instantiate() -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join("nix-instantiate")).find(|p| p.is_file()));
    if found.is_none() {
        assert!(
            std::env::var_os("WYOMING_RS_REQUIRE_PEERS").is_none(),
            "nix-instantiate is required (WYOMING_RS_REQUIRE_PEERS) but missing: run `make setup` (Debian package nix-bin)"
        );
        eprintln!("skipped: nix-instantiate is missing; run `make setup` (Debian package nix-bin)");
    }
    found
}

/// `nix-instantiate` in restricted mode (only the repository is readable, no URI may be fetched), with a
/// dummy store (nothing can be built or copied) and no NIX_PATH (no `<nixpkgs>`).
fn nix(bin: &Path, args: &[&str]) -> Output {
    let root = repo_root();
    Command::new(bin)
        .args(["--option", "store", "dummy://", "--option", "build-users-group", ""])
        .args(["--option", "restrict-eval", "true", "-I"])
        .arg(&root)
        .args(args)
        .current_dir(&root)
        .env("NIX_PATH", "")
        .env_remove("NIX_CONFIG")
        .output()
        .expect("nix-instantiate runs")
}

/// `nixos-module/tests/eval.nix` for a configuration (a Nix expression), as JSON.
fn evaluate(bin: &Path, configuration: &str) -> Result<Value, String> {
    let expr = format!("import ./nixos-module/tests/eval.nix {{ configuration = {configuration}; }}");
    let out = nix(bin, &["--eval", "--strict", "--json", "-E", &expr]);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(serde_json::from_slice(&out.stdout).expect("eval.nix prints JSON"))
}

/// The VM test's machine configuration (`nixos-module/tests/vm.nix`), with `runNixOSTest` stubbed to
/// return its argument and the module left out (eval.nix imports it already).
const VM_MACHINE: &str = "(import ./nixos-module/tests/vm.nix { \
    pkgs = import ./nixos-module/tests/stub-pkgs.nix { lib = import ./nixos-module/tests/stub-lib.nix; } \
      // { testers.runNixOSTest = test: test; }; \
    module = { }; }).nodes.machine";

fn sample(bin: &Path) -> Value {
    evaluate(bin, "./nixos-module/tests/sample-config.nix").unwrap_or_else(|e| panic!("evaluation failed:\n{e}"))
}

fn nix_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if !matches!(name.as_ref(), "target" | ".git" | "node_modules" | "corpus" | "artifacts") {
                nix_files(&path, out);
            }
        } else if name.ends_with(".nix") {
            out.push(path);
        }
    }
}

#[test]
fn every_nix_file_parses() {
    let Some(bin) = nix_instantiate() else { return };
    let mut files = Vec::new();
    nix_files(&repo_root(), &mut files);
    files.sort();
    let rel: Vec<String> =
        files.iter().map(|f| f.strip_prefix(repo_root()).unwrap().to_string_lossy().into_owned()).collect();
    for expected in ["flake.nix", "nixos-module/default.nix", "nixos-module/packages/wyoming-rs.nix"] {
        assert!(rel.iter().any(|r| r == expected), "{expected} not found among {rel:?}");
    }
    for file in &files {
        let out = nix(&bin, &["--parse", file.to_str().unwrap()]);
        assert!(out.status.success(), "{} does not parse:\n{}", file.display(), String::from_utf8_lossy(&out.stderr));
    }
    eprintln!("{} .nix files parse: {rel:?}", files.len());

    // And the Nix snippets of the READMEs.
    let mut snippets = 0;
    for readme in ["README.md", "nixos-module/README.md"] {
        let text = std::fs::read_to_string(repo_root().join(readme)).unwrap();
        for (i, block) in text.split("```nix\n").skip(1).enumerate() {
            let code = block.split("\n```").next().unwrap();
            let out = nix(&bin, &["--parse", "-E", code]);
            assert!(
                out.status.success(),
                "{readme}: Nix block {i} does not parse:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            snippets += 1;
        }
    }
    assert!(snippets >= 2, "the README's Nix examples were not found");
}

// ---- the rendered units ------------------------------------------------------------------------------------

/// Splits an ExecStart= line the way systemd does for what the module writes: words separated by
/// whitespace, double-quoted words with C escapes, then `%%` -> `%` (specifiers) and `$$` -> `$`
/// (environment variables). A lone `%` or `$` would be expanded by systemd, so it is an error here.
fn split_exec_start(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        let mut raw = String::new();
        if first == '"' {
            chars.next();
            loop {
                match chars.next().expect("unterminated quote in ExecStart") {
                    '"' => break,
                    '\\' => match chars.next().expect("dangling backslash") {
                        'n' => raw.push('\n'),
                        't' => raw.push('\t'),
                        'r' => raw.push('\r'),
                        'u' => {
                            let hex: String = (0..4).map(|_| chars.next().unwrap()).collect();
                            raw.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
                        }
                        other => raw.push(other),
                    },
                    c => raw.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                raw.push(c);
                chars.next();
            }
        }
        words.push(unescape_systemd(&raw));
    }
    words
}

fn unescape_systemd(word: &str) -> String {
    let mut out = String::new();
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '%' || c == '$' {
            assert_eq!(chars.next(), Some(c), "unescaped {c} in ExecStart word {word:?}: systemd would expand it");
        }
        out.push(c);
    }
    out
}

#[test]
fn exec_start_splitting_follows_systemd() {
    assert_eq!(
        split_exec_start(r#""/bin/x" "a b" "100%% $$HOME" "q\"uote\\d" plain"#),
        ["/bin/x", "a b", "100% $HOME", "q\"uote\\d", "plain"]
    );
}

fn unit<'a>(eval: &'a Value, name: &str) -> &'a Value {
    eval["units"].get(name).unwrap_or_else(|| panic!("no unit {name}; units: {:?}", keys(&eval["units"])))
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
}

fn argv(eval: &Value, name: &str) -> Vec<String> {
    split_exec_start(unit(eval, name)["serviceConfig"]["ExecStart"].as_str().expect("ExecStart is a string"))
}

/// The value after `flag` (first occurrence).
fn flag<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).map(String::as_str)
}

fn all_values<'a>(args: &'a [String], name: &str) -> Vec<&'a str> {
    args.windows(2).filter(|w| w[0] == name).map(|w| w[1].as_str()).collect()
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

fn assert_hardened(eval: &Value, name: &str, cuda: bool, zeroconf: bool) {
    let sc = &unit(eval, name)["serviceConfig"];
    for (key, expected) in [
        ("DynamicUser", Value::Bool(true)),
        ("ProtectSystem", Value::from("strict")),
        ("ProtectHome", Value::Bool(true)),
        ("PrivateTmp", Value::Bool(true)),
        ("PrivateUsers", Value::Bool(true)),
        ("NoNewPrivileges", Value::Bool(true)),
        ("CapabilityBoundingSet", Value::from("")),
        ("DevicePolicy", Value::from("closed")),
        ("RestrictNamespaces", Value::Bool(true)),
        ("RestrictSUIDSGID", Value::Bool(true)),
        ("LockPersonality", Value::Bool(true)),
        ("UMask", Value::from("0077")),
        ("Restart", Value::from("on-failure")),
        ("SystemCallArchitectures", Value::from("native")),
        ("PrivateDevices", Value::Bool(!cuda)),
    ] {
        assert_eq!(sc[key], expected, "{name}: {key}");
    }
    assert_eq!(strings(&sc["SystemCallFilter"]), ["@system-service", "~@privileged"], "{name}");
    let mut families = vec!["AF_INET", "AF_INET6", "AF_UNIX"];
    if zeroconf {
        families.push("AF_NETLINK");
    }
    assert_eq!(strings(&sc["RestrictAddressFamilies"]), families, "{name}");
    if cuda {
        let devices = strings(&sc["DeviceAllow"]);
        for d in ["char-nvidia-uvm", "char-nvidia-frontend", "char-nvidiactl"] {
            assert!(devices.contains(&d), "{name}: DeviceAllow {devices:?} lacks {d}");
        }
    } else {
        assert_eq!(sc["DeviceAllow"], Value::from(""), "{name}: no devices for a CPU unit");
    }
    let state = strings(&sc["StateDirectory"]);
    assert!(state.len() == 1 && state[0].starts_with("wyoming-rs/"), "{name}: StateDirectory {state:?}");
    assert_eq!(strings(&unit(eval, name)["wantedBy"]), ["multi-user.target"], "{name}");
}

#[test]
fn sample_configuration_renders_the_expected_units() {
    let Some(bin) = nix_instantiate() else { return };
    let eval = sample(&bin);
    assert_eq!(eval["failedAssertions"], Value::Array(vec![]), "{:#}", eval["failedAssertions"]);
    assert_eq!(eval["warnings"], Value::Array(vec![]));
    let mut units = keys(&eval["units"]);
    units.sort();
    assert_eq!(
        units,
        [
            "wyoming-rs-bridge",
            "wyoming-rs-faster-whisper-cpu",
            "wyoming-rs-faster-whisper-gpu",
            "wyoming-rs-piper-joe",
            "wyoming-rs-piper-lux"
        ],
        "one unit per enabled server (the disabled one has none)"
    );
    let pkgs = &eval["packages"];
    let bin_of = |pkg: &str, name: &str| format!("{}/bin/{name}", pkgs[pkg]["storePath"].as_str().unwrap());

    // STT on CUDA: the CUDA build, the nixpkgs flag names, quoting that survives systemd.
    let gpu = argv(&eval, "wyoming-rs-faster-whisper-gpu");
    assert_eq!(gpu[0], bin_of("whisperCuda", "wyoming-whisper-gpu"));
    for (name, value) in [
        ("--uri", "tcp://0.0.0.0:10300"),
        ("--model", "small-int8"),
        ("--device", "cuda"),
        ("--compute-type", "int8_float16"),
        ("--beam-size", "5"),
        ("--language", "en"),
        ("--download-dir", "/var/lib/wyoming-rs/faster-whisper"),
        ("--zeroconf", "faster-whisper-gpu"),
        ("--initial-prompt", "Names: O'Brien, \"Kitchen Lamp\", 100% $HOME \\ ok"),
        ("--vad-endpointing", "0.8"),
    ] {
        assert_eq!(flag(&gpu, name), Some(value), "{name} in {gpu:?}");
    }
    assert!(flag(&gpu, "--silero-model").is_some_and(|p| p.ends_with("-silero-vad-6.2.3/silero_vad.onnx")));
    assert!(gpu.contains(&"--partial-transcripts".to_string()));
    assert_eq!(all_values(&gpu, "--data-dir"), ["/var/lib/wyoming-rs/faster-whisper"]);
    assert_eq!(unit(&eval, "wyoming-rs-faster-whisper-gpu")["environment"]["HF_ENDPOINT"], "https://hf-mirror.example");
    assert_hardened(&eval, "wyoming-rs-faster-whisper-gpu", true, true);

    // STT on the CPU: the CPU build, no zeroconf, no devices, extra data dir.
    let cpu = argv(&eval, "wyoming-rs-faster-whisper-cpu");
    assert_eq!(cpu[0], bin_of("whisper", "wyoming-whisper-gpu"));
    assert_eq!(flag(&cpu, "--device"), Some("cpu"));
    assert_eq!(flag(&cpu, "--cpu-threads"), Some("2"));
    assert_eq!(all_values(&cpu, "--data-dir"), ["/var/lib/wyoming-rs/faster-whisper", "/srv/whisper-models"]);
    assert!(cpu.contains(&"--local-files-only".to_string()));
    for absent in ["--zeroconf", "--silero-model", "--initial-prompt", "--stt-library"] {
        assert!(!cpu.contains(&absent.to_string()), "{absent} in {cpu:?}");
    }
    assert_hardened(&eval, "wyoming-rs-faster-whisper-cpu", false, false);

    // TTS, LuxTTS on CUDA with cloned voices.
    let lux = argv(&eval, "wyoming-rs-piper-lux");
    assert_eq!(lux[0], bin_of("ttsCuda", "wyoming-luxtts"));
    assert_eq!(flag(&lux, "--engine"), Some("luxtts"));
    assert_eq!(flag(&lux, "--device"), Some("cuda"), "useCUDA makes the device cuda");
    assert_eq!(flag(&lux, "--model"), Some("/var/lib/models/LuxTTS"));
    assert_eq!(all_values(&lux, "--voice"), ["alice=/etc/wyoming/alice.wav", "bob=/etc/wyoming/bob.wav"]);
    assert_eq!(all_values(&lux, "--voice-transcript"), ["alice=Hello, I'm Alice."]);
    assert_eq!(flag(&lux, "--stt-uri"), Some("tcp://127.0.0.1:10300"));
    assert_eq!(flag(&lux, "--num-steps"), Some("4"));
    assert_eq!(flag(&lux, "--speed"), Some("1.1"));
    assert_eq!(flag(&lux, "--t-shift"), Some("0.9"));
    assert_eq!(flag(&lux, "--zeroconf"), Some("alice-voice"));
    assert!(!lux.contains(&"--length-scale".to_string()), "no Piper flags for LuxTTS");
    assert_hardened(&eval, "wyoming-rs-piper-lux", true, true);

    // TTS, Piper on the CPU, with nixpkgs' option names and defaults.
    let joe = argv(&eval, "wyoming-rs-piper-joe");
    assert_eq!(joe[0], bin_of("tts", "wyoming-luxtts"));
    for (name, value) in [
        ("--uri", "tcp://127.0.0.1:10201"),
        ("--engine", "piper"),
        ("--device", "cpu"),
        ("--voice", "en_US-joe-medium"),
        ("--speaker", "0"),
        ("--length-scale", "1.1"),
        ("--noise-scale", "0.667"),
        ("--noise-w", "0.333"),
        ("--max-concurrent", "2"),
        ("--data-dir", "/var/lib/wyoming-rs/tts"),
    ] {
        assert_eq!(flag(&joe, name), Some(value), "{name} in {joe:?}");
    }
    assert_hardened(&eval, "wyoming-rs-piper-joe", false, false);

    // The bridge: after and wanting every enabled server and vLLM; secrets only as credentials.
    let bridge = unit(&eval, "wyoming-rs-bridge");
    for key in ["after", "wants"] {
        let deps = strings(&bridge[key]);
        for dep in [
            "wyoming-rs-faster-whisper-gpu.service",
            "wyoming-rs-faster-whisper-cpu.service",
            "wyoming-rs-piper-lux.service",
            "wyoming-rs-piper-joe.service",
            "vllm.service",
        ] {
            assert!(deps.contains(&dep), "bridge {key} {deps:?} lacks {dep}");
        }
        assert!(!deps.iter().any(|d| d.contains("-off")), "a disabled server is not a dependency");
    }
    assert_hardened(&eval, "wyoming-rs-bridge", false, false);
    assert_eq!(
        strings(&bridge["serviceConfig"]["LoadCredential"]),
        [
            "LLM_API_KEY:/run/secrets/llm-api-key",
            "MUMBLE_PASSWORD:/run/secrets/mumble-password",
            "OPENROUTER_API_KEY:/run/secrets/openrouter"
        ]
    );
    let bargv = argv(&eval, "wyoming-rs-bridge");
    let files = eval["files"].as_object().unwrap();
    let wrapper = files.get(&bargv[0]).and_then(Value::as_str).expect("ExecStart starts with the credential wrapper");
    assert!(wrapper.contains("$CREDENTIALS_DIRECTORY/LLM_API_KEY") && wrapper.ends_with("exec \"$@\"\n"));
    assert_eq!(bargv[1], bin_of("bridge", "wyoming-bridge"));
    assert_eq!(flag(&bargv, "--data-dir"), Some("/var/lib/wyoming-rs/bridge"), "TOFU pins in the state directory");
    let config = files.get(flag(&bargv, "--config").unwrap()).and_then(Value::as_str).expect("config file");
    let config: Value = serde_json::from_str(config).expect("the YAML is JSON");
    assert_eq!(config["llm"]["api_key"], "${LLM_API_KEY}");
    assert_eq!(config["mumble"]["password"], "${MUMBLE_PASSWORD}");
    assert_eq!(config["llm"]["endpoint"], "http://127.0.0.1:8000/v1/chat/completions");
    assert_eq!(config["tts"]["wyoming_port"], 10200);
    // No secret file's path or content in anything that goes into the Nix store other than as a credential.
    let rendered = serde_json::to_string(&eval["units"]).unwrap() + &serde_json::to_string(&eval["files"]).unwrap();
    assert_eq!(rendered.matches("/run/secrets/llm-api-key").count(), 1, "only in LoadCredential");

    // Firewall: only the servers with openFirewall, and mDNS where they advertise.
    let firewall = &eval["firewall"];
    let mut tcp: Vec<i64> = firewall["allowedTCPPorts"].as_array().unwrap().iter().filter_map(Value::as_i64).collect();
    tcp.sort();
    assert_eq!(tcp, [10200, 10300]);
    assert!(firewall["allowedUDPPorts"].as_array().unwrap().iter().all(|p| p == 5353));
    assert!(!firewall["allowedUDPPorts"].as_array().unwrap().is_empty());

    // The packages: CTranslate2 with CUDA for 7.5 from the bundled source (the stub nixpkgs has 4.6.1,
    // not the 4.8.4 ct2rs needs), ONNX Runtime wrapped into the TTS server only (the others compute Silero
    // natively), the lock file and no vendor hash.
    let cuda = &pkgs["whisperCuda"];
    assert_eq!(strings(&cuda["buildFeatures"]), ["ct2-bundled", "cuda"]);
    assert_eq!(cuda["buildNoDefaultFeatures"], true);
    assert_eq!(cuda["env"]["CUDA_ARCH_LIST"], "7.5");
    assert!(strings(&pkgs["whisper"]["buildFeatures"]) == ["ct2-bundled"]);
    for (name, p) in pkgs.as_object().unwrap() {
        assert_eq!(p["lockFile"], "Cargo.lock", "{name}");
        let wraps_ort = p["postFixup"].as_str().unwrap().contains("ORT_DYLIB_PATH");
        assert_eq!(wraps_ort, name.starts_with("tts"), "{name}");
    }
    assert!(strings(&pkgs["tts"]["buildInputs"]).iter().any(|b| b.starts_with("espeak-ng")));
    assert!(strings(&pkgs["bridge"]["buildInputs"]).iter().any(|b| b.starts_with("libopus")));
    assert_ne!(pkgs["tts"]["postFixup"], pkgs["ttsCuda"]["postFixup"], "the CUDA TTS wraps the CUDA ONNX Runtime");
}

#[test]
fn nixpkgs_ctranslate2_is_linked_when_its_version_matches() {
    let Some(bin) = nix_instantiate() else { return };
    let expr = r#"
      let
        lib = import ./nixos-module/tests/stub-lib.nix;
        pkgs = import ./nixos-module/tests/stub-pkgs.nix { inherit lib; };
        p = pkgs.callPackage ./nixos-module/packages/wyoming-rs.nix {
          crate = "wyoming-whisper-gpu";
          cudaSupport = true;
          cudaCapabilities = [ "8.6" ];
          ctranslate2 = pkgs.ctranslate2 // { version = "4.8.4"; };
        };
      in { inherit (p.attrs) buildFeatures env buildInputs; }
    "#;
    let out = nix(&bin, &["--eval", "--strict", "--json", "-E", expr]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let p: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(strings(&p["buildFeatures"]), ["ct2-system"]);
    assert!(p["env"]["CMAKE_LIBRARY_PATH"].as_str().unwrap().contains("ct2rs-link-stubs"));
    assert!(p["env"]["WYOMING_CT2_RPATH"].as_str().unwrap().contains("ctranslate2"));
    // The CUDA flag of nixpkgs' CTranslate2 is overridden for the card.
    let old = nix(&bin, &["--eval", "--strict", "--json", "-E", &expr.replace("4.8.4", "4.6.1")]);
    let old: Value = serde_json::from_slice(&old.stdout).unwrap();
    assert_eq!(strings(&old["buildFeatures"]), ["ct2-bundled", "cuda"]);
    assert_eq!(old["env"]["CUDA_ARCH_LIST"], "8.6");
}

#[test]
fn bad_configurations_are_refused() {
    let Some(bin) = nix_instantiate() else { return };
    let failed = |configuration: &str| -> Vec<String> {
        let eval = evaluate(&bin, configuration).unwrap_or_else(|e| panic!("{configuration}: {e}"));
        strings(&eval["failedAssertions"]).iter().map(|s| s.to_string()).collect()
    };
    let nothing = evaluate(&bin, "{ services.wyoming-rs.faster-whisper.servers.x.enable = false; }").unwrap();
    assert_eq!(nothing["units"], serde_json::json!({}), "nothing enabled, no unit");
    assert_eq!(nothing["firewall"], serde_json::json!({"allowedTCPPorts": [], "allowedUDPPorts": []}));
    let piper_without_voice = failed("{ services.wyoming-rs.piper.servers.x.enable = true; }");
    assert!(piper_without_voice.iter().any(|m| m.contains("needs `voice`")), "{piper_without_voice:?}");
    let lux_without_model =
        failed(r#"{ services.wyoming-rs.piper.servers.x = { enable = true; engine = "luxtts"; }; }"#);
    assert!(lux_without_model.iter().any(|m| m.contains("needs `model`")), "{lux_without_model:?}");
    let secret_in_store =
        failed(r#"{ services.wyoming-rs.bridge = { enable = true; credentials.KEY = "/nix/store/abc-key"; }; }"#);
    assert!(secret_in_store.iter().any(|m| m.contains("must not be in the Nix store")), "{secret_in_store:?}");

    let eval =
        evaluate(&bin, r#"{ services.wyoming-rs.bridge = { enable = true; settings.llm.api_key = "sk-123"; }; }"#)
            .unwrap();
    assert!(strings(&eval["warnings"]).iter().any(|w| w.contains("world-readable")), "{:#}", eval["warnings"]);
    assert_eq!(unit(&eval, "wyoming-rs-bridge")["serviceConfig"]["LoadCredential"], Value::Array(vec![]));
    assert!(!argv(&eval, "wyoming-rs-bridge")[0].contains("credentials"), "no wrapper without credentials");

    for (configuration, error) in [
        ("{ services.wyoming-rs.faster-whisper.servers.x.beamSizee = 5; }", "does not exist"),
        (r#"{ services.wyoming-rs.faster-whisper.servers.x.device = "gpu"; }"#, "is not of type"),
        (r#"{ services.wyoming-rs.faster-whisper.servers.x.uri = "http://x:1"; }"#, "is not of type"),
        (r#"{ services.wyoming-rs.bridge = { enable = true; llmApiKeyFile = ./Cargo.lock; }; }"#, "is not of type"),
        (r#"{ services.wyoming-rs.bridge.configFile = "/etc/x"; }"#, "read-only"),
    ] {
        // The server enabled, so that its unit (and with it every option) is evaluated.
        let with_enable = format!(
            "{{ imports = [ ({configuration}) ]; services.wyoming-rs.faster-whisper.servers.x.enable = true; }}"
        );
        let err = evaluate(&bin, &with_enable).expect_err(configuration);
        assert!(err.contains(error), "{configuration}: expected {error:?} in\n{err}");
    }
}

#[test]
fn readme_example_is_the_evaluated_one() {
    let Some(bin) = nix_instantiate() else { return };
    let example_path = repo_root().join("nixos-module/examples/gpu-voice-bot.nix");
    let example = std::fs::read_to_string(&example_path).unwrap();
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    assert!(readme.contains(&example), "README.md's NixOS section must contain {} verbatim", example_path.display());
    let eval = evaluate(&bin, "./nixos-module/examples/gpu-voice-bot.nix").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(eval["failedAssertions"], Value::Array(vec![]));
    assert_eq!(eval["warnings"], Value::Array(vec![]));
    assert_hardened(&eval, "wyoming-rs-faster-whisper-main", true, true);
    assert_hardened(&eval, "wyoming-rs-piper-main", true, true);
    let bridge = unit(&eval, "wyoming-rs-bridge");
    assert!(strings(&bridge["after"]).contains(&"wyoming-rs-faster-whisper-main.service"));
    assert!(strings(&bridge["after"]).contains(&"vllm.service"));
}

#[test]
fn vm_test_machine_renders_cpu_servers_on_the_fixed_output_models() {
    let Some(bin) = nix_instantiate() else { return };
    let eval = evaluate(&bin, VM_MACHINE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(eval["failedAssertions"], Value::Array(vec![]));
    let stt = argv(&eval, "wyoming-rs-faster-whisper-test");
    assert!(flag(&stt, "--model").is_some_and(|m| m.ends_with("-whisper-tiny-en")), "{stt:?}");
    assert_eq!(flag(&stt, "--device"), Some("cpu"));
    assert!(stt.contains(&"--local-files-only".to_string()) && !stt.contains(&"--zeroconf".to_string()));
    let tts = argv(&eval, "wyoming-rs-piper-test");
    assert!(flag(&tts, "--voice").is_some_and(|v| v.ends_with("-piper-en-us-joe-medium/en_US-joe-medium.onnx")));
    assert_hardened(&eval, "wyoming-rs-faster-whisper-test", false, false);
    assert_hardened(&eval, "wyoming-rs-piper-test", false, false);
    let mut tcp: Vec<i64> =
        eval["firewall"]["allowedTCPPorts"].as_array().unwrap().iter().filter_map(Value::as_i64).collect();
    tcp.sort();
    assert_eq!(tcp, [10200, 10300]);
}

// ---- the rendered flags against the real parsers ------------------------------------------------------------

/// A workspace binary, built (or found up to date) by Cargo in this test's own target directory
/// (`target/<profile>/`): `cargo test` builds another package's binaries only when that package has
/// integration tests of its own, and a binary left from an older build would test old flags. `None` with a
/// message (a failure under `WYOMING_RS_REQUIRE_PEERS`) when it cannot be built.
fn workspace_binary(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "--quiet", "-p", name, "--bin", name]).current_dir(repo_root());
    if dir.file_name().is_some_and(|p| p == "release") {
        build.arg("--release");
    }
    if let Some(target) = dir.parent() {
        build.env("CARGO_TARGET_DIR", target);
    }
    let built = build.status().is_ok_and(|s| s.success());
    let path = dir.join(name);
    if !built || !path.is_file() {
        assert!(
            std::env::var_os("WYOMING_RS_REQUIRE_PEERS").is_none(),
            "{} could not be built: run `cargo build -p {name}`",
            path.display()
        );
        eprintln!("skipped: {} could not be built; run `cargo build -p {name}`", path.display());
        return None;
    }
    Some(path)
}

/// Runs, for every unit of `crate_bin` in the evaluations, its rendered argument vector with
/// `--check-config` appended: store paths of our binaries replaced by the ones built here, generated
/// files written to a temporary directory, and the bridge's credential wrapper run by bash with fake
/// credentials. Returns how many command lines were checked.
fn check_rendered_flags(crate_bin: &str) -> usize {
    let Some(nix_bin) = nix_instantiate() else { return 0 };
    let Some(real) = workspace_binary(crate_bin) else { return 0 };
    let evals = [
        sample(&nix_bin),
        evaluate(&nix_bin, "./nixos-module/examples/gpu-voice-bot.nix").unwrap_or_else(|e| panic!("{e}")),
        evaluate(&nix_bin, VM_MACHINE).unwrap_or_else(|e| panic!("{e}")),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let creds = tmp.path().join("credentials");
    std::fs::create_dir(&creds).unwrap();
    for name in ["LLM_API_KEY", "MUMBLE_PASSWORD", "OPENROUTER_API_KEY"] {
        std::fs::write(creds.join(name), format!("secret-{name}\n")).unwrap();
    }
    let mut checked = 0;
    for (e, eval) in evals.iter().enumerate() {
        let binaries: BTreeMap<String, String> = serde_json::from_value(eval["binaries"].clone()).unwrap();
        let files: BTreeMap<String, String> = serde_json::from_value(eval["files"].clone()).unwrap();
        for unit_name in keys(&eval["units"]) {
            let args = argv(eval, &unit_name);
            if !args.iter().any(|a| binaries.get(a).is_some_and(|b| b == crate_bin)) {
                continue;
            }
            let mut cmd: Vec<String> = Vec::new();
            for (i, arg) in args.iter().enumerate() {
                if binaries.get(arg).is_some_and(|b| b == crate_bin) {
                    cmd.push(real.to_string_lossy().into_owned());
                } else if let Some(text) = files.get(arg) {
                    let path =
                        tmp.path().join(format!("{e}-{i}-{}", Path::new(arg).file_name().unwrap().to_string_lossy()));
                    std::fs::write(&path, text).unwrap();
                    cmd.push(path.to_string_lossy().into_owned());
                } else {
                    cmd.push(arg.clone());
                }
            }
            cmd.push("--check-config".into());
            let env: BTreeMap<String, String> =
                serde_json::from_value(unit(eval, &unit_name)["environment"].clone()).unwrap_or_default();
            // The credential wrapper is a shell script (writeShellScript): run it with bash.
            let is_wrapper = files.contains_key(&args[0]);
            let run = |cmd: &[String]| {
                let mut command = if is_wrapper { Command::new("bash") } else { Command::new(&cmd[0]) };
                command.args(if is_wrapper { cmd } else { &cmd[1..] });
                for var in ["LLM_API_KEY", "MUMBLE_PASSWORD", "OPENROUTER_API_KEY"] {
                    command.env_remove(var);
                }
                command
                    .envs(&env)
                    .env("CREDENTIALS_DIRECTORY", &creds)
                    .env_remove("RUST_BACKTRACE")
                    .current_dir(tmp.path())
                    .output()
                    .unwrap()
            };
            // The check means something only if the parser refuses what it does not know.
            let mut bogus = cmd.clone();
            bogus.insert(bogus.len() - 1, "--no-such-flag-anywhere".into());
            assert!(!run(&bogus).status.success(), "{unit_name}: --check-config accepts an unknown flag");
            let out = run(&cmd);
            assert!(
                out.status.success(),
                "{unit_name}: the rendered flags are refused ({}):\n{cmd:?}\nstdout: {}\nstderr: {}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            eprintln!("{unit_name}: {}", String::from_utf8_lossy(&out.stdout).trim());
            checked += 1;
        }
    }
    assert!(checked > 0, "no unit runs {crate_bin}");
    checked
}

#[test]
fn whisper_accepts_the_rendered_flags() {
    let n = check_rendered_flags("wyoming-whisper-gpu");
    assert!(n == 0 || n == 4, "{n} command lines (sample: gpu and cpu; example: main; VM test: test)");
}

#[test]
fn luxtts_accepts_the_rendered_flags() {
    let n = check_rendered_flags("wyoming-luxtts");
    assert!(n == 0 || n == 4, "{n} command lines (sample: lux and joe; example: main; VM test: test)");
}

#[test]
fn bridge_accepts_the_rendered_flags() {
    let n = check_rendered_flags("wyoming-bridge");
    assert!(n == 0 || n == 2, "{n} command lines (sample and example)");
}

#[test]
fn credential_wrapper_exports_the_credentials() {
    let Some(bin) = nix_instantiate() else { return };
    let eval = sample(&bin);
    let wrapper_path = &argv(&eval, "wyoming-rs-bridge")[0];
    let script = eval["files"][wrapper_path].as_str().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("wrapper");
    std::fs::write(&path, script).unwrap();
    let creds = tmp.path().join("creds");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(creds.join("LLM_API_KEY"), "sk-with 'quotes' and $dollar\n").unwrap();
    std::fs::write(creds.join("MUMBLE_PASSWORD"), "hunter2").unwrap();
    std::fs::write(creds.join("OPENROUTER_API_KEY"), "or-key\n").unwrap();
    let out = Command::new("bash").arg(&path).arg("env").env("CREDENTIALS_DIRECTORY", &creds).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let env = String::from_utf8_lossy(&out.stdout);
    assert!(env.lines().any(|l| l == "LLM_API_KEY=sk-with 'quotes' and $dollar"), "{env}");
    assert!(env.lines().any(|l| l == "MUMBLE_PASSWORD=hunter2"), "{env}");
    assert!(env.lines().any(|l| l == "OPENROUTER_API_KEY=or-key"), "{env}");
    // A missing credential or a start outside systemd fails instead of running without the secret.
    std::fs::remove_file(creds.join("MUMBLE_PASSWORD")).unwrap();
    let out = Command::new("bash").arg(&path).arg("true").env("CREDENTIALS_DIRECTORY", &creds).output().unwrap();
    assert!(!out.status.success());
    let out = Command::new("bash").arg(&path).arg("true").env_remove("CREDENTIALS_DIRECTORY").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("CREDENTIALS_DIRECTORY is not set"));
}

#[test]
fn whisper_check_config_reads_the_environment_and_rejects_bad_values() {
    let Some(bin) = workspace_binary("wyoming-whisper-gpu") else { return };
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new(&bin);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.args(args).arg("--check-config").env_remove("RUST_BACKTRACE").output().unwrap()
    };
    let out = run(&["--language", "de"], &[("WYO_WHISPER_MODEL", "medium-int8"), ("WYO_WHISPER_DEVICE", "cuda:1")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert_eq!(summary.lines().count(), 1, "{summary}");
    assert!(summary.contains("model=medium-int8") && summary.contains("device=cuda:1"), "{summary}");
    assert!(summary.contains("language=de"), "{summary}");
    for (args, env, error) in [
        (&["--device", "gpu"][..], &[][..], "--device gpu"),
        (&[], &[("WYO_WHISPER_COMPUTE_TYPE", "int4")][..], "--compute-type int4"),
        (&["--uri", "tcp://0.0.0.0"], &[], "a port must be specified"),
        (&[], &[("WYO_WHISPER_DEBUG", "maybe")], "WYO_WHISPER_DEBUG=maybe"),
    ] {
        let out = run(args, env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(error), "{args:?} {env:?}: {stderr}");
    }
}

/// The VM test's fixed-output models (`nixos-module/packages/models.nix`): their sha256s are the wheels that
/// `scripts/setup.sh` pins, and their unpack scripts, run by bash on those wheels, give the files the VM
/// test and the STT unit's default `--silero-model` use.
#[test]
fn fixed_output_models_are_the_pinned_wheels() {
    let Some(bin) = nix_instantiate() else { return };
    let Some(cache) = wyoming_tests::provisioned("WYOMING_RS_CACHE") else { return };
    let has_unzip =
        std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join("unzip").is_file()));
    if !has_unzip {
        assert!(std::env::var_os("WYOMING_RS_REQUIRE_PEERS").is_none(), "unzip is required: run `make setup`");
        eprintln!("skipped: unzip is not installed (Debian package unzip)");
        return;
    }
    let expr = r#"
      let
        lib = import ./nixos-module/tests/stub-lib.nix;
        pkgs = import ./nixos-module/tests/stub-pkgs.nix { inherit lib; };
        models = pkgs.callPackage ./nixos-module/packages/models.nix {
          fetchPypi = a: "/wheels/${a.sha256}/${a.pname}-${a.version}-${a.python}-none-any.whl";
        };
      in builtins.mapAttrs (_: d: d.script) models
    "#;
    let out = nix(&bin, &["--eval", "--strict", "--json", "-E", expr]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let scripts: BTreeMap<String, String> = serde_json::from_slice(&out.stdout).unwrap();
    let setup = std::fs::read_to_string(repo_root().join("scripts/setup.sh")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut produced = BTreeMap::new();
    for (name, script) in &scripts {
        let start = script.find("/wheels/").expect("the wheel's path in the script");
        let fake: String = script[start..].chars().take_while(|c| !c.is_whitespace()).collect();
        let mut parts = fake.trim_start_matches("/wheels/").splitn(2, '/');
        let (sha, file) = (parts.next().unwrap(), parts.next().unwrap());
        assert!(
            setup.lines().any(|l| l.contains(file) && l.contains(sha)),
            "{name}: {file} with sha256 {sha} is not the wheel scripts/setup.sh pins"
        );
        let wheel = cache.join("wheels").join(file);
        let work = tmp.path().join(name);
        std::fs::create_dir(&work).unwrap();
        let out_dir = tmp.path().join(format!("{name}-out"));
        let status = Command::new("bash")
            .arg("-euc")
            .arg(script.replace(&fake, wheel.to_str().unwrap()))
            .env("out", &out_dir)
            .current_dir(&work)
            .status()
            .unwrap();
        assert!(status.success(), "{name}: the unpack script failed");
        produced.insert(name.clone(), out_dir);
    }
    for (model, file) in [
        ("whisperTinyEn", "model.bin"),
        ("whisperTinyEn", "tokenizer.json"),
        ("piperJoe", "en_US-joe-medium.onnx"),
        ("piperJoe", "en_US-joe-medium.onnx.json"),
        ("sileroVad", "silero_vad.onnx"),
    ] {
        assert!(produced[model].join(file).is_file(), "{model} lacks {file}");
    }
}
