"""The build: recipe -> inputs -> counts -> Kneser-Ney -> quantized model -> langdb file.

The output depends only on the inputs, the recipe and the builder (its version and source
commit): not on where the files are, on the number of worker processes, on the clock or on
dict order. The metadata (FORMAT.md section 7) records all three. One exception: a word
network (``keyglide.builder.network``) is trained in float32, and rounds as the BLAS kernels
numpy picks for the CPU do (``keyglide.report.release.differs``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from keyglide import text
from keyglide._version import __version__
from keyglide.builder.count import (
    NGramCounts,
    Progress,
    check_not_empty,
    complete_raw_counts,
    count_shards,
    display_forms,
    limit_vocabulary,
    merge,
    plan_shards,
)
from keyglide.builder.estimate import BackoffModel, estimate
from keyglide.builder.quantize import METHOD, quantize_model
from keyglide.builder.recipe import InputFile, Recipe
from keyglide.builder.write import output_problem, write_langdb
from keyglide.errors import BuildError
from keyglide.format import FIRST_WORD_ID, UNK
from keyglide.model import QuantizedModel


@dataclass
class BuildResult:
    """What a build wrote: the file, its sha256, its metadata and how long each stage took
    (seconds; not part of the file)."""

    path: Path
    sha256: str
    meta: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)


# Where a build reports its steps by default: an application routes or silences them with
# the logging module (``keyglide build`` shows them on stderr).
_log = logging.getLogger("keyglide.builder")


def print_progress(message: str) -> None:
    """A progress report for a terminal: one line on stderr."""
    print(f"keyglide build: {message}", file=sys.stderr, flush=True)


def build(
    recipe: Recipe,
    out_path: str | os.PathLike,
    *,
    jobs: int | None = None,
    progress: Progress | bool | None = None,
    source_commit: str | None = "auto",
) -> BuildResult:
    """Build the langdb a recipe describes into ``out_path`` (written atomically).

    ``jobs``: worker processes for counting (default: the CPUs this process may use; 1
    counts in this process). ``progress``: a function given one line per step; ``None``
    logs them (logger ``keyglide.builder``, level INFO), ``True`` prints them on stderr
    (``print_progress``), ``False`` is silence. ``source_commit``: the builder's source commit
    to record; ``"auto"`` asks git (see ``builder_source_commit``), ``None`` records none.
    """
    problem = output_problem(out_path)
    if problem is not None:  # before the work: a refusal costs nothing
        raise BuildError(f"cannot write the langdb: {problem}")
    report = _progress_function(progress)
    stages = _Stages(report)
    with stages("inputs"):
        files = recipe.resolve_inputs()
        report(f"{len(files)} input files, {sum(f.size for f in files):,} bytes")
    with stages("counting"):
        counts = count_inputs(recipe, files, jobs=jobs or _cpu_count(), progress=report)
    with stages("estimating"):
        model = estimate(
            counts,
            lowest_order=recipe.lowest_order,
            discount_fallback=recipe.discount_fallback,
            prune=recipe.prune_thresholds(),
        )
        report(f"n-grams per order: {', '.join(f'{len(o):,}' for o in model.orders)}")
    commit = builder_source_commit() if source_commit == "auto" else source_commit
    meta = metadata(recipe, files, counts, model, commit)
    blocked = None
    if recipe.blocklist is not None:
        blocked, meta["blocklist"] = read_blocklist(recipe, model.vocab, report)
    with stages("quantizing"):
        quantized = quantize_model(
            model, recipe.prob_bits_per_order(), recipe.backoff_bits_per_order(), meta
        )
    if blocked is not None:
        quantized.blocklist = blocked
        quantized.blocklist_required = recipe.blocklist_required
    if recipe.display_forms:
        quantized.display_forms = display_forms(counts)
        quantized.meta["display_forms"] = {"words": len(quantized.display_forms)}
        report(f"display forms: {len(quantized.display_forms):,} words")
    if recipe.neural is not None:
        with stages("reranker"):
            quantized.neural = train_reranker(recipe, quantized, files, out_path, report)
            quantized.meta["neural"] = {
                k: quantized.neural[0][k] for k in ("model", "shortlist", "history_words")
            }
    with stages("writing"):
        digest = write_langdb(out_path, quantized)
    report(f"wrote {out_path} (sha256 {digest})")
    return BuildResult(path=Path(out_path), sha256=digest, meta=meta, timings=stages.timings)


def train_reranker(
    recipe: Recipe,
    model: QuantizedModel,
    inputs: list[InputFile],
    out_path: str | os.PathLike,
    report: Progress,
) -> tuple[dict[str, Any], bytes]:
    """NEURAL_INFO and the ONNX graph of a reranker trained on the recipe's ``[neural]``
    held-out text, over the n-gram model's own shortlists (``keyglide.builder.rerank``), with
    its word network trained on the text inputs when the recipe asks for one
    (``keyglide.builder.network``)."""
    from keyglide.builder import network, rerank
    from keyglide.engines import create_engine
    from keyglide.reader import LangDBFile

    assert recipe.neural is not None
    settings = recipe.neural.settings
    files = recipe.resolve_neural_text()
    ngram_only = Path(out_path).with_name(f".{Path(out_path).name}.ngram.langdb")
    try:
        write_langdb(ngram_only, dataclasses.replace(model, neural=None))
        with LangDBFile.open(ngram_only) as file:
            engine = create_engine("auto", file)
            try:
                words = [w.decode("utf-8") for w in file.all_word_bytes()]
                ids = {w: i for i, w in enumerate(words) if i >= FIRST_WORD_ID}
                sentences = _sentences_as_ids(files, ids, engine.name)
                examples = rerank.collect(sentences, words, engine.candidates, settings, report)
                network_settings = settings.network()
                if network_settings is not None:
                    texts = [f for f in inputs if f.kind == "text"]
                    if not texts:
                        raise BuildError("[neural] network_steps needs text inputs to train on")
                    word_network, record = network.train(
                        _sentences_as_ids(texts, ids, engine.name),
                        len(words),
                        settings.context_words,
                        network_settings,
                        report,
                    )
                else:
                    word_network = record = None
            finally:
                engine.close()
    finally:
        ngram_only.unlink(missing_ok=True)
    report(f"reranker: {len(examples.label):,} examples from {len(examples.stream):,} words")
    x = rerank.features(examples, settings, word_network)
    weights = rerank.fit(x, examples, settings)
    return (
        rerank.info(weights, settings, examples, record),
        rerank.graph(weights, settings, word_network),
    )


def _sentences_as_ids(files: list[InputFile], ids: dict[str, int], engine: str) -> list[list[int]]:
    """The sentences of text files as word ids (UNK for a word not in ``ids``), tokenized by
    ``engine`` (``keyglide.engines.sentences``)."""
    from keyglide.engines import sentences

    return [
        [ids.get(w, UNK) for w in sentence]
        for f in files
        for sentence in sentences(engine, text.decode(f.path.read_bytes()))
    ]


def read_blocklist(
    recipe: Recipe, vocab: list[str], report: Progress
) -> tuple[np.ndarray, dict[str, Any]]:
    """The word ids of the recipe's blocklist file (one word a line, folded; blank lines
    skipped) and its metadata record. Words not in the vocabulary are ignored and reported."""
    from keyglide.errors import InvalidText
    from keyglide.textfile import decode_utf8

    path = recipe.blocklist_path()
    assert path is not None
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise BuildError(f"cannot read the blocklist {path}: {e.strerror or e}") from None
    try:
        lines = decode_utf8(raw, f"the blocklist {path}").splitlines()
    except InvalidText as e:
        raise BuildError(str(e)) from None
    ids = {word: i for i, word in enumerate(vocab) if i >= FIRST_WORD_ID}
    words = sorted({text.fold(line.strip()) for line in lines if line.strip()})
    found = sorted({ids[w] for w in words if w in ids})
    ignored = [w for w in words if w not in ids]
    report(f"blocklist: {len(found):,} words blocked, {len(ignored):,} not in the vocabulary")
    if ignored:
        shown = ", ".join(ignored[:10]) + (", ..." if len(ignored) > 10 else "")
        report(f"blocklist: ignored (not in the vocabulary): {shown}")
    record = {
        "name": path.name,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "required": recipe.blocklist_required,
        "words": len(words),
        "blocked": len(found),
        "ignored": ignored,
    }
    return np.array(found, dtype=np.int64), record


def count_inputs(
    recipe: Recipe, files: list[InputFile], *, jobs: int, progress: Progress | None = None
) -> NGramCounts:
    """The raw n-gram counts of a recipe's inputs, over its final vocabulary."""
    shards = plan_shards(files, spellings=recipe.display_forms)
    counts = merge(count_shards(shards, jobs=jobs, progress=progress), recipe.order)
    complete_raw_counts(counts)
    check_not_empty(counts)
    if recipe.vocab_size is not None:
        counts = limit_vocabulary(counts, recipe.vocab_size)
    return counts


