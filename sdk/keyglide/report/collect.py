"""What a release report shows, gathered for each langdb: the file, its evaluation, the
latency of its predictions, its answers to the review examples and who can read it."""

from __future__ import annotations

import hashlib
import math
import os
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

import keyglide
from keyglide.engines import Suggestion
from keyglide.errors import KeyglideError
from keyglide.evaluate import Evaluation, evaluate, iter_sentences
from keyglide.reader import LangDBFile

EXAMPLES_FILE = Path("langdb") / "examples" / "review.toml"
# Calls timed per langdb for the latency distribution (half next-word, half completion).
LATENCY_CALLS = 2000
UNAVAILABLE = "compatibility matrix unavailable"

# progress(stage label, done, total, predictions)
StageProgress = Callable[[str, int, int, int], None]


@dataclass(frozen=True)
class Example:
    """A review context: the text before the cursor, its group and why it is there."""

    group: str
    text: str
    note: str = ""


@dataclass
class Readers:
    """Which SDK releases read a file: ``keyglide.compat.readers_of`` when it exists."""

    available: bool
    answer: Any = None  # what readers_of returned
    problem: str = ""  # why it is unavailable


@dataclass
class Side:
    """One langdb of the comparison, with everything the report says about it."""

    label: str
    path: Path
    sha256: str
    size: int
    header: dict[str, Any]
    sections: list[dict[str, Any]]
    meta: dict[str, Any]
    evaluation: Evaluation
    latency_ns: list[int] = field(default_factory=list)
    examples: list[list[Suggestion]] = field(default_factory=list)
    readers: Readers | None = None

    @property
    def name(self) -> str:
        recipe = self.meta.get("recipe") or {}
        return str(recipe.get("name") or self.path.stem)

    @property
    def title(self) -> str:
        version = self.meta.get("data_version")
        return f"{self.name} {version}" if version else self.name


# --- review examples ------------------------------------------------------------------------


def default_examples_path() -> Path | None:
    """``langdb/examples/review.toml`` of the repository around the working directory or
    around this package (a checkout), if there is one."""
    here = Path(__file__).resolve()
    for start in (Path.cwd(), here.parent):
        for folder in (start, *start.parents):
            candidate = folder / EXAMPLES_FILE
            if (folder / "pyproject.toml").is_file() and candidate.is_file():
                return candidate
    return None


def load_examples(path: str | os.PathLike) -> list[Example]:
    """Read a review examples file: ``[[example]]`` tables with ``text``, ``group`` and an
    optional ``note``. Problems are ``ValueError`` naming the file."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path}: not valid TOML: {e}") from None
    items = data.get("example")
    if not isinstance(items, list) or not items:
        raise ValueError(f"{path}: no [[example]] tables")
    examples = []
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise ValueError(f'{path}: example {n} has no text = "..."')
        unknown = sorted(set(item) - {"text", "group", "note"})
        if unknown:
            raise ValueError(f"{path}: example {n} has unknown key(s) {', '.join(unknown)}")
        examples.append(
            Example(
                group=str(item.get("group", "")), text=item["text"], note=str(item.get("note", ""))
            )
        )
    return examples


# --- one side -------------------------------------------------------------------------------


def collect(
    label: str,
    path: Path,
    text: str,
    *,
    k: int,
    limit_words: int | None,
    examples: list[Example],
    progress: StageProgress | None = None,
) -> tuple[Side, keyglide.LangDB]:
    """Evaluate ``path`` on ``text`` and read what the report shows about it. Returns the
    side and the open database (for the latency measurement, which interleaves both)."""
    with LangDBFile.open(path) as file:
        described = file.describe()
    db = keyglide.open(path)
    try:
        stage = None if progress is None else _stage(progress, f"eval {label}")
        evaluation = evaluate(
            db, text, k=k, hide_offered=True, limit_words=limit_words, progress=stage
        )
        side = Side(
            label=label,
            path=Path(path),
            sha256=file_sha256(path),
            size=os.path.getsize(path),
            header=described["header"],
            sections=described["sections"],
            meta=described["metadata"],
            evaluation=evaluation,
            examples=[db.predict(e.text, k) for e in examples],
            readers=readers_of(path),
        )
    except BaseException:
        db.close()
        raise
    return side, db


def _stage(progress: StageProgress, label: str):
    def report(done: int, total: int, predictions: int) -> None:
        progress(label, done, total, predictions)

    return report


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def readers_of(path: str | os.PathLike) -> Readers:
    """``keyglide.compat.readers_of(path)``, or why it cannot be asked."""
    try:
        from keyglide import compat

        function = compat.readers_of
    except (ImportError, AttributeError) as e:
        return Readers(False, problem=f"{UNAVAILABLE} ({type(e).__name__}: {e})")
    try:
        return Readers(True, answer=function(path))
    except (KeyglideError, OSError, ValueError) as e:
        return Readers(False, problem=f"{UNAVAILABLE}: readers_of failed: {e}")


def plain(value: Any) -> Any:
    """A value from ``readers_of`` as plain data (dataclasses and named tuples opened)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f: plain(getattr(value, f)) for f in value.__dataclass_fields__}
    if hasattr(value, "_asdict"):
        return {key: plain(v) for key, v in value._asdict().items()}
    if isinstance(value, dict):
        return {str(key): plain(v) for key, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    return value


# --- latency --------------------------------------------------------------------------------


def latency_queries(text: str, calls: int = LATENCY_CALLS) -> list[str]:
    """Texts before the cursor taken from the held-out text, as a keyboard sends them: the
    sentence so far, before each word (next word) and after its first letter (completion)."""
    queries: list[str] = []
    for sentence in iter_sentences(text):
        for i, word in enumerate(sentence):
            before = " ".join(sentence[:i]) + " " if i else ""
            queries.append(before)
            queries.append(before + word[:1])
            if len(queries) >= calls:
                return queries
    return queries


def measure_latency(dbs: list[keyglide.LangDB], queries: list[str], k: int) -> list[list[int]]:
    """Nanoseconds per ``LangDB.predict`` call (the Python API, as an integrator calls it),
    for each database. Calls alternate between the databases so that both see the same
    machine; one untimed pass warms the caches first."""
    for db in dbs:
        for query in queries:
            db.predict(query, k)
    clock = time.perf_counter_ns
    timings: list[list[int]] = [[] for _ in dbs]
    for query in queries:
        for db, times in zip(dbs, timings, strict=True):
            started = clock()
            db.predict(query, k)
            times.append(clock() - started)
    return timings


def percentile(values: list[int], share: float) -> float:
    """The nearest-rank percentile of ``values`` (share in [0, 1])."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1))
    return float(ordered[rank])
