"""Writes the Piper voice catalogue that wyoming-luxtts advertises, from the `voices.json` that the installed
wyoming-piper package ships (the catalogue wyoming-piper itself lists), keeping only what `info` and name
resolution need. Usage: python scripts/piper-catalogue.py OUT.json

wyoming-luxtts/data/piper-voices.json is this script's output for wyoming-piper 2.5.2;
wyoming-luxtts/tests/piper_catalogue.rs checks that it still is.
"""

import importlib.metadata
import importlib.resources
import json
import sys


def main(out: str) -> None:
    catalogue = json.loads(importlib.resources.files("wyoming_piper").joinpath("voices.json").read_text("utf-8"))
    voices = []
    for key, info in catalogue.items():
        voices.append(
            {
                "key": key,
                "dataset": info["name"],
                "quality": info["quality"],
                "language": info.get("language", {}).get("code", info.get("espeak", {}).get("voice", key.split("_")[0])),
                "speakers": list(info.get("speaker_id_map") or {}),
                "aliases": info.get("aliases", []),
            }
        )
    document = {"source": f"wyoming-piper {importlib.metadata.version('wyoming-piper')} voices.json", "voices": voices}
    # One voice per line, so that a new wyoming-piper's catalogue makes a readable diff.
    lines = [json.dumps(voice, ensure_ascii=False) for voice in document["voices"]]
    with open(out, "w", encoding="utf-8") as f:
        f.write('{"source": ' + json.dumps(document["source"]) + ', "voices": [\n' + ",\n".join(lines) + "\n]}\n")


if __name__ == "__main__":
    main(sys.argv[1])
