"""Release review reports: a langdb against the release it replaces.

    from keyglide.report import write_report

    result = write_report("new.langdb", "old.langdb", "held-out.txt", "review/")
    result.index      # review/index.html: self-contained page (inline CSS and SVG charts)
    result.summary    # review/summary.md: for the pull request

Both files are evaluated on the same held-out text (``keyglide.evaluate``, with and without
hiding offered words) and asked the standard review examples (``langdb/examples/review.toml``).
The report shows the metrics side by side with their differences; charts of accuracy and
KSR by typed-prefix length, of the latency of ``LangDB.predict`` and of the size of each
section; the examples' suggestions side by side with the changes marked; which SDK releases
read the new file (``keyglide.compat.readers_of`` when that is available; otherwise the
file's format version and feature bits); and every recorded fact of provenance that differs.

A report informs a person's review; it never approves anything by itself.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from keyglide.evaluate import DEFAULT_K, read_texts
from keyglide.report import markdown, page
from keyglide.report.collect import (
    LATENCY_CALLS,
    Example,
    Side,
    StageProgress,
    collect,
    default_examples_path,
    file_sha256,
    latency_queries,
    load_examples,
    measure_latency,
)
from keyglide.report.compare import ExampleRow, example_rows

__all__ = [
    "Example",
    "Report",
    "default_examples_path",
    "load_examples",
    "write_report",
]


@dataclass
class Report:
    """What ``write_report`` wrote, and the data it was made from."""

    index: Path
    summary: Path
    new: Side
    baseline: Side | None
    examples: list[ExampleRow]


def write_report(
    new: str | os.PathLike,
    baseline: str | os.PathLike | None,
    text: str | os.PathLike | Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    k: int = DEFAULT_K,
    limit_words: int | None = None,
    examples: str | os.PathLike | None = None,
    latency_calls: int = LATENCY_CALLS,
    progress=None,
) -> Report:
    """Evaluate ``new`` and ``baseline`` (None for a first release) on the held-out text
    (a file, or several read as one text, a blank line between them) and write
    ``out_dir/index.html`` and ``out_dir/summary.md``.

    ``examples``: the review examples file (default: ``langdb/examples/review.toml`` of the
    repository, when run from a checkout; none otherwise). ``progress``: a callable given
    ``(done, total, predictions)`` during each evaluation, with a ``restart(label)`` method
    called when a stage begins (what ``keyglide report`` draws as a bar), or None.
    """
    paths = [Path(text)] if isinstance(text, str | os.PathLike) else [Path(p) for p in text]
    if not paths:
        raise ValueError("no held-out text given")
    content = read_texts(paths)
    text_files = [(p.name, file_sha256(p)) for p in paths]
    examples_path = Path(examples) if examples is not None else default_examples_path()
    review = load_examples(examples_path) if examples_path is not None else []
    stage = _stages(progress)
    opened = []
    try:
        new_side, new_db = collect(
            "new",
            Path(new),
            content,
            k=k,
            limit_words=limit_words,
            examples=review,
            progress=stage,
        )
        opened.append(new_db)
        old_side = None
        if baseline is not None:
            old_side, old_db = collect(
                "baseline",
                Path(baseline),
                content,
                k=k,
                limit_words=limit_words,
                examples=review,
                progress=stage,
            )
            opened.insert(0, old_db)
        timings = measure_latency(opened, latency_queries(content, latency_calls), k)
    finally:
        for db in opened:
            db.close()
    sides = [s for s in (old_side, new_side) if s is not None]
    for side, times in zip(sides, timings, strict=True):
        side.latency_ns = times
    rows = example_rows(review, new_side, old_side)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    index = out / "index.html"
    summary = out / "summary.md"
    index.write_text(
        page.render(new_side, old_side, rows, text_files=text_files),
        encoding="utf-8",
    )
    summary.write_text(
        markdown.render(new_side, old_side, rows, text_files=text_files), encoding="utf-8"
    )
    return Report(index=index, summary=summary, new=new_side, baseline=old_side, examples=rows)


def _stages(progress) -> StageProgress | None:
    if progress is None:
        return None
    current = {"label": None}

    def report(label: str, done: int, total: int, predictions: int) -> None:
        if label != current["label"]:
            current["label"] = label
            restart = getattr(progress, "restart", None)
            if restart is not None:
                restart(label)
        progress(done, total, predictions)

    return report
