"""Recipes: what a langdb is built from and how, as a TOML file or built in code.

A recipe is a TOML file (``langdb/recipes/*.toml``). Top-level keys:

``name`` (string, required)
    The recipe's name; also the default output file name.
``language`` (string, default ``"und"``)
    BCP 47 tag of the language, recorded in the metadata.
``data_version`` (string, default ``"0.0.0"``)
    The version of this language data, recorded in the metadata.
``order`` (integer, required)
    The n-gram order N, 2 to 5.
``vocab_size`` (integer, optional)
    Keep only this many words, the most frequent (raw count; ties broken by UTF-8 bytes);
    the others become ``<unk>``. The three special tokens come on top of it. Absent: every
    word of the corpus is kept.
``prune`` (list of integers, default none)
    Count thresholds for the orders 2, 3, ...: an n-gram of that order seen at most that many
    times (raw count) is dropped, as in KenLM's ``lmplz --prune``. 0 keeps everything. A short
    list repeats its last value for the higher orders. Thresholds must not decrease with the
    order (so that the kept n-grams still form a trie).
``prob_bits``, ``backoff_bits`` (integer or list of integers per order)
    Quantization: each order's probabilities (orders 1..N) and backoffs (orders 1..N-1) are
    stored as codes of this many bits (2 to 16) into a codebook. Default: 16 for order 1, 8
    for the higher orders. One integer applies to every order.
``discount_fallback`` (``true`` or a list ``[D1, D2, D3+]``, optional)
    Kneser-Ney discounts to use for an order whose counts of counts do not give valid ones
    (small or artificial data), like ``lmplz --discount_fallback``; ``true`` means
    ``[0.5, 1.0, 1.5]``. Absent: such a corpus is a build error.
``lowest_order`` (``"continuation"`` or ``"raw"``, default ``"continuation"``)
    What the unigram distribution is estimated from: Kneser-Ney continuation counts (the
    number of distinct words seen before each word), or raw unigram counts (from a unigram
    counts input, else derived from the higher orders). Use ``"raw"`` when the higher-order
    counts are a truncated list, whose continuation counts say little.
``[[inputs]]`` (array of tables, at least one)
    Where the data comes from. Each input names its files in exactly one of these ways:

    * ``paths = ["a.txt", ...]``: files; relative paths are relative to the recipe's folder.
    * ``list = "corpus.list"`` with optional ``directory``: a file naming one file per line
      (blank lines and lines starting with ``#`` ignored), relative to ``directory``
      (default: the list's folder).
    * ``package = "name"`` and ``resource = "file.txt"``: a data file inside an installed
      Python package, found without running the package's code.

    Paths may contain ``${KEYGLIDE_CORPORA}``: the environment variable, else
    ``<repository root>/../shared/corpora`` (the repository root being the nearest folder
    above the recipe that holds ``pyproject.toml``). Other keys of an input:

    * ``kind``: ``"text"`` (default; UTF-8 text, tokenized by the contract of
      ``keyglide.text``) or ``"counts"`` (lines ``w1 ... wn COUNT``, whitespace separated;
      each word is folded and must be one contract token, else the line is skipped and
      reported).
    * ``order`` (counts only): the n of its lines, 1 to N; default N.
    * ``sha256``: the expected SHA-256 of the input's one file; a mismatch is a build error.
    * ``checksums``: a ``sha256sum``-style file (``HASH  NAME`` lines) that must list every
      file of the input (by its name as listed, or its base name) with a matching hash.
``blocklist`` (inline table, optional; format 1.1)
    ``{ path = "words.txt", required = false }``: words never suggested, one a line (blank
    lines ignored), each folded with ``keyglide.text.fold``; a relative path is relative to
    the recipe's folder. Words not in the vocabulary are ignored and reported. ``required``
    sets the feature bit in ``required_features`` (readers that do not understand it refuse
    the file) instead of ``optional_features`` (they ignore it). The list's SHA-256 is
    recorded in the metadata under ``blocklist``. Absent: the file is format 1.0.
``display_forms`` (``true`` or ``false``, default ``false``; format 1.2)
    Store how each word is shown in suggestions (``I``, ``London``): its most frequent
    spelling in the text inputs, the first word of each sentence not counted (FORMAT.md
    section 10). Count-list inputs contribute nothing. The number of words with a display
    form is recorded in the metadata under ``display_forms``.
``[neural]`` (table, optional; format 1.3)
    Train a reranker of the n-gram model's candidates and store it (FORMAT.md section 11;
    ``keyglide.builder.rerank`` says what it computes). Its held-out text is named like an
    input's files (``text``, or ``list`` with ``directory``; ``sha256``, ``checksums``): text
    the n-gram model is not built from, on whose shortlists the reranker learns. Optional
    settings: ``shortlist`` (16), ``context_words`` (8), ``history_words`` (250),
    ``examples``: held-out words drawn to learn from (100000), ``iterations`` (12), ``seed`` (1).
    ``network_steps`` (0: none) trains a word network on the text inputs for that many
    steps and makes its score one more feature (``keyglide.builder.network``), with
    ``network_dim`` (64) numbers a word and ``network_hidden`` (512) hidden units.
``[[sources]]`` (array of tables)
    ``name``, ``licence``, ``attribution`` of each source of the data, for the metadata.
``[output]`` (table, optional)
    ``sha256``: the expected SHA-256 of the built langdb, for callers that check a release
    build against its recipe. It is not part of the recorded recipe (it cannot be: the hash
    depends on the recorded recipe).
``[evaluation]`` (table, optional)
    The held-out text a release of this langdb is evaluated on (``nox -s langdb``, which
    evaluates the build and writes its review report). Its files are named like an input's:
    ``text = "a.txt"`` or ``text = ["a.txt", ...]``, or ``list`` with an optional
    ``directory``; ``sha256`` or ``checksums`` check them the same way. ``limit_words``
    (optional): simulate typing on the first N words only (perplexity always covers the
    whole text). It is not part of the recorded recipe either: it says how a release is
    reviewed, not how it is built, so adding or changing it does not change the file.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Locating and hashing the input files is keyglide.builder.inputs; CORPORA_VARIABLE and
# InputFile are importable from here as well.
from keyglide.builder.inputs import CORPORA_VARIABLE as CORPORA_VARIABLE
from keyglide.builder.inputs import InputFile as InputFile
from keyglide.builder.inputs import _is_sha256, _resolve_input
from keyglide.errors import BuildError
from keyglide.format import MAX_ORDER

DEFAULT_DISCOUNT_FALLBACK = (0.5, 1.0, 1.5)
LOWEST_ORDER_MODES = ("continuation", "raw")
INPUT_KINDS = ("text", "counts")
MIN_BITS, MAX_BITS = 2, 16

_RECIPE_KEYS = {
    "name", "language", "data_version", "order", "vocab_size", "prune", "prob_bits",
    "backoff_bits", "discount_fallback", "lowest_order", "inputs", "sources", "output",
    "evaluation", "blocklist", "display_forms", "neural",
}
_INPUT_KEYS = {
    "kind", "paths", "list", "directory", "package", "resource", "sha256", "checksums", "order",
}
_SOURCE_KEYS = {"name", "licence", "attribution"}
_OUTPUT_KEYS = {"sha256"}
_BLOCKLIST_KEYS = {"path", "required"}
_EVALUATION_KEYS = {"text", "list", "directory", "sha256", "checksums", "limit_words"}
_NEURAL_SETTINGS = (
    "shortlist",
    "context_words",
    "history_words",
    "examples",
    "iterations",
    "seed",
    "network_steps",
    "network_dim",
    "network_hidden",
)
_NEURAL_KEYS = {"text", "list", "directory", "sha256", "checksums", *_NEURAL_SETTINGS}


@dataclass(frozen=True)
class Source:
    """Where some of the data comes from, and under which licence."""

    name: str
    licence: str
    attribution: str


@dataclass(frozen=True)
class Input:
    """One input of a recipe: a set of files of one kind. See the module docstring."""

    kind: str = "text"
    paths: tuple[str, ...] = ()
    list: str | None = None
    directory: str | None = None
    package: str | None = None
    resource: str | None = None
    sha256: str | None = None
    checksums: str | None = None
    order: int | None = None


@dataclass(frozen=True)
class HeldOutText:
    """A recipe's ``[evaluation]``: the held-out text (files named as an input's are, of
    kind ``text``) and how many of its words to simulate typing (None: all)."""

    files: Input
    limit_words: int | None = None


@dataclass(frozen=True)
class Reranking:
    """A recipe's ``[neural]``: the held-out text a reranker is trained on, and how."""

    files: Input
    settings: Any  # keyglide.builder.rerank.Settings


