# The configuration the evaluation test renders (tests/tests/nixos_module.rs): every kind of server, CUDA
# and CPU, both TTS engines, the bridge with secrets, and values that need quoting.
{
  services.wyoming-rs.faster-whisper.servers = {
    gpu = {
      enable = true;
      device = "cuda";
      model = "small-int8";
      language = "en";
      beamSize = 5;
      computeType = "int8_float16";
      initialPrompt = "Names: O'Brien, \"Kitchen Lamp\", 100% $HOME \\ ok";
      openFirewall = true;
      partialTranscripts = true;
      environment.HF_ENDPOINT = "https://hf-mirror.example";
      extraArgs = [
        "--vad-endpointing"
        "0.8"
      ];
    };
    cpu = {
      enable = true;
      uri = "tcp://127.0.0.1:10301";
      model = "tiny-int8";
      sttLibrary = "faster-whisper";
      zeroconf.enable = false;
      cpuThreads = 2;
      localFilesOnly = true;
      sileroModel = null;
      dataDirs = [ "/srv/whisper-models" ];
    };
    off = {
      enable = false;
    };
  };

  services.wyoming-rs.piper.servers = {
    lux = {
      enable = true;
      engine = "luxtts";
      useCUDA = true;
      model = "/var/lib/models/LuxTTS";
      voices.alice = {
        refAudio = "/etc/wyoming/alice.wav";
        transcript = "Hello, I'm Alice.";
      };
      voices.bob.refAudio = "/etc/wyoming/bob.wav";
      sttUri = "tcp://127.0.0.1:10300";
      numSteps = 4;
      guidanceScale = 3.0;
      speed = 1.1;
      tShift = 0.9;
      openFirewall = true;
      zeroconf.name = "alice-voice";
    };
    joe = {
      enable = true;
      uri = "tcp://127.0.0.1:10201";
      voice = "en_US-joe-medium";
      lengthScale = 1.1;
      maxConcurrent = 2;
      zeroconf.enable = false;
    };
  };

  services.wyoming-rs.bridge = {
    enable = true;
    llmApiKeyFile = "/run/secrets/llm-api-key";
    mumblePasswordFile = "/run/secrets/mumble-password";
    credentials.OPENROUTER_API_KEY = "/run/secrets/openrouter";
    dependsOn = [ "vllm.service" ];
    settings = {
      mumble = {
        host = "127.0.0.1";
        port = 64738;
        user = "VoiceBot";
        channel = "Lounge";
      };
      llm = {
        endpoint = "http://127.0.0.1:8000/v1/chat/completions";
        model = "LiquidAI/LFM2.5-1.2B-Instruct";
        max_tokens = 80;
        temperature = 0.3;
      };
      stt = {
        wyoming_host = "127.0.0.1";
        wyoming_port = 10300;
      };
      tts = {
        wyoming_host = "127.0.0.1";
        wyoming_port = 10200;
        voice = "alice";
      };
    };
  };
}