def metadata(
    recipe: Recipe,
    files: list[InputFile],
    counts: NGramCounts,
    model: BackoffModel,
    source_commit: str | None,
) -> dict[str, Any]:
    """The META section (FORMAT.md section 7)."""
    return {
        "language": recipe.language,
        "data_version": recipe.data_version,
        "tokenizer": text.TOKENIZER_ID,
        "order": model.order,
        "vocab_size": len(model.vocab),
        "ngram_counts": [len(level) for level in model.orders],
        "discounts": [d.as_list() for d in model.discounts],
        "discount_fallback_orders": [n for n, d in enumerate(model.discounts, 1) if d.fallback],
        "quantization": {
            "method": METHOD,
            "prob_bits": recipe.prob_bits_per_order(),
            "backoff_bits": recipe.backoff_bits_per_order(),
        },
        "pruning": {"thresholds": recipe.prune_thresholds(), "vocab_limit": recipe.vocab_size},
        "builder": {"name": "keyglide", "version": __version__, "source_commit": source_commit},
        "recipe": recipe.to_record(),
        "inputs": [{"name": f.name, "sha256": f.sha256, "bytes": f.size} for f in files],
        "sources": recipe.to_record()["sources"],
        "token_count": counts.tokens,
        "sentence_count": counts.sentences,
        "skipped_lines": counts.skipped_lines,
    }


def builder_source_commit() -> str | None:
    """``git rev-parse HEAD`` of the checkout this keyglide package runs from, with
    ``-dirty`` when it has changes (untracked files included); None when the package is not
    a file tracked in a git checkout (an installed wheel) or git is missing."""
    package = Path(__file__).resolve().parents[1]
    try:
        _git(package, "ls-files", "--error-unmatch", "__init__.py")
        head = _git(package, "rev-parse", "HEAD")
        dirty = _git(package, "status", "--porcelain")
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}-dirty" if dirty else head


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout.strip()


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def _progress_function(progress: Progress | bool | None) -> Progress:
    if progress is None:
        return _log.info
    if progress is True:
        return print_progress
    if progress is False:
        return lambda message: None
    return progress


class _Stages:
    """Times each stage and reports it."""

    def __init__(self, report: Progress):
        self.report = report
        self.timings: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.timings[name] = time.perf_counter() - start
        self.report(f"{name}: {self.timings[name]:.2f} s")
