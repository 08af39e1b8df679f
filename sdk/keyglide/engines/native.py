"""The native engine: the C kernel (``native/``) through its cffi extension ``keyglide._native``.

It gives exactly the reference engine's answers (same words, scores and order; the same
sums), much faster: the kernel tokenizes the text and walks the trie best-first with the top
lists, without allocating. ``suggest`` runs the kernel's typing decoder (``kg_suggest``, the
same strip and correction as ``keyglide.decoder``) on a ``kg_layout`` built once for each
``keyglide.Layout``. This is the only module that touches the extension's ``ffi`` and
``lib``.

Calls into the kernel release the GIL (cffi's API mode wraps every out-of-line call in
``Py_BEGIN_ALLOW_THREADS``), so threads sharing one engine predict in parallel. A call in
flight keeps the handle open: ``close()`` from another thread never frees memory a call is
reading; the last call out releases it.

The extension is stamped with the SDK version it was built for; one built for another
version is refused with ImportError (``available()`` says why), since its kernel may read
files differently. So is one whose ``kg_suggestion`` is not the pair of 32-bit integers this
module reads suggestions as.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from keyglide import text as contract
from keyglide._version import __version__
from keyglide.decoder import Strip
from keyglide.engines import ContextIds, Engine, Suggestion
from keyglide.errors import (
    ChecksumMismatch,
    CorruptLangDB,
    IncompatibleLangDB,
    KeyglideError,
    TruncatedLangDB,
)
from keyglide.keyboard import Layout, check_touches
from keyglide.text import Cursor

if TYPE_CHECKING:
    from keyglide.reader import LangDBFile

# How predictions are read: each kg_suggestion as two 32-bit words, (word_id, score as
# uint32), from one buffer of 2 * KG_MAX_K uint32 (``_buffers``, ``candidate_array``).
SUGGESTION_LAYOUT = {"word_id": (0, "uint32_t"), "score": (4, "int32_t")}
SUGGESTION_SIZE = 8


def _suggestion_layout_problem(ext_ffi) -> str | None:
    """Why the kg_suggestion of ``ext_ffi`` (a cffi FFI) is not the layout this module
    reads, or None."""
    struct = ext_ffi.typeof("kg_suggestion")
    layout = {name: (field.offset, field.type.cname) for name, field in struct.fields}
    size = ext_ffi.sizeof(struct)
    if size == SUGGESTION_SIZE and layout == SUGGESTION_LAYOUT:
        return None
    return (
        f"the C kernel extension keyglide._native has a kg_suggestion of {size} "
        f"bytes with fields {layout} (name: (offset, type)), but keyglide reads suggestions "
        f"as {SUGGESTION_SIZE} bytes with fields {SUGGESTION_LAYOUT}"
    )


def _extension_problem(ext_ffi, ext_lib) -> str | None:
    """Why the extension (its ffi and lib) cannot be used by this SDK, or None."""
    built_for = ext_ffi.string(ext_lib.kg_py_build_version()).decode()
    if built_for != __version__:
        return (
            f"the C kernel extension keyglide._native was built for keyglide {built_for}, "
            f"but this is keyglide {__version__}: reinstall the package to rebuild it"
        )
    return _suggestion_layout_problem(ext_ffi)


try:
    from keyglide._native import ffi, lib
except ImportError as e:  # not built (a source checkout without a compiler, say)
    ffi = lib = None
    _PROBLEM: str | None = (
        f"the C kernel extension keyglide._native is not installed ({e}): it is compiled "
        "when keyglide is installed, and skipped where that fails (no C compiler?); install "
        "a C compiler and reinstall keyglide to get it"
    )
else:
    _PROBLEM = _extension_problem(ffi, lib)


def available() -> tuple[bool, str]:
    """Whether the native engine can be used here, and if not, why (for ``engine="auto"``)."""
    return (_PROBLEM is None, _PROBLEM or "")


def _require() -> None:
    if _PROBLEM is not None:
        raise ImportError(_PROBLEM)


def kernel_version() -> str:
    """The C library's version string ("MAJOR.MINOR.PATCH"): its own version, which follows
    the C interface (native/include/keyglide.h), not the SDK's."""
    _require()
    return ffi.string(lib.kg_version_string()).decode()


