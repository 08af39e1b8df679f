"""The kernel's typing decoder (``kg_suggest``) answers exactly as ``keyglide.decoder``: the
same strip (words, scores, order), correction, confidence and auto-correction, for every
model, text, touch points, layout, k and threshold; and the same errors.

Random models (conftest, with display forms and blocklists as test_equivalence draws them)
are typed at with mutated words (dropped, doubled, swapped, inserted and neighbouring
letters, accents, capitals, apostrophes, digits) and random words, on the shipped layouts and
random ones, with random touch points (some missing). A model built from a novel of the
shared corpus is typed at with noisy words of the novels' test split (skipped where the
corpus is absent). ``kg_layout_init`` is checked against ``keyglide.Layout``'s validation,
and adversarial words (40 random letters, 64-byte words, k = KG_MAX_K) against the bounds
of the work; ``nox -s sanitize`` runs this file under the sanitizers.
"""

from __future__ import annotations

import math
import random
import string
import time

import pytest
from conftest import examples, models, novel_split, typed_texts, written
from hypothesis import given, settings
from hypothesis import strategies as st
from keyglide import decoder, keyboard
from keyglide import text as contract
from keyglide.engines import native
from keyglide.engines.reference import ReferenceEngine
from keyglide.keyboard import Key, Layout
from keyglide.reader import LangDBFile
from test_equivalence import displayed_models

AVAILABLE, WHY = native.available()
pytestmark = pytest.mark.skipif(not AVAILABLE, reason=f"native engine unavailable: {WHY}")

SHIPPED = {name: Layout.named(name) for name in keyboard.NAMED_LAYOUTS}
KS = st.sampled_from([0, 1, 2, 3, 5, 16, 256])
THRESHOLDS = st.sampled_from(
    [decoder.DEFAULT_THRESHOLD, 0, -(10**6), 1, 40000, 10**9, 2**70, -(2**70)]
)
# Letters the random vocabularies use (conftest), the shipped layouts' letters and more.
LETTERS = "abeyzàéßøдя09" + string.ascii_lowercase + "éèêüöäçñ'-"


# --- the two engines on one file -----------------------------------------------------------


class Engines:
    """A langdb opened by both engines over one file."""

    def __init__(self, data: bytes) -> None:
        self.file = LangDBFile.from_buffer(data)
        self.reference = ReferenceEngine(self.file)
        self.native = native.NativeEngine(self.file)

    def close(self) -> None:
        self.native.close()
        self.file.close()

    def check(self, content: str, touches, layout: Layout, k: int, threshold: int):
        """Both engines' answer (or error) to one keystroke, which must be the same."""
        if touches is not None and not isinstance(touches, (list, tuple)):
            touches = list(touches)  # an iterator is read once: each engine gets a copy
        try:
            want = self.reference.suggest(content, touches, layout, k, threshold)
        except (ValueError, OverflowError) as e:
            with pytest.raises(type(e)) as got:
                self.native.suggest(content, touches, layout, k, threshold)
            assert (type(got.value), str(got.value)) == (type(e), str(e)), (content, touches)
            return None
        got = self.native.suggest(content, touches, layout, k, threshold)
        assert got == want, (content, touches, layout, k, threshold)
        assert [type(s.score) for s in got.suggestions] == [int] * len(got.suggestions)
        return got


# --- what is typed -------------------------------------------------------------------------


def neighbours(layout: Layout, char: str) -> str:
    """The characters of the keys next to ``char``'s (and the key's alternates)."""
    index = layout.key_of(char)
    if index is None:
        return ""
    key = layout.keys[index]
    found = key.alternates
    for other in layout.keys:
        if abs(other.x - key.x) <= 1.5 * key.width and abs(other.y - key.y) <= 1.5 * key.height:
            found += other.char
    return found