@dataclass(frozen=True)
class Recipe:
    """What to build; see the module docstring for the meaning of each field.

    ``base_dir`` is where relative paths are resolved (the recipe file's folder, or the
    working directory for a recipe built in code); it is not part of the recorded recipe.
    """

    name: str
    order: int
    inputs: tuple[Input, ...]
    language: str = "und"
    data_version: str = "0.0.0"
    vocab_size: int | None = None
    prune: tuple[int, ...] = ()
    prob_bits: int | tuple[int, ...] | None = None
    backoff_bits: int | tuple[int, ...] | None = None
    discount_fallback: tuple[float, float, float] | None = None
    lowest_order: str = "continuation"
    sources: tuple[Source, ...] = ()
    output_sha256: str | None = None
    evaluation: HeldOutText | None = None
    blocklist: str | None = None
    blocklist_required: bool = False
    display_forms: bool = False
    neural: Reranking | None = None
    base_dir: Path = field(default_factory=Path.cwd, compare=False)

    def __post_init__(self) -> None:
        _validate(self)

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> Recipe:
        """Read a recipe file; every problem is a ``BuildError`` naming the file."""
        path = Path(path).absolute()
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError:
            raise BuildError(f"recipe not found: {path}") from None
        except tomllib.TOMLDecodeError as e:
            raise BuildError(f"{path}: not valid TOML: {e}") from None
        except UnicodeDecodeError as e:
            from keyglide.textfile import invalid_utf8_message

            bad = e.object[e.start : e.end]
            message = invalid_utf8_message(str(path), e.object[:4096], e.start, bad, e.reason)
            raise BuildError(message) from None
        try:
            return cls.from_dict(data, base_dir=path.parent)
        except BuildError as e:
            raise BuildError(f"{path}: {e}") from None

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, base_dir: Path | None = None) -> Recipe:
        """A recipe from the parsed TOML tables."""
        _check_keys(data, _RECIPE_KEYS, "the recipe")
        for key in ("name", "order", "inputs"):
            if key not in data:
                raise BuildError(f"the recipe has no {key!r}")
        inputs = data["inputs"]
        if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
            raise BuildError("'inputs' must be an array of tables ([[inputs]])")
        sources = data.get("sources", [])
        if not isinstance(sources, list) or not all(isinstance(s, dict) for s in sources):
            raise BuildError("'sources' must be an array of tables ([[sources]])")
        output = data.get("output", {})
        if not isinstance(output, dict):
            raise BuildError("'output' must be a table ([output])")
        _check_keys(output, _OUTPUT_KEYS, "[output]")
        evaluation = data.get("evaluation")
        if evaluation is not None and not isinstance(evaluation, dict):
            raise BuildError("'evaluation' must be a table ([evaluation])")
        blocklist = data.get("blocklist", {})
        if not isinstance(blocklist, dict) or (blocklist and "path" not in blocklist):
            raise BuildError("'blocklist' must be a table { path = ..., required = ... }")
        _check_keys(blocklist, _BLOCKLIST_KEYS, "blocklist")
        return cls(
            name=data["name"],
            order=data["order"],
            inputs=tuple(_input_from_dict(i, n) for n, i in enumerate(inputs, 1)),
            language=data.get("language", "und"),
            data_version=data.get("data_version", "0.0.0"),
            vocab_size=data.get("vocab_size"),
            prune=_as_tuple(data.get("prune", ()), "prune"),
            prob_bits=_bits_setting(data.get("prob_bits"), "prob_bits"),
            backoff_bits=_bits_setting(data.get("backoff_bits"), "backoff_bits"),
            discount_fallback=_fallback_setting(data.get("discount_fallback")),
            lowest_order=data.get("lowest_order", "continuation"),
            sources=tuple(_source_from_dict(s, n) for n, s in enumerate(sources, 1)),
            output_sha256=output.get("sha256"),
            evaluation=_evaluation_from_dict(evaluation) if evaluation is not None else None,
            blocklist=blocklist.get("path"),
            blocklist_required=blocklist.get("required", False),
            display_forms=data.get("display_forms", False),
            neural=_neural_from_dict(data["neural"]) if "neural" in data else None,
            base_dir=base_dir if base_dir is not None else Path.cwd(),
        )

    @classmethod
    def from_args(
        cls,
        *,
        corpus: Sequence[str | os.PathLike],
        order: int,
        vocab_size: int | None = None,
        prune: Sequence[int] | None = None,
        language: str = "und",
        data_version: str = "0.0.0",
        name: str | None = None,
        discount_fallback: Sequence[float] | bool | None = None,
        blocklist: str | os.PathLike | None = None,
        blocklist_required: bool = False,
        display_forms: bool = False,
    ) -> Recipe:
        """A recipe for text files given on a command line (``keyglide build --corpus``)."""
        paths = tuple(os.fspath(p) for p in corpus)
        if not paths:
            raise BuildError("no corpus files given")
        return cls(
            name=name or Path(paths[0]).stem,
            order=order,
            inputs=(Input(kind="text", paths=paths),),
            language=language,
            data_version=data_version,
            vocab_size=vocab_size,
            prune=tuple(prune or ()),
            discount_fallback=_fallback_setting(discount_fallback),
            blocklist=os.fspath(blocklist) if blocklist is not None else None,
            blocklist_required=blocklist_required,
            display_forms=display_forms,
        )

    def with_blocklist(self, path: str | os.PathLike, required: bool = False) -> Recipe:
        """This recipe with the blocklist at ``path`` (relative to the working directory)."""
        return dataclasses.replace(
            self, blocklist=os.path.abspath(path), blocklist_required=required
        )

    def blocklist_path(self) -> Path | None:
        """Where the blocklist file is, or None."""
        if self.blocklist is None:
            return None
        return self.base_dir / self.blocklist

    def prune_thresholds(self) -> list[int]:
        """The count threshold of every order 1..N (order 1 is never pruned: 0)."""
        given = list(self.prune) or [0]
        per_order = given + [given[-1]] * (self.order - 1 - len(given))
        return [0] + per_order[: self.order - 1]

    def prob_bits_per_order(self) -> list[int]:
        return _bits_per_order(self.prob_bits, self.order)

    def backoff_bits_per_order(self) -> list[int]:
        return _bits_per_order(self.backoff_bits, self.order - 1)

    def to_record(self) -> dict[str, Any]:
        """The recipe as recorded in a langdb's metadata: every setting, no machine paths."""
        record = self._record()
        if self.blocklist is not None:
            # Only when set, so that a recipe without one records what it always did.
            record["blocklist"] = {
                "name": Path(self.blocklist).name,
                "required": self.blocklist_required,
            }
        if self.display_forms:
            record["display_forms"] = True
        if self.neural is not None:
            record["neural"] = {
                "text": _input_record(self.neural.files),
                **{k: getattr(self.neural.settings, k) for k in _NEURAL_SETTINGS},
            }
        return record

    def _record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "language": self.language,
            "data_version": self.data_version,
            "order": self.order,
            "vocab_size": self.vocab_size,
            "prune": list(self.prune),
            "prob_bits": self.prob_bits_per_order(),
            "backoff_bits": self.backoff_bits_per_order(),
            "discount_fallback": (
                list(self.discount_fallback) if self.discount_fallback is not None else None
            ),
            "lowest_order": self.lowest_order,
            "inputs": [_input_record(i) for i in self.inputs],
            "sources": [
                {"name": s.name, "licence": s.licence, "attribution": s.attribution}
                for s in self.sources
            ],
        }

    def resolve_evaluation(self) -> list[InputFile]:
        """The ``[evaluation]`` text files, located, hashed and checked; BuildError if the
        recipe has no ``[evaluation]``."""
        if self.evaluation is None:
            raise BuildError(f"the recipe {self.name!r} has no [evaluation] table")
        return _resolve_input(self, self.evaluation.files)

    def resolve_neural_text(self) -> list[InputFile]:
        """The ``[neural]`` held-out text files, located, hashed and checked."""
        if self.neural is None:
            raise BuildError(f"the recipe {self.name!r} has no [neural] table")
        return _resolve_input(self, self.neural.files)

    def resolve_inputs(self) -> list[InputFile]:
        """Every input file, located, hashed and checked against the expected hashes."""
        files: list[InputFile] = []
        for item in self.inputs:
            files.extend(_resolve_input(self, item))
        return files