# --- statuses ---------------------------------------------------------------------------


def _error(status: int, where: str) -> Exception:
    """The typed error of a kernel status, as the reference engine raises them."""
    message = f"{where}: {ffi.string(lib.kg_status_message(status)).decode()}"
    return {
        lib.KG_E_CORRUPT: CorruptLangDB,
        lib.KG_E_TRUNCATED: TruncatedLangDB,
        lib.KG_E_CHECKSUM: ChecksumMismatch,
        lib.KG_E_UNSUPPORTED_VERSION: IncompatibleLangDB,
        lib.KG_E_INVALID_ARGUMENT: ValueError,
        lib.KG_E_IO: OSError,
        lib.KG_E_NO_MEMORY: MemoryError,
    }.get(status, KeyglideError)(message)


def _check(status: int, where: str) -> None:
    if status != lib.KG_OK:
        raise _error(status, where)


def encode(text: str | bytes) -> bytes:
    """Text as the kernel reads it: every method of ``NativeEngine`` that takes text also
    takes these bytes, so that a caller asking several questions encodes once."""
    # Lone surrogates become 3-byte sequences that are invalid UTF-8: the kernel reads each
    # as a separator, as the contract reads a surrogate code point.
    return text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")


# --- the engine -------------------------------------------------------------------------