@st.composite
def mutated(draw, word: str, layout: Layout) -> str:
    """``word`` as a hurried user types it: up to three slips of the kinds the decoder knows
    (and others), and sometimes capitals."""
    chars = list(word)
    for _ in range(draw(st.integers(0, 3))):
        if not chars:
            break
        i = draw(st.integers(0, len(chars) - 1))
        slip = draw(st.sampled_from(["drop", "double", "swap", "near", "insert", "any", "cut"]))
        if slip == "drop" and len(chars) > 1:
            del chars[i]
        elif slip == "double":
            chars.insert(i, chars[i])
        elif slip == "swap" and i + 1 < len(chars):
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        elif slip == "near" and neighbours(layout, chars[i]):
            chars[i] = draw(st.sampled_from(neighbours(layout, chars[i])))
        elif slip == "insert":
            chars.insert(i, draw(st.sampled_from(LETTERS)))
        elif slip == "any":
            chars[i] = draw(st.sampled_from(LETTERS))
        elif slip == "cut" and i > 0:
            del chars[i:]
    typed = "".join(chars)
    if draw(st.integers(0, 5)) == 0:
        typed = typed.upper() if draw(st.booleans()) else typed.capitalize()
    return typed


@st.composite
def layouts(draw) -> Layout:
    """A shipped layout, or a random valid one (keys anywhere, of any size, with
    alternates)."""
    if draw(st.booleans()):
        return SHIPPED[draw(st.sampled_from(sorted(SHIPPED)))]
    chars = draw(st.lists(st.sampled_from(LETTERS + "åœ!1"), min_size=1, max_size=30, unique=True))
    keys, i = [], 0
    coordinate = st.floats(-12, 12, allow_nan=False).map(lambda v: round(v * 4) / 4)
    size = st.sampled_from([0.25, 0.5, 1.0, 1.0, 1.5, 2.0, 1 / 256, 64.0])
    while i < len(chars):
        own = draw(st.integers(1, 3))
        keys.append(
            Key(
                chars[i],
                draw(coordinate),
                draw(coordinate),
                draw(size),
                draw(size),
                "".join(chars[i + 1 : i + own]),
            )
        )
        i += own
    return Layout("random", keys)


def touch_points(draw, layout: Layout, length: int):
    """One point (or None) per character, near the layout's keys or anywhere on it; or
    None for no points at all."""
    kind = draw(st.sampled_from(["none", "points", "points", "wrong"]))
    if kind == "none":
        return None
    xs = [k.x for k in layout.keys]
    ys = [k.y for k in layout.keys]
    x = st.floats(min(xs) - 2, max(xs) + 2, allow_nan=False)
    y = st.floats(min(ys) - 2, max(ys) + 2, allow_nan=False)
    point = st.one_of(st.none(), st.tuples(x, y))
    wrong = st.sampled_from([0, max(0, length - 1), length + 1])
    count = length if kind == "points" else draw(wrong)
    points = [draw(point) for _ in range(count)]
    if points and draw(st.integers(0, 9)) == 0:  # a point out of bounds
        points[draw(st.integers(0, len(points) - 1))] = draw(
            st.sampled_from([(math.nan, 1.0), (1.0, math.inf), (4096.5, 0.0), (4096.0, -4096.0)])
        )
    return points


@st.composite
def keystrokes(draw, vocab: list[str]):
    """(text, touches, layout): a context, then a word being typed."""
    layout = draw(layouts())
    known = vocab[3:] or ["a"]
    source = draw(st.sampled_from(["word", "word", "word", "random", "long"]))
    if source == "word":
        typed = draw(mutated(draw(st.sampled_from(known)), layout))
    elif source == "random":
        typed = draw(st.text(LETTERS, min_size=1, max_size=12))
    else:
        typed = draw(st.sampled_from(["x" * 33, "д" * 32, "д" * 33, "ab" * 20, "a" * 64]))
    context = draw(typed_texts(vocab, max_pieces=4))
    gap = draw(st.sampled_from([" ", " ", ". ", "\n\n", "", "’", " '"]))
    content = context + gap + typed
    prefix = contract.cursor(content).prefix
    length = 0 if prefix is None else len(prefix)
    return content, touch_points(draw, layout, length), layout