# ---------------------------------------------------------------------------------------------
# Validation


def _validate(recipe: Recipe) -> None:
    _expect_str(recipe.name, "name")
    _expect_str(recipe.language, "language")
    _expect_str(recipe.data_version, "data_version")
    if not _is_int(recipe.order) or not 2 <= recipe.order <= MAX_ORDER:
        raise BuildError(f"'order' must be an integer from 2 to {MAX_ORDER}, not {recipe.order!r}")
    if recipe.vocab_size is not None and (not _is_int(recipe.vocab_size) or recipe.vocab_size < 1):
        raise BuildError(f"'vocab_size' must be a positive integer, not {recipe.vocab_size!r}")
    _validate_prune(recipe.prune, recipe.order)
    recipe.prob_bits_per_order()
    recipe.backoff_bits_per_order()
    if recipe.lowest_order not in LOWEST_ORDER_MODES:
        raise BuildError(
            f"'lowest_order' must be one of {', '.join(LOWEST_ORDER_MODES)}, "
            f"not {recipe.lowest_order!r}"
        )
    if not recipe.inputs:
        raise BuildError("the recipe has no inputs")
    for n, item in enumerate(recipe.inputs, 1):
        _validate_input(item, n, recipe.order)
    if recipe.output_sha256 is not None and not _is_sha256(recipe.output_sha256):
        raise BuildError("[output] sha256 must be 64 lowercase hexadecimal digits")
    if recipe.evaluation is not None:
        _validate_evaluation(recipe.evaluation)
    if recipe.blocklist is not None:
        _expect_str(recipe.blocklist, "blocklist path")
    if not isinstance(recipe.display_forms, bool):
        raise BuildError("'display_forms' must be true or false")
    if not isinstance(recipe.blocklist_required, bool):
        raise BuildError("blocklist 'required' must be true or false")