class NativeEngine(Engine):
    """The C kernel over the bytes of an open ``LangDBFile`` (one mapping, shared)."""

    name = "native"

    def __init__(self, file: LangDBFile) -> None:
        self._open_buffer(_file_view(file), file.name)

    @classmethod
    def from_buffer(
        cls, data: bytes | bytearray | memoryview, name: str = "<buffer>"
    ) -> NativeEngine:
        """Open a langdb held in memory with the kernel's own checks only (no Python reader).
        ``data`` must not change while the engine is open."""
        engine = cls.__new__(cls)
        engine._open_buffer(data, name)
        return engine

    @classmethod
    def from_path(cls, path: str) -> NativeEngine:
        """Open a file with the kernel's own mapping and checks (``kg_open_path``)."""
        _require()
        engine = cls.__new__(cls)
        engine._name = str(path)
        engine._buffer = None
        engine._setup(lambda out: lib.kg_open_path(str(path).encode(), out))
        return engine

    def _open_buffer(self, data: bytes | bytearray | memoryview, name: str) -> None:
        _require()
        self._name = name
        self._buffer = ffi.from_buffer("char[]", data)
        size = len(self._buffer)
        try:
            self._setup(lambda out: lib.kg_open_buffer(self._buffer, size, out))
        except BaseException:
            ffi.release(self._buffer)
            self._buffer = None
            raise

    def _setup(self, opener) -> None:
        out = ffi.new("kg_db **")
        _check(opener(out), self._name)
        self._db = out[0]
        # Calls in flight, one entry each: list.append and list.pop are atomic, so the
        # common path takes no lock. The lock only orders close() with the last call out.
        self._inflight: list[None] = []
        self._lock = threading.Lock()
        self._closing = False
        # Spellings by word id, decoded once: folded words (kg_word) and the spellings
        # suggestions are shown with (kg_display: display forms, format 1.2).
        self._words: dict[int, str] = {}
        self._shown: dict[int, str] = {}

    # --- handle lifetime ---------------------------------------------------------------

    def _enter(self):
        self._inflight.append(None)
        if self._closing:  # checked after announcing the call: close() cannot miss it
            self._leave()
            raise ValueError(f"{self._name}: the native engine is closed")
        return self._db

    def _leave(self) -> None:
        self._inflight.pop()
        if self._closing:
            with self._lock:
                if not self._inflight and self._db != ffi.NULL:
                    self._free()

    def close(self) -> None:
        """Release the kernel's handle (and the view of the file). Idempotent. Calls still
        running on other threads finish first; the last one out releases the handle."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            if not self._inflight:
                self._free()

    def _free(self) -> None:
        lib.kg_close(self._db)
        self._db = ffi.NULL
        if self._buffer is not None:
            ffi.release(self._buffer)
            self._buffer = None

    def __del__(self) -> None:
        # At interpreter exit the module's globals may already be gone: nothing to do then.
        if getattr(self, "_lock", None) is not None and lib is not None:
            try:
                self.close()
            except Exception:  # noqa: S110 - a finalizer must not raise
                pass

    # --- answers -----------------------------------------------------------------------

    def predict(self, text: str, k: int) -> list[Suggestion]:
        pairs = self._ask(encode(text), k)
        shown, result = self._shown, []
        for i in range(0, len(pairs), 2):
            word = shown.get(pairs[i]) or self.display(pairs[i])
            score = pairs[i + 1]
            score = score - (1 << 32) if score >= 1 << 31 else score
            result.append(_new_tuple(Suggestion, (word, score)))
        return result

    def candidates(self, text: str, k: int) -> list[tuple[int, int]]:
        pairs = self._ask(encode(text), k)
        return [
            (pairs[i], pairs[i + 1] - (1 << 32) if pairs[i + 1] >= 1 << 31 else pairs[i + 1])
            for i in range(0, len(pairs), 2)
        ]

    def predict_ids(self, data: bytes, k: int) -> list[int]:
        """The word ids ``predict`` would suggest, best first, for UTF-8 ``data``: no words are
        decoded and no ``Suggestion`` is made, for callers that ask millions of questions
        (evaluation) and compare ids. Output buffers are kept per thread."""
        return self._ask(data, k)[::2]

    def candidate_array(self, text: str | bytes, k: int) -> np.ndarray:
        """``candidates`` as an int64 array of shape [n, 2]: word ids, scores."""
        ids, n = self._predict_into_buffers(encode(text), k)
        raw = np.frombuffer(ffi.buffer(ids, 8 * n), dtype=np.uint32).reshape(n, 2)
        result = raw.astype(np.int64)
        result[:, 1] = raw.view(np.int32)[:, 1]
        return result

    def _ask(self, data: bytes, k: int) -> list[int]:
        """kg_predict: (word id, score as uint32) of each suggestion, flattened."""
        ids, n = self._predict_into_buffers(data, k)
        return ffi.unpack(ids, 2 * n)

    def _predict_into_buffers(self, data: bytes, k: int):
        """kg_predict into this thread's buffers: (uint32 view of them, suggestions)."""
        if not 0 <= k <= lib.KG_MAX_K:
            raise ValueError(f"k must be an integer from 0 to {lib.KG_MAX_K}, not {k!r}")
        ids, out, count = _buffers()
        db = self._enter()
        try:
            _check(lib.kg_predict(db, data, len(data), k, out, count), self._name)
        finally:
            self._leave()
        return ids, count[0]

    def suggest(
        self,
        text: str,
        touches: Sequence[tuple[float, float] | None] | None,
        layout: Layout,
        k: int,
        threshold: int,
    ) -> Strip:
        """kg_suggest: the typing decoder's strip and correction (``keyglide.decoder``),
        exactly as the reference engine's ``suggest``."""
        if not 0 <= k <= lib.KG_MAX_K:
            raise ValueError(f"k must be an integer from 0 to {lib.KG_MAX_K}, not {k!r}")
        data = encode(text)
        board = _layout(layout)
        # Any Python int compares with a confidence as its int64 bound does.
        threshold = min(max(threshold, _INT64_MIN), _INT64_MAX)
        points, count = ffi.NULL, 0
        if touches is not None:
            if not isinstance(touches, (list, tuple)):
                touches = list(touches)  # read once, whatever reads it next
            try:
                points, count = _touch_array(touches)
            except (TypeError, ValueError, OverflowError):  # as the reference raises it, if at all
                checked = self._checked_touches(text, touches)
                if checked is not None:
                    points, count = _touch_array(checked)
        ids, out, n, correction = _suggest_buffers()
        db = self._enter()
        try:
            status = lib.kg_suggest(
                db, data, len(data), points, count, board, threshold, k, out, n, correction
            )
        finally:
            self._leave()
        if status == lib.KG_E_INVALID_ARGUMENT and touches is not None:
            self._checked_touches(text, touches)  # a point too far, or too many: as check_touches
        _check(status, self._name)
        pairs = ffi.unpack(ids, 2 * n[0])
        shown, suggestions = self._shown, []
        for i in range(0, len(pairs), 2):
            word = shown.get(pairs[i]) or self.display(pairs[i])
            score = pairs[i + 1]
            score = score - (1 << 32) if score >= 1 << 31 else score
            suggestions.append(_new_tuple(Suggestion, (word, score)))
        found = correction[0]
        if not found.typing:
            return _new_tuple(Strip, (None, suggestions, None, None, False))
        written = text if isinstance(text, str) else contract.decode(text)
        typed = contract.fold(written[len(written) - found.typed_length :])
        if not found.has_correction:
            return _new_tuple(Strip, (typed, suggestions, None, None, False))
        best = _new_tuple(Suggestion, (self.display(found.word_id), int(found.score)))
        return _new_tuple(
            Strip, (typed, suggestions, best, int(found.confidence), bool(found.autocorrect))
        )

    @staticmethod
    def _checked_touches(text: str | bytes, touches) -> list | None:
        """``keyboard.check_touches`` for the word being typed, as the reference engine calls
        it (raising its errors), or None when no word is being typed (touches unread)."""
        written = text if isinstance(text, str) else contract.decode(text)
        prefix = contract.cursor(written).prefix
        return None if prefix is None else check_touches(touches, len(prefix))

    def context_ids(self, text: str, history: int, sentence: int) -> ContextIds:
        if not (0 <= history <= lib.KG_MAX_CONTEXT and 0 <= sentence <= lib.KG_MAX_CONTEXT):
            raise ValueError(f"history and sentence must be 0 to {lib.KG_MAX_CONTEXT}")
        data = encode(text)
        ids, counts = _context_buffers(history + sentence)
        db = self._enter()
        try:
            _check(
                lib.kg_context_ids(
                    db,
                    data,
                    len(data),
                    ids,
                    history,
                    counts,
                    ids + history,
                    sentence,
                    counts + 1,
                    counts + 2,
                ),
                self._name,
            )
        finally:
            self._leave()
        recent = np.frombuffer(ffi.buffer(ids, 4 * counts[0]), dtype=np.uint32)
        return ContextIds(
            recent.astype(np.int64), ffi.unpack(ids + history, counts[1]), int(counts[2])
        )

    def score_sum(self, text: str) -> tuple[int, int]:
        data = encode(text)
        total = ffi.new("int64_t *")
        tokens = ffi.new("uint64_t *")
        db = self._enter()
        try:
            _check(lib.kg_score_text(db, data, len(data), total, tokens), self._name)
        finally:
            self._leave()
        return int(total[0]), int(tokens[0])

    def verify(self) -> None:
        """Check every byte (``kg_verify``): CRCs, padding, reserved fields, invariants."""
        db = self._enter()
        try:
            _check(lib.kg_verify(db), self._name)
        finally:
            self._leave()

    # --- the model ---------------------------------------------------------------------

    @property
    def order(self) -> int:
        return self._call(lib.kg_order)

    @property
    def vocab_size(self) -> int:
        return self._call(lib.kg_vocab_size)

    @property
    def counts(self) -> tuple[int, ...]:
        db = self._enter()
        try:
            return tuple(lib.kg_ngram_count(db, n) for n in range(1, lib.kg_order(db) + 1))
        finally:
            self._leave()

    @property
    def format_version(self) -> tuple[int, int]:
        major, minor = ffi.new("unsigned *"), ffi.new("unsigned *")
        db = self._enter()
        try:
            lib.kg_format_version(db, major, minor)
        finally:
            self._leave()
        return major[0], minor[0]

    @property
    def ignored_features(self) -> int:
        return self._call(lib.kg_ignored_features)

    @property
    def metadata(self) -> bytes:
        """The META section's bytes (UTF-8 JSON)."""
        ptr, size = ffi.new("char **"), ffi.new("size_t *")
        db = self._enter()
        try:
            _check(lib.kg_metadata(db, ptr, size), self._name)
            return ffi.unpack(ptr[0], size[0])
        finally:
            self._leave()

    def word(self, word_id: int) -> str:
        """The (folded) spelling of a word id: what ``lookup`` takes."""
        db = self._enter()
        try:
            return self._word(db, word_id)
        finally:
            self._leave()

    def display(self, word_id: int) -> str:
        """How a word id is shown in a suggestion: its display form (format 1.2) if the file
        has one, else its folded spelling (``LangDBFile.display``)."""
        db = self._enter()
        try:
            return self._display(db, word_id)
        finally:
            self._leave()

    def lookup(self, word: str) -> int | None:
        """The id of a folded word, or None if it is not in the vocabulary."""
        data = encode(word)
        out = ffi.new("uint32_t *")
        db = self._enter()
        try:
            status = lib.kg_lookup(db, data, len(data), out)
        finally:
            self._leave()
        if status == lib.KG_E_NOT_FOUND:
            return None
        _check(status, self._name)
        return int(out[0])

    def score(self, context: list[int], word: int) -> int:
        """score(word | context) for explicit ids, oldest first (FORMAT.md section 5)."""
        ids = ffi.new("uint32_t[]", list(context) or [0])
        out = ffi.new("int64_t *")
        db = self._enter()
        try:
            _check(lib.kg_score_word(db, ids, len(context), word, out), self._name)
        finally:
            self._leave()
        return int(out[0])

    def _call(self, function):
        db = self._enter()
        try:
            return function(db)
        finally:
            self._leave()

    def _word(self, db, word_id: int) -> str:
        word = self._words.get(word_id)
        if word is None:
            word = self._words[word_id] = self._spell(lib.kg_word, db, word_id, "word")
        return word

    def _display(self, db, word_id: int) -> str:
        shown = self._shown.get(word_id)
        if shown is None:
            shown = self._shown[word_id] = self._spell(
                lib.kg_display, db, word_id, "the shown spelling of word"
            )
        return shown

    def _spell(self, function, db, word_id: int, what: str) -> str:
        """kg_word or kg_display of an id, decoded (strict UTF-8, as the reader decodes)."""
        ptr, size = ffi.new("char **"), ffi.new("size_t *")
        _check(function(db, word_id, ptr, size), self._name)
        try:
            return ffi.unpack(ptr[0], size[0]).decode("utf-8")
        except UnicodeDecodeError:
            raise CorruptLangDB(f"{self._name}: {what} {word_id} is not valid UTF-8") from None


