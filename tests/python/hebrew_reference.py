"""piper-tts's Hebrew phonemizer (Nakdimon niqqud, then rule-based IPA), as the reference for ours.

Usage: hebrew_reference.py < texts.json   (a JSON list of strings)
Prints a JSON object: `model`, the path of piper-tts's Nakdimon model, and `texts`: for each text, `diacritized`
(Nakdimon's output for it) and `ipa` (what `HebrewPhonemizer.phonemize` reads: the text as written when it
already has vowel points, else diacritized, converted by `hebrew_to_ipa`).
"""

import json
import sys

from piper.hebrew import DEFAULT_MODEL_PATH, NakdimonDiacritizer
from piper.hebrew.hebrew_ipa import hebrew_to_ipa
from piper.phonemize_hebrew import _NIQQUD_PATTERN


def main() -> None:
    texts = json.load(sys.stdin)
    diacritizer = NakdimonDiacritizer()
    out = []
    for text in texts:
        diacritized = diacritizer(text)
        pointed = text if _NIQQUD_PATTERN.search(text) else diacritized
        out.append({"diacritized": diacritized, "ipa": hebrew_to_ipa(pointed)})
    json.dump({"model": str(DEFAULT_MODEL_PATH), "texts": out}, sys.stdout)


if __name__ == "__main__":
    main()