def _validate_prune(prune: tuple[int, ...], order: int) -> None:
    if not all(_is_int(t) and t >= 0 for t in prune):
        raise BuildError(f"'prune' thresholds must be non-negative integers, not {list(prune)}")
    if len(prune) > order - 1:
        raise BuildError(
            f"'prune' gives {len(prune)} thresholds, but an order-{order} model has only "
            f"{order - 1} prunable orders (2 to {order})"
        )
    for n, (lower, higher) in enumerate(zip(prune, prune[1:], strict=False), 2):
        if higher < lower:
            raise BuildError(
                f"'prune' thresholds must not decrease with the order: {list(prune)} prunes "
                f"{n}-grams seen up to {lower} times but {n + 1}-grams only up to {higher}, "
                f"which would keep n-grams whose prefix is pruned"
            )


def _validate_evaluation(evaluation: HeldOutText) -> None:
    item = evaluation.files
    if item.kind != "text" or item.package is not None or item.order is not None:
        raise BuildError("[evaluation] names text files: 'text', or 'list' + 'directory'")
    if bool(item.paths) == (item.list is not None):
        raise BuildError("[evaluation]: give exactly one of 'text' and 'list'")
    if item.directory is not None and item.list is None:
        raise BuildError("[evaluation]: 'directory' only goes with 'list'")
    if item.sha256 is not None:
        if not _is_sha256(item.sha256):
            raise BuildError("[evaluation]: 'sha256' must be 64 lowercase hexadecimal digits")
        if item.list is not None or len(item.paths) > 1:
            raise BuildError(
                "[evaluation]: 'sha256' checks a text of one file; for several use 'checksums'"
            )
    limit = evaluation.limit_words
    if limit is not None and (not _is_int(limit) or limit < 1):
        raise BuildError(f"[evaluation] 'limit_words' must be a positive integer, not {limit!r}")