# Suggestion(word, score) without the keyword-argument machinery (a third of the cost of a
# call): it runs for every suggestion of every keystroke.
_new_tuple = tuple.__new__

# Output buffers of predictions, one set per thread: allocating them per call costs more
# than the prediction itself.
_per_thread = threading.local()


def _buffers():
    """This thread's (uint32 view, kg_suggestion view, size_t *) output buffers."""
    buffers = getattr(_per_thread, "buffers", None)
    if buffers is None:
        ids = ffi.new("uint32_t[]", 2 * lib.KG_MAX_K)  # kg_suggestion: (word_id, score)
        out = ffi.cast("kg_suggestion *", ids)
        buffers = _per_thread.buffers = (ids, out, ffi.new("size_t *"))
    return buffers


def _suggest_buffers():
    """This thread's (uint32 view, kg_suggestion view, size_t *, kg_correction *) for
    kg_suggest."""
    buffers = getattr(_per_thread, "suggest", None)
    if buffers is None:
        ids = ffi.new("uint32_t[]", 2 * lib.KG_MAX_K)
        buffers = _per_thread.suggest = (
            ids,
            ffi.cast("kg_suggestion *", ids),
            ffi.new("size_t *"),
            ffi.new("kg_correction *"),
        )
    return buffers


_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
# Touch points of words up to this long go in a per-thread array; longer ones get their own.
_TOUCH_SLOTS = 64


