"""Read every fixture with the installed keyglide release and print what happened, as JSON.

    python compat/probe.py langdb/fixtures > outcome.json

Run by ``compat/sweep.py`` inside one environment per SDK release, so it uses only the
public API of the first release (1.0.0): ``keyglide.open(path, engine="reference")``,
``db.info``, ``db.predict``, ``db.logprob``, ``db.verify`` and the error classes (compared
by name, with their bases, so that a later subclass still counts). ``db.compat`` is reported
where it exists.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import keyglide

SCORE_SCALE = 10000


def error_names(error: BaseException) -> list[str]:
    return [c.__name__ for c in type(error).__mro__ if c.__module__.startswith("keyglide")]


def probe(fixtures: Path, entry: dict) -> dict:
    path = fixtures / entry["path"]
    result: dict = {"path": entry["path"], "opened": False, "error": None, "error_at": None}
    try:
        db = keyglide.open(path, engine="reference")
    except Exception as e:  # noqa: BLE001 - every failure is recorded, by class name
        result.update(error=error_names(e) or [type(e).__name__], error_at="open")
        return result
    with db:
        result["opened"] = True
        info = db.info
        result["format"] = info.get("format")
        result["ignored_features"] = info.get("ignored_features", 0)
        verdict = getattr(db, "compat", None)
        if verdict is not None:
            result["compat"] = {
                "status": verdict.status,
                "ignored_features": list(verdict.ignored_features),
            }
        if entry.get("expected"):
            expected = json.loads((fixtures / entry["expected"]).read_text(encoding="utf-8"))
            result["answers"] = [
                [[s.word, s.score] for s in db.predict(case["text"], expected["k"])]
                for case in expected["cases"]
            ]
            text = expected["score_sum"]["text"]
            result["score_sum"] = round(db.logprob(text) * SCORE_SCALE)
        try:
            db.verify()
        except Exception as e:  # noqa: BLE001
            result.update(error=error_names(e) or [type(e).__name__], error_at="verify")
    return result


def main() -> int:
    fixtures = Path(sys.argv[1])
    manifest = json.loads((fixtures / "MANIFEST.json").read_text())
    out = {
        "sdk_version": keyglide.__version__,
        "results": [probe(fixtures, entry) for entry in manifest["fixtures"]],
    }
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