def _validate_input(item: Input, n: int, order: int) -> None:
    where = f"input {n}"
    if item.kind not in INPUT_KINDS:
        raise BuildError(
            f"{where}: 'kind' must be one of {', '.join(INPUT_KINDS)}, not {item.kind!r}"
        )
    ways = [bool(item.paths), item.list is not None, item.package is not None]
    if sum(ways) != 1:
        raise BuildError(f"{where}: give exactly one of 'paths', 'list', or 'package' + 'resource'")
    if item.package is not None and not item.resource:
        raise BuildError(f"{where}: 'package' needs 'resource', the file inside the package")
    if item.resource is not None and item.package is None:
        raise BuildError(f"{where}: 'resource' needs 'package'")
    if item.directory is not None and item.list is None:
        raise BuildError(f"{where}: 'directory' only goes with 'list'")
    if item.sha256 is not None:
        if not _is_sha256(item.sha256):
            raise BuildError(f"{where}: 'sha256' must be 64 lowercase hexadecimal digits")
        if item.list is not None or len(item.paths) > 1:
            raise BuildError(
                f"{where}: 'sha256' checks an input of one file; for several use 'checksums'"
            )
    if item.order is not None:
        if item.kind != "counts":
            raise BuildError(f"{where}: 'order' only goes with kind = \"counts\"")
        if not _is_int(item.order) or not 1 <= item.order <= order:
            raise BuildError(
                f"{where}: 'order' must be an integer from 1 to the recipe's order {order}, "
                f"not {item.order!r}"
            )