def _touch_array(touches: list | tuple):
    """Touch points as kg_touch[] and their number. Raises TypeError or ValueError for a
    point that is not (x, y) or None; the kernel checks the count and the bounds."""
    count = len(touches)
    array = getattr(_per_thread, "touches", None)
    if array is None:
        array = _per_thread.touches = ffi.new("kg_touch[]", _TOUCH_SLOTS)
    if count > _TOUCH_SLOTS:
        array = ffi.new("kg_touch[]", count)
    for i, point in enumerate(touches):
        slot = array[i]
        if point is None:
            slot.present = 0
            continue
        x, y = point  # check_touches reads (float(v) for v in point): the same values
        slot.x = float(x)
        slot.y = float(y)
        slot.present = 1
    return array, count


# Layouts in the kernel's form, built once per keyglide.Layout (which is immutable).
_layouts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_last_layout: tuple = (None, None)


def _layout(layout: Layout):
    """The kg_layout of a keyglide.Layout, cached."""
    global _last_layout
    last, built = _last_layout
    if last is layout:
        return built
    built = _layouts.get(layout)
    if built is None:
        built = _layouts[layout] = _build_layout(layout)
    _last_layout = (layout, built)
    return built


def _build_layout(layout: Layout):
    _require()
    specs = ffi.new("kg_key_spec[]", len(layout.keys))
    keep = []
    for spec, key in zip(specs, layout.keys, strict=True):
        chars = (key.char + key.alternates).encode("utf-8")
        keep.append(ffi.new("char[]", chars))
        spec.chars = keep[-1]
        spec.chars_len = len(chars)
        spec.x, spec.y = float(key.x), float(key.y)
        spec.width, spec.height = float(key.width), float(key.height)
    built = ffi.new("kg_layout *")
    _check(lib.kg_layout_init(built, specs, len(layout.keys)), f"layout {layout.name!r}")
    return built