# --- random models -------------------------------------------------------------------------


@settings(max_examples=examples(120), deadline=None)
@given(displayed_models(), st.data())
def test_random_models_typed_at(model, data):
    engines = Engines(written(model))
    try:
        for _ in range(8):
            content, touches, layout = data.draw(keystrokes(model.vocab))
            engines.check(content, touches, layout, data.draw(KS), data.draw(THRESHOLDS))
    finally:
        engines.close()


@settings(max_examples=examples(60), deadline=None)
@given(models(max_words=12), st.text(max_size=60), KS, THRESHOLDS, layouts())
def test_random_models_and_any_text(model, content, k, threshold, layout):
    engines = Engines(written(model))
    try:
        engines.check(content, None, layout, k, threshold)
    finally:
        engines.close()


def _dense_vocabulary(rng: random.Random, size: int) -> list[str]:
    """Many words close to each other: every word is within an edit or two of others, so
    that many nodes of the trie offer words and most words have several penalties."""
    words = set()
    stems = ["the", "they", "then", "tom", "tomorrow", "form", "from", "don't", "café", "re-"]
    while len(words) < size:
        word = list(rng.choice(stems))
        for _ in range(rng.randint(0, 3)):
            i = rng.randrange(len(word) + 1)
            word.insert(i, rng.choice("etaonrsdhm'é"))
        words.add("".join(word))
    words = {w for w in words if contract.spans(w) == [(0, len(w))]}  # one folded token
    return ["<unk>", "<s>", "</s>", *sorted(words, key=str.encode)]


@pytest.fixture(scope="module", params=[2, 3, 4])
def dense(request):
    from conftest import random_model

    rng = random.Random(request.param)
    vocab = _dense_vocabulary(rng, 900)
    model = random_model(
        seed=request.param, vocab=vocab, order=request.param, prob_width=2, max_per_order=8000
    )
    engines = Engines(written(model))
    engines.vocab = vocab
    yield engines
    engines.close()


@settings(max_examples=examples(80), deadline=None)
@given(st.data())
def test_dense_vocabularies(dense, data):
    """Words near many others, top lists at every order, wide and narrow ranges."""
    content, touches, layout = data.draw(keystrokes(dense.vocab))
    dense.check(content, touches, layout, data.draw(KS), data.draw(THRESHOLDS))


def test_every_prefix_of_typos(dense):
    rng = random.Random(7)
    qwerty = SHIPPED["qwerty"]
    for word in rng.sample(dense.vocab[3:], 20):
        typo = list(word)
        i = rng.randrange(len(typo))
        typo[i] = rng.choice(neighbours(qwerty, typo[i]) or typo[i])
        typo = "".join(typo)
        for cut in range(1, len(typo) + 1):
            for k in (1, 17):
                dense.check(f"the {typo[:cut]}", None, qwerty, k, decoder.DEFAULT_THRESHOLD)


# --- layouts in the kernel -----------------------------------------------------------------


def kernel_layout(specs: list[tuple[bytes, float, float, float, float]]):
    """kg_layout_init over (chars, x, y, width, height) keys: (status, the layout's bytes)."""
    ffi, lib = native.ffi, native.lib
    array = ffi.new("kg_key_spec[]", max(1, len(specs)))
    keep = []
    for spec, (chars, x, y, width, height) in zip(array, specs, strict=False):
        keep.append(ffi.new("char[]", chars))
        spec.chars, spec.chars_len = keep[-1], len(chars)
        spec.x, spec.y, spec.width, spec.height = x, y, width, height
    out = ffi.new("kg_layout *")
    status = lib.kg_layout_init(out, array, len(specs))
    return status, bytes(ffi.buffer(out))


