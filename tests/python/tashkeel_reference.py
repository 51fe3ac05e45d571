"""piper-tts's Arabic diacritization (tashkeel), as the reference for ours.

Usage: tashkeel_reference.py < texts.json   (a JSON list of strings)
Prints a JSON object: `dir`, the directory holding piper-tts's tashkeel model and maps, and `texts`, each text
diacritized as piper-tts diacritizes it before phonemizing (`PiperVoice.phonemize` calls the diacritizer with
the text only).
"""

import json
import sys

from piper.tashkeel import TASHKEEL_DIR, TashkeelDiacritizer


def main() -> None:
    texts = json.load(sys.stdin)
    diacritizer = TashkeelDiacritizer()
    json.dump({"dir": str(TASHKEEL_DIR), "texts": [diacritizer(text) for text in texts]}, sys.stdout)


if __name__ == "__main__":
    main()
