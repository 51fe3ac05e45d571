# STT on the GPU, TTS with a cloned voice, and the Mumble bridge answering through a local vLLM.
{ ... }:
{
  nixpkgs.config.allowUnfree = true; # the CUDA builds

  services.wyoming-rs.faster-whisper = {
    cudaCapabilities = [ "7.5" ]; # the card's compute capability (T1000: 7.5)
    servers.main = {
      enable = true;
      uri = "tcp://0.0.0.0:10300";
      device = "cuda";
      model = "small-int8";
      language = "en";
      computeType = "int8_float16";
      initialPrompt = "Mumble, Home Assistant, Kitchen Lamp.";
      openFirewall = true; # 10300/tcp, and 5353/udp for zeroconf
    };
  };

  services.wyoming-rs.piper.servers.main = {
    enable = true;
    uri = "tcp://0.0.0.0:10200";
    engine = "luxtts";
    device = "cuda";
    model = "/var/lib/models/LuxTTS"; # the YatharthS/LuxTTS files
    voices.alice = {
      refAudio = "/var/lib/models/voices/alice.wav"; # or a Nix path: ./alice.wav
      transcript = "Hi, I'm Alice, and this is how I sound.";
    };
    sttUri = "tcp://127.0.0.1:10300";
    openFirewall = true;
  };

  services.wyoming-rs.bridge = {
    enable = true;
    dependsOn = [ "vllm.service" ]; # the unit vLLM runs as
    llmApiKeyFile = "/run/secrets/vllm-api-key"; # agenix, sops-nix, or a root-only file
    mumblePasswordFile = "/run/secrets/mumble-password";
    settings = {
      mumble = {
        host = "mumble.example.org";
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