def _bits_per_order(setting: int | tuple[int, ...] | None, count: int) -> list[int]:
    if setting is None:
        bits = [16] + [8] * (count - 1)
        return bits[:count]
    if _is_int(setting):
        bits = [setting] * count
    else:
        bits = list(setting)
        if len(bits) != count:
            raise BuildError(
                f"quantization bits {bits} must give one value for each of {count} orders"
            )
    for b in bits:
        if not _is_int(b) or not MIN_BITS <= b <= MAX_BITS:
            raise BuildError(
                f"quantization bits must be integers from {MIN_BITS} to {MAX_BITS}, not {b!r}"
            )
    return bits


# ---------------------------------------------------------------------------------------------
# TOML tables


def _input_from_dict(data: dict[str, Any], n: int) -> Input:
    _check_keys(data, _INPUT_KEYS, f"input {n}")
    paths = data.get("paths", ())
    if isinstance(paths, str):
        paths = (paths,)
    for key in ("list", "directory", "package", "resource", "sha256", "checksums", "kind"):
        if key in data and not isinstance(data[key], str):
            raise BuildError(f"input {n}: {key!r} must be a string")
    paths = _as_tuple(paths, f"input {n} 'paths'")
    if not all(isinstance(p, str) for p in paths):
        raise BuildError(f"input {n}: 'paths' must be a list of strings")
    return Input(
        kind=data.get("kind", "text"),
        paths=paths,
        list=data.get("list"),
        directory=data.get("directory"),
        package=data.get("package"),
        resource=data.get("resource"),
        sha256=data.get("sha256"),
        checksums=data.get("checksums"),
        order=data.get("order"),
    )


def _evaluation_from_dict(data: dict[str, Any]) -> HeldOutText:
    _check_keys(data, _EVALUATION_KEYS, "[evaluation]")
    paths = data.get("text", ())
    if isinstance(paths, str):
        paths = (paths,)
    paths = _as_tuple(paths, "[evaluation] 'text'")
    if not all(isinstance(p, str) for p in paths):
        raise BuildError("[evaluation]: 'text' must be a path or a list of paths")
    for key in ("list", "directory", "sha256", "checksums"):
        if key in data and not isinstance(data[key], str):
            raise BuildError(f"[evaluation]: {key!r} must be a string")
    return HeldOutText(
        files=Input(
            kind="text",
            paths=paths,
            list=data.get("list"),
            directory=data.get("directory"),
            sha256=data.get("sha256"),
            checksums=data.get("checksums"),
        ),
        limit_words=data.get("limit_words"),
    )