def _context_buffers(size: int):
    """This thread's (uint32 array of at least ``size``, size_t[3]) for kg_context_ids."""
    buffers = getattr(_per_thread, "context", None)
    if buffers is None or len(buffers[0]) < size:
        buffers = _per_thread.context = (ffi.new("uint32_t[]", max(size, 1)), ffi.new("size_t[3]"))
    return buffers


def _file_view(file: LangDBFile) -> memoryview:
    """The bytes of an open LangDBFile, shared (not copied) with the kernel."""
    return file.buffer


# --- the tokenization contract as the kernel reads it --------------------------------------


def _tokenize(text: str | bytes, mode: int, capacity: int | None = None) -> str:
    _require()
    data = encode(text)
    size = ffi.new("size_t *")
    if capacity is None:
        capacity = 2 * len(data) + 16
    while True:
        out = ffi.new("char[]", capacity)
        status = lib.kg_tokenize(data, len(data), mode, out, capacity, size)
        if status != lib.KG_E_BUFFER_TOO_SMALL:
            break
        capacity = size[0]
    _check(status, "kg_tokenize")
    return ffi.unpack(out, size[0]).decode("utf-8")


def sentences(text: str | bytes) -> list[list[str]]:
    """``keyglide.text.sentences`` as the kernel computes it. A token whose fold is longer
    than MAX_WORD_BYTES comes back as ``"<unk>"`` (the kernel keeps only that it is too long)."""
    return [line.split(" ") for line in _tokenize(text, lib.KG_TOKENIZE_SENTENCES).split("\n")[:-1]]


def cursor(text: str | bytes) -> Cursor:
    """``keyglide.text.cursor`` as the kernel computes it (long tokens as ``"<unk>"``)."""
    context, _, prefix = _tokenize(text, lib.KG_TOKENIZE_CURSOR).partition("\n")
    return Cursor(tuple(context.split(" ")) if context else (), prefix or None)
