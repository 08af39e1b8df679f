"""The compatibility sweep: every SDK release against every fixture, checked against the matrix.

    nox -s compat          # or: python compat/sweep.py  (with this tree's keyglide installed)

1. The releases come from the repository's history: each commit where the ``__version__`` of
   ``sdk/keyglide/_version.py`` changed to a new version >= 1.0.0 (no tags needed; a fresh
   ``git clone`` has the history).
2. Each release is exported from its commit (``git archive``) and installed into its own
   virtualenv (``python -m venv``; kept under ``.nox/compat-releases/`` and reused while the
   commit is the same).
3. ``compat/probe.py`` runs in each and reads every fixture of ``langdb/fixtures/``.
4. Every outcome is compared with what this tree's matrix says for that release
   (``keyglide.compat.negotiate``) and with the fixture's manifest and expected answers (for a
   degraded open, the ``degraded`` answers). ``compat/report.json`` and ``compat/MATRIX.md``
   get the verified results; any disagreement fails the run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import keyglide
from keyglide import compat
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "langdb" / "fixtures"
VERSION_FILE = "sdk/keyglide/_version.py"
_VERSION_RE = re.compile(r"""^__version__\s*=\s*["']([^"']+)["']""", re.M)


def git(*args: str, binary: bool = False):
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, check=True)
    return done.stdout if binary else done.stdout.decode()


def releases() -> list[tuple[str, str]]:
    """(version, commit) of every release, oldest first: where __version__ changed."""
    commits = git("log", "--reverse", "--format=%H", "--", VERSION_FILE).split()
    found, previous = [], None
    for commit in commits:
        try:
            source = git("show", f"{commit}:{VERSION_FILE}")
        except subprocess.CalledProcessError:
            continue  # the file was deleted in this commit
        match = _VERSION_RE.search(source)
        version = match.group(1) if match else None
        if version and version != previous and Version(version) >= Version("1.0.0"):
            if not Version(version).is_prerelease and version not in {v for v, _ in found}:
                found.append((version, commit))
        previous = version
    return found


def environment(version: str, commit: str, home: Path) -> Path:
    """The python of a virtualenv with the release installed from its commit."""
    venv = home / version
    python = venv / "bin" / "python"
    marker = venv / "keyglide-commit"
    if marker.exists() and marker.read_text() == commit and python.exists():
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "src.tar"
        archive.write_bytes(git("archive", "--format=tar", commit, binary=True))
        source = Path(tmp) / "src"
        with tarfile.open(archive) as tar:
            tar.extractall(source, filter="data")
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(source)],
            check=True,
        )
    marker.write_text(commit)
    return python


def expectation(entry: dict, version: str) -> dict:
    """What the matrix and the manifest say release ``version`` makes of a fixture."""
    try:
        outcome = compat.negotiate(FIXTURES / entry["path"], version)
    except keyglide.LangDBError:  # a damaged header: only the manifest can say
        outcome = None
    want: dict = {"kind": "damaged", "matrix": None}
    if outcome is not None:
        kind = compat.file_kind(outcome.file_format, outcome.required, outcome.optional)
        want = {
            "kind": kind,
            "matrix": outcome.status,
            "status": outcome.status,
            "ignored": list(outcome.ignored_features),
        }
        if not outcome.readable:
            want.update(status="refused", error="UnsupportedVersion", at="open")
    if not entry["valid"]:
        want.update(status="refused", error=entry["error"], at=entry["at"])
    return want


def _named(features: list[str], matrix: compat.Matrix) -> list[str]:
    """Feature names as this matrix names them: a release names a bit defined after it as
    ``bit N (0x..)``."""
    named = []
    for name in features:
        bit = re.fullmatch(r"bit (\d+) \(0x[0-9a-f]+\)", name)
        named += matrix.names(1 << int(bit[1])) if bit else [name]
    return named


def judge(entry: dict, got: dict, want: dict) -> list[str]:
    """The disagreements between a probe result and its expectation."""
    problems = []
    if want["status"] == "refused":
        if want["error"] not in (got["error"] or []) or got["error_at"] != want["at"]:
            problems.append(
                f"expected {want['error']} at {want['at']}, got {got['error']} at {got['error_at']}"
            )
        return problems
    if not got["opened"] or got["error"]:
        return [f"expected to open {want['status']}, got {got['error']} at {got['error_at']}"]
    matrix = compat.Matrix.load()
    if got["ignored_features"] != matrix.mask(want["ignored"]):
        problems.append(f"expected {want['status']}, ignored_features={got['ignored_features']}")
    ignored = got.get("compat", {}).get("ignored_features")
    if ignored is not None and _named(ignored, matrix) != want["ignored"]:
        problems.append(f"db.compat ignores {ignored}, the matrix says {want['ignored']}")
    expected = json.loads((FIXTURES / entry["expected"]).read_text(encoding="utf-8"))
    if want["status"] == "degraded":
        # The answers recorded for a reader that ignores exactly these features.
        recorded = [expected.get("degraded") or {}, *expected.get("degraded_also", [])]
        ignored = sorted(want["ignored"])
        expected = next((d for d in recorded if sorted(d.get("ignore", [])) == ignored), {})
        if not expected:
            return [*problems, f"no degraded answers recorded for ignoring {ignored}"]
    answers = [case["suggestions"] for case in expected["cases"]]
    if got.get("answers") != answers:
        problems.append("the suggestions differ from the expected answers")
    if got.get("score_sum") != expected["score_sum"]["total"]:
        problems.append(f"score_sum {got.get('score_sum')} != {expected['score_sum']['total']}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Every release against every fixture.")
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / ".nox" / "compat",
        help="where report.json and MATRIX.md go (default: .nox/compat)",
    )
    parser.add_argument(
        "--record",
        action="store_true",
        help="write them to compat/ instead: the recorded report of a release",
    )
    args = parser.parse_args(argv)
    out = ROOT / "compat" if args.record else args.out
    out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    home = Path(os.environ.get("KEYGLIDE_COMPAT_VENVS", ROOT / ".nox" / "compat-releases"))
    home.mkdir(parents=True, exist_ok=True)
    manifest = json.loads((FIXTURES / "MANIFEST.json").read_text())["fixtures"]
    found = releases()
    if not found:
        print("compat: no release found in the history", file=sys.stderr)
        return 1
    matrix = compat.Matrix.load()
    report: dict = {"releases": [], "disagreements": 0}
    verified: dict[tuple[str, str], list[str]] = {}
    for version, commit in found:
        print(f"compat: keyglide {version} ({commit[:12]})", file=sys.stderr, flush=True)
        python = environment(version, commit, home)
        done = subprocess.run(
            [str(python), str(ROOT / "compat" / "probe.py"), str(FIXTURES)],
            capture_output=True,
            text=True,
            check=True,
            cwd=tempfile.gettempdir(),
        )
        probed = json.loads(done.stdout)
        if probed["sdk_version"] != version:
            print(
                f"compat: the {version} environment runs {probed['sdk_version']}", file=sys.stderr
            )
            return 1
        row = matrix.row_for(version).sdk
        results = []
        for entry, got in zip(manifest, probed["results"], strict=True):
            want = expectation(entry, version)
            problems = judge(entry, got, want)
            report["disagreements"] += len(problems)
            results.append(
                {"fixture": entry["path"], "expected": want, "probe": got, "problems": problems}
            )
            verdict = "agrees" if not problems else "DISAGREES: " + "; ".join(problems)
            print(f"  {entry['path']}: {want['status']} {verdict}", file=sys.stderr)
            if not problems and entry["valid"] or want["status"] == "refused" and not problems:
                verified.setdefault((row, want["kind"]), [])
                if version not in verified[(row, want["kind"])]:
                    verified[(row, want["kind"])].append(version)
        report["releases"].append(
            {"version": version, "commit": commit, "row": row, "results": results}
        )
    report["seconds"] = round(time.monotonic() - start, 1)
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "MATRIX.md").write_text(
        compat.table_text(matrix, markdown=True, verified=verified)
    )
    print(
        f"compat: {len(found)} releases x {len(manifest)} fixtures, "
        f"{report['disagreements']} disagreements, {report['seconds']} s",
        file=sys.stderr,
    )
    return 1 if report["disagreements"] else 0


if __name__ == "__main__":
    sys.exit(main())