@pytest.mark.parametrize("name", keyboard.NAMED_LAYOUTS)
def test_builtin_layouts_are_the_shipped_files(name):
    ffi, lib = native.ffi, native.lib
    out = ffi.new("kg_layout *")
    assert lib.kg_layout_builtin(out, name.encode()) == lib.KG_OK
    layout = SHIPPED[name]
    specs = [((k.char + k.alternates).encode(), k.x, k.y, k.width, k.height) for k in layout.keys]
    assert kernel_layout(specs) == (lib.KG_OK, bytes(ffi.buffer(out)))
    assert out.private_keys == len(layout.keys)
    for index, grid in enumerate(layout.grid):
        assert list(out.private_grid[4 * index : 4 * index + 4]) == [
            grid.x, grid.y, grid.width, grid.height
        ]  # fmt: skip
    assert lib.kg_layout_builtin(out, b"dvorak") == lib.KG_E_INVALID_ARGUMENT
    assert lib.kg_layout_builtin(ffi.NULL, name.encode()) == lib.KG_E_INVALID_ARGUMENT


NUMBERS = [0.0, 1.0, -1.5, 4096.0, -4096.0, 4096.0001, math.nan, math.inf, -math.inf, 1e300]
SIZES = [1.0, 1 / 256, 1 / 256 * 0.999, 64.0, 64.0001, 0.0, -1.0, math.nan, math.inf, 0.5]
KEY_CHARS = [
    "a", "é", "A", " ", "\x1c", "\u3000", "\0", "’", "'", "-", "K", "\u212a", "ß", "ẞ", "ǅ", "ǆ",
    "д", "Д", "😀", "\ud800", ".", "ab", "aé",
]  # fmt: skip


@settings(max_examples=examples(300), deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from(KEY_CHARS), min_size=0, max_size=18).map("".join),
            st.sampled_from(NUMBERS),
            st.sampled_from(NUMBERS),
            st.sampled_from(SIZES),
            st.sampled_from(SIZES),
        ),
        min_size=0,
        max_size=6,
    )
)
def test_layout_init_checks_keys_as_layout_does(keys):
    """kg_layout_init refuses exactly the keys keyglide.Layout refuses (a key's characters
    as one string: its char, then its alternates), and rounds positions the same way."""
    try:
        layout = Layout("k", [Key(c[:1], x, y, w, h, c[1:]) for c, x, y, w, h in keys])
    except keyboard.LayoutError:
        layout = None
    specs = [(c.encode("utf-8", "surrogatepass"), x, y, w, h) for c, x, y, w, h in keys]
    status, data = kernel_layout(specs)
    if layout is None:
        assert status == native.lib.KG_E_INVALID_ARGUMENT, keys
        return
    assert status == native.lib.KG_OK, keys
    view = native.ffi.from_buffer("kg_layout *", bytearray(data))
    for index, grid in enumerate(layout.grid):
        assert list(view.private_grid[4 * index : 4 * index + 4]) == [
            grid.x, grid.y, grid.width, grid.height
        ]  # fmt: skip


