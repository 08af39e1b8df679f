"""Retrain a langdb and prepare its review in one command (``nox -s langdb -- RECIPE``).

    python -m keyglide.report.release langdb/recipes/novels-3.toml [--record] [--baseline FILE]

1. Build the recipe with no source commit recorded, so that the file's sha256 depends only
   on the inputs, the recipe and the builder version (reproducible on any checkout). A
   recipe that trains a word network depends on the machine too: see ``differs``.
2. Check the sha256 against the recipe's ``[output] sha256``. With ``--record`` a different
   (or missing) hash is written into the recipe on purpose; without it a difference fails
   the run, after the report is written, so the change can be reviewed before recording.
3. Keep the file under ``langdb/releases/`` (ignored by git) as
   ``NAME-DATAVERSION-SHA12.langdb``: the builds of a recipe stay side by side, and the
   next run finds its baseline there.
4. Evaluate it on the recipe's ``[evaluation]`` text (default: the novels test split, its
   first 20,000 words) and write the release report against the baseline into
   ``langdb/releases/NAME-DATAVERSION-SHA12.report/``.

The baseline is ``--baseline FILE`` if given; else, when the build differs from the hash the
recipe recorded, the kept file of that recorded hash (the release being replaced); else the
most recently built other file of this recipe under ``langdb/releases/``; else there is none
and the report describes a first release.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import replace
from pathlib import Path

from keyglide.builder import Recipe, build
from keyglide.builder.recipe import HeldOutText, Input
from keyglide.errors import KeyglideError

RELEASES = Path("langdb") / "releases"
DEFAULT_EVALUATION = HeldOutText(
    files=Input(
        kind="text",
        list="${KEYGLIDE_CORPORA}/novels.test.list",
        directory="${KEYGLIDE_CORPORA}/novels",
        checksums="${KEYGLIDE_CORPORA}/novels.sha256",
    ),
    limit_words=20000,
)
_OUTPUT_TABLE = re.compile(r"^\[output\][ \t]*(#.*)?$", re.M)
_SHA256_LINE = re.compile(r'^(sha256[ \t]*=[ \t]*)"[0-9a-fA-F]*"', re.M)
_NEXT_TABLE = re.compile(r"^\[", re.M)


def release_name(recipe: Recipe, sha256: str) -> str:
    return f"{recipe.name}-{recipe.data_version}-{sha256[:12]}"


def repository_root(start: Path) -> Path:
    """The nearest folder at or above ``start`` that holds pyproject.toml, else the working
    directory."""
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    return Path.cwd()


def record_sha256(recipe_path: Path, sha256: str) -> None:
    """Write ``[output] sha256 = "..."`` into a recipe file, keeping everything else."""
    text = recipe_path.read_text(encoding="utf-8")
    table = _OUTPUT_TABLE.search(text)
    line = f'sha256 = "{sha256}"'
    if table is None:
        text = text.rstrip("\n") + f"\n\n[output]\n{line}\n"
    else:
        following = _NEXT_TABLE.search(text, table.end())
        end = following.start() if following else len(text)
        body = text[table.end() : end]
        if _SHA256_LINE.search(body):
            body = _SHA256_LINE.sub(lambda m: f'{m.group(1)}"{sha256}"', body, count=1)
        else:
            body = "\n" + line + body
        text = text[: table.end()] + body + text[end:]
    temporary = recipe_path.with_name(recipe_path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, recipe_path)
    if Recipe.from_toml(recipe_path).output_sha256 != sha256:
        raise KeyglideError(f"{recipe_path}: could not record the sha256 in [output]")


def differs(recipe: Recipe, recorded: str) -> str:
    """The verdict on a build whose sha256 is not the one the recipe records.

    A word network (``[neural] network_steps``) is trained in float32 by numpy, whose
    matrix products are BLAS's: OpenBLAS picks its kernels by CPU, and kernels for AVX2 and
    for AVX-512 round differently, so the same inputs train a network that differs in its
    last bits, and the file differs (novels-3-neural built with the AVX2 kernels: weights
    within 3e-6, the same KSR and perplexity). The n-gram model and a reranker without a
    network do not: their sha256 is the same with either kernel (measured on the novels
    recipes, forcing each kernel with ``OPENBLAS_CORETYPE``)."""
    verdict = (
        f"DIFFERS from the sha256 the recipe records ({recorded}): review the report, "
        "then run with --record to record the new one on purpose"
    )
    if recipe.neural is not None and recipe.neural.settings.network() is not None:
        verdict += (
            ". This recipe trains a word network, whose float32 arithmetic depends on the "
            "CPU and the BLAS numpy uses, so another kind of machine builds another file "
            "from the same inputs: its report should give the recorded release's figures"
        )
    return verdict


def find_baseline(
    releases: Path, recipe: Recipe, new_sha256: str, recorded: str | None
) -> Path | None:
    others = [
        p
        for p in releases.glob(f"{recipe.name}-*.langdb")
        if not p.name.endswith(f"-{new_sha256[:12]}.langdb")
    ]
    if recorded is not None and recorded != new_sha256:
        for p in others:
            if p.name.endswith(f"-{recorded[:12]}.langdb"):
                return p
    if others:
        return max(others, key=lambda p: p.stat().st_mtime_ns)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="nox -s langdb --",
        description="Build a langdb from its recipe, check its sha256, evaluate it and write "
        "its release report against the previous release.",
    )
    parser.add_argument("recipe", type=Path, help="the recipe .toml")
    parser.add_argument(
        "--record",
        action="store_true",
        help="write the built file's sha256 into the recipe's [output] (on purpose)",
    )
    parser.add_argument("--baseline", type=Path, metavar="FILE", help="the release to compare to")
    parser.add_argument(
        "--releases",
        type=Path,
        metavar="DIR",
        help="where builds are kept (default: langdb/releases/ of the repository)",
    )
    parser.add_argument("--jobs", type=int, help="worker processes for counting")
    parser.add_argument("-k", type=int, default=3, help="suggestions shown (default 3)")
    args = parser.parse_args(argv)
    try:
        return _release(args)
    except (KeyglideError, OSError, ValueError) as e:
        print(f"keyglide: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 1


def _release(args) -> int:
    from keyglide.report import write_report

    recipe_path = args.recipe.absolute()
    recipe = Recipe.from_toml(recipe_path)
    recorded = recipe.output_sha256
    releases = args.releases or repository_root(recipe_path.parent) / RELEASES
    releases.mkdir(parents=True, exist_ok=True)
    building = releases / f"{recipe.name}.{os.getpid()}.building.langdb"
    result = build(recipe, building, jobs=args.jobs, source_commit=None)
    kept = releases / f"{release_name(recipe, result.sha256)}.langdb"
    os.replace(building, kept)
    print(f"built    {kept}\n         sha256 {result.sha256}")

    if recorded == result.sha256:
        verdict, failed = "reproduces the sha256 the recipe records", False
    elif args.record:
        record_sha256(recipe_path, result.sha256)
        verdict = f"recorded in {recipe_path} (was {recorded or 'not recorded'})"
        failed = False
    elif recorded is None:
        verdict = "the recipe records no [output] sha256: run with --record to record it"
        failed = True
    else:
        verdict, failed = differs(recipe, recorded), True
    print(f"check    {verdict}")

    baseline = args.baseline or find_baseline(releases, recipe, result.sha256, recorded)
    evaluation = recipe.evaluation or DEFAULT_EVALUATION
    try:
        texts = [f.path for f in replace(recipe, evaluation=evaluation).resolve_evaluation()]
    except KeyglideError as e:
        if recipe.evaluation is not None:
            raise
        print(
            "skipped  the evaluation and report: the recipe has no [evaluation] and the "
            f"default held-out text (the novels test split) is not available: {e}"
        )
        return 1 if failed else 0
    out = releases / f"{release_name(recipe, result.sha256)}.report"
    print(f"baseline {baseline or 'none (a first release)'}")
    report = write_report(kept, baseline, texts, out, k=args.k, limit_words=evaluation.limit_words)
    print(f"report   {report.index}\n         {report.summary}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