def _neural_from_dict(data: Any) -> Reranking:
    from keyglide.builder.rerank import Settings

    if not isinstance(data, dict):
        raise BuildError("'neural' must be a table ([neural])")
    _check_keys(data, _NEURAL_KEYS, "[neural]")
    held_out = _evaluation_from_dict({k: v for k, v in data.items() if k not in _NEURAL_SETTINGS})
    settings = {k: data[k] for k in _NEURAL_SETTINGS if k in data}
    for key, value in settings.items():
        zero = key in ("seed", "network_steps")
        if not _is_int(value) or value < (0 if zero else 1):
            kind = "a non-negative" if zero else "a positive"
            raise BuildError(f"[neural] {key!r} must be {kind} integer, not {value!r}")
    if not 1 <= settings.get("shortlist", 1) <= 256:
        raise BuildError("[neural] 'shortlist' must be 1 to 256")
    if settings.get("history_words", 250) < 2:
        raise BuildError("[neural] 'history_words' must be at least 2")
    return Reranking(files=held_out.files, settings=Settings(**settings))


def _source_from_dict(data: dict[str, Any], n: int) -> Source:
    _check_keys(data, _SOURCE_KEYS, f"source {n}")
    missing = sorted(_SOURCE_KEYS - data.keys())
    if missing:
        raise BuildError(f"source {n} has no {', '.join(repr(k) for k in missing)}")
    for key in _SOURCE_KEYS:
        _expect_str(data[key], f"source {n} {key!r}")
    return Source(name=data["name"], licence=data["licence"], attribution=data["attribution"])


def _bits_setting(value: Any, key: str) -> int | tuple[int, ...] | None:
    if value is None or _is_int(value):
        return value
    return _as_tuple(value, key)


def _fallback_setting(value: Any) -> tuple[float, float, float] | None:
    if value is None or value is False:
        return None
    if value is True:
        return DEFAULT_DISCOUNT_FALLBACK
    values = _as_tuple(value, "discount_fallback")
    if len(values) != 3 or not all(_is_number(v) for v in values):
        raise BuildError(
            f"'discount_fallback' must be true or three numbers [D1, D2, D3+], not {value!r}"
        )
    d1, d2, d3 = (float(v) for v in values)
    if not (0 < d1 <= 1 and 0 < d2 <= 2 and 0 < d3 <= 3):
        raise BuildError(
            f"'discount_fallback' {list(values)} is out of range: need 0 < D1 <= 1, "
            f"0 < D2 <= 2, 0 < D3+ <= 3"
        )
    return (d1, d2, d3)


def _input_record(item: Input) -> dict[str, Any]:
    record: dict[str, Any] = {"kind": item.kind}
    if item.paths:
        record["paths"] = [_portable(p) for p in item.paths]
    if item.list is not None:
        record["list"] = _portable(item.list)
        if item.directory is not None:
            record["directory"] = _portable(item.directory)
    if item.package is not None:
        record["package"] = item.package
        record["resource"] = item.resource
    if item.kind == "counts":
        record["order"] = item.order
    for key in ("sha256", "checksums"):
        value = getattr(item, key)
        if value is not None:
            record[key] = _portable(value) if key == "checksums" else value
    return record


def _portable(path: str) -> str:
    """A path as recorded: as written when relative, else its base name."""
    return Path(path).name if os.path.isabs(path) else path


def _check_keys(data: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise BuildError(
            f"{where} has unknown key(s) {', '.join(repr(k) for k in unknown)}; "
            f"known keys: {', '.join(sorted(allowed))}"
        )


def _as_tuple(value: Any, what: str) -> tuple:
    if isinstance(value, list | tuple):
        return tuple(value)
    raise BuildError(f"{what} must be a list, not {value!r}")


def _expect_str(value: Any, what: str) -> None:
    if not isinstance(value, str) or not value:
        raise BuildError(f"{what!r} must be a non-empty string, not {value!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