def test_layout_init_refuses_counts_out_of_range():
    lib = native.lib
    one = (b"a", 0.0, 0.0, 1.0, 1.0)
    assert kernel_layout([])[0] == lib.KG_E_INVALID_ARGUMENT
    assert kernel_layout([one])[0] == lib.KG_OK
    many = [(chr(0x4E00 + i).encode(), 0.0, 0.0, 1.0, 1.0) for i in range(128)]
    assert len({c for c, *_ in many}) == 128
    assert kernel_layout(many)[0] == lib.KG_OK
    assert kernel_layout([*many, (b"z", 0.0, 0.0, 1.0, 1.0)])[0] == lib.KG_E_INVALID_ARGUMENT
    sixteen = "abcdefghijklmnop"
    assert kernel_layout([(sixteen.encode(), 0.0, 0.0, 1.0, 1.0)])[0] == lib.KG_OK
    assert kernel_layout([((sixteen + "q").encode(), 0, 0, 1, 1)])[0] == lib.KG_E_INVALID_ARGUMENT
    for bad in (b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\x80", b"a\xf4\x90\x80\x80"):
        assert kernel_layout([(bad, 0.0, 0.0, 1.0, 1.0)])[0] == lib.KG_E_INVALID_ARGUMENT


def test_quantization_is_floor_of_v_times_256_plus_half():
    lib = native.lib
    values = [0.5 / 256, -0.5 / 256, 1.5 / 256, -1.5 / 256, 0.49999999999999994 / 256, 4096.0]
    values += [-4096.0, 1 / 3, -1 / 3, 2.25, -2.25, 0.0, -0.0, 1e-300, -1e-300]
    for v in values:
        status, data = kernel_layout([(b"a", v, -v, 1.0, 1.0)])
        assert status == lib.KG_OK
        view = native.ffi.from_buffer("kg_layout *", bytearray(data))
        assert (view.private_grid[0], view.private_grid[1]) == (
            keyboard.quantize(v),
            keyboard.quantize(-v),
        ), v


# --- arguments and adversarial input -------------------------------------------------------


@pytest.fixture(scope="module")
def wide_engines():
    """A model with many words sharing letters, for inputs that could make the walk wide."""
    from conftest import random_model

    rng = random.Random(3)
    words = {"".join(rng.choices("etaoinshrdlu", k=rng.randint(1, 9))) for _ in range(20000)}
    words |= {"x" * 64, "a" * 64, "д" * 32, "x" * 33}
    vocab = ["<unk>", "<s>", "</s>", *sorted(words, key=str.encode)]
    engines = Engines(written(random_model(seed=3, vocab=vocab, order=3, max_per_order=40000)))
    yield engines
    engines.close()


def test_adversarial_words_are_bounded(wide_engines):
    """40 random letters, 64-byte words, doubled letters and k = KG_MAX_K: the same answers
    as the reference, each in a bounded time."""
    rng = random.Random(9)
    qwerty = SHIPPED["qwerty"]
    inputs = ["".join(rng.choices(string.ascii_lowercase, k=40)) for _ in range(3)]
    inputs += ["".join(rng.choices("etaoinshrdlu", k=n)) for n in (5, 9, 12, 20, 32)]
    inputs += ["x" * 64, "x" * 65, "a" * 64, "д" * 32, "д" * 33, "e" * 32, "e" * 33, "eta" * 11]
    for typed in inputs:
        for k in (1, 256):
            wide_engines.check(f"the {typed}", None, qwerty, k, decoder.DEFAULT_THRESHOLD)
            start = time.perf_counter()
            wide_engines.native.suggest(f"the {typed}", None, qwerty, k, decoder.DEFAULT_THRESHOLD)
            assert time.perf_counter() - start < 0.5, typed  # sanitized builds included


def test_touch_points_are_checked_as_check_touches_does(wide_engines):
    qwerty = SHIPPED["qwerty"]
    cases = [
        [(1, 1)],
        [(1, 1), (2, 2), (3, 3), (4, 4)],
        [],
        [(1, 1), (math.nan, 1), None],
        [(1, 1), (1, -math.inf), None],
        [(1, 1), (4096.01, 1), None],
        [(1, 1), "ab", None],
        [(1, 1), "12", None],
        [(1, 1), (1, 2, 3), None],
        [(1, 1), 5, None],
        [(1, 1), (10**400, 1), None],
        [(1, 1), ("x", 1)],
        ((1, 1), (2, 2), None),
    ]
    for touches in cases:
        wide_engines.check("the", touches, qwerty, 3, decoder.DEFAULT_THRESHOLD)
        wide_engines.check("the ", touches, qwerty, 3, decoder.DEFAULT_THRESHOLD)  # unread
    with pytest.raises(ValueError):
        wide_engines.native.suggest("the", None, qwerty, 257, 0)


def test_suggest_in_c_checks_its_arguments(wide_engines):
    ffi, lib = native.ffi, native.lib
    db = wide_engines.native._db
    layout = ffi.new("kg_layout *")
    lib.kg_layout_builtin(layout, b"qwerty")
    out = ffi.new("kg_suggestion[]", lib.KG_MAX_K)
    n = ffi.new("size_t *")
    found = ffi.new("kg_correction *")
    touches = ffi.new("kg_touch[]", 3)
    text = b"the"

    def call(*, t=touches, count=3, board=layout, k=3, output=out):
        return lib.kg_suggest(db, text, len(text), t, count, board, 0, k, output, n, found)

    assert call() == lib.KG_OK and found.typing == 1 and found.typed_length == 3
    assert call(t=ffi.NULL, count=0) == lib.KG_OK
    assert call(t=ffi.NULL, count=3) == lib.KG_E_INVALID_ARGUMENT
    assert call(count=2) == lib.KG_E_INVALID_ARGUMENT
    assert call(k=lib.KG_MAX_K + 1) == lib.KG_E_INVALID_ARGUMENT
    assert call(k=0, output=ffi.NULL) == lib.KG_OK and n[0] == 0
    assert call(board=ffi.NULL) == lib.KG_E_INVALID_ARGUMENT
    assert call(board=ffi.new("kg_layout *")) == lib.KG_E_INVALID_ARGUMENT  # never filled
    touches[1].present, touches[1].x = 1, math.nan
    assert call() == lib.KG_E_INVALID_ARGUMENT
    touches[1].x = 4096.0
    assert call() == lib.KG_OK


# --- a model built from a novel ------------------------------------------------------------


@pytest.fixture(scope="module")
def novel_engines(tmp_path_factory):
    from keyglide.builder import Recipe, build

    novel = min(novel_split("train"), key=lambda f: (f.stat().st_size, f.name))  # the shortest
    out = tmp_path_factory.mktemp("novel") / "novel-3.langdb"
    build(
        Recipe.from_args(corpus=[novel], order=3), out, jobs=1, progress=False, source_commit=None
    )
    engines = Engines(out.read_bytes())
    yield engines
    engines.close()


def noisy(rng: random.Random, word: str, layout: Layout):
    """``word`` typed by a hurried user: a slip or two, touches around the keys."""
    chars = list(word)
    for _ in range(rng.choice([0, 0, 1, 1, 2])):
        i = rng.randrange(len(chars))
        slip = rng.choice(["drop", "double", "swap", "near"])
        if slip == "drop" and len(chars) > 1:
            del chars[i]
        elif slip == "double":
            chars.insert(i, chars[i])
        elif slip == "swap" and i + 1 < len(chars):
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        elif slip == "near" and neighbours(layout, chars[i]):
            chars[i] = rng.choice(neighbours(layout, chars[i]))
    points = []
    for char in chars:
        index = layout.key_of(char)
        if index is None or rng.random() < 0.2:
            points.append(None)
            continue
        key = layout.keys[index]
        points.append((key.x + rng.gauss(0, 0.25), key.y + rng.gauss(0, 0.25)))
    return "".join(chars), points


def test_noisy_words_of_a_novel(novel_engines):
    """Noisy words of the test split, each typed a prefix at a time after its sentence's
    words, with and without touch points: the reference's answers, from the kernel."""
    content = contract.decode(novel_split("test")[0].read_bytes())
    start = content.index("\n\n", len(content) // 3) + 2
    sentences = contract.written_sentences(content[start : start + 30000])
    rng = random.Random(12)
    qwerty = SHIPPED["qwerty"]
    asked = 0
    for sentence in sentences:
        for i, word in enumerate(sentence):
            if asked >= 300:
                return
            if rng.random() < 0.5:
                continue
            typed, points = noisy(rng, word, qwerty)
            context = " ".join(sentence[max(0, i - 3) : i])
            cuts = sorted({len(typed), rng.randint(1, len(typed))})
            for cut in cuts:
                given = points[:cut] if rng.random() < 0.7 else None
                content_typed = (context + " " if context else "") + typed[:cut]
                k = rng.choice([3, 3, 5, 10])
                novel_engines.check(content_typed, given, qwerty, k, decoder.DEFAULT_THRESHOLD)
                asked += 1
