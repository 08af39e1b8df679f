"""The typing decoder (keyglide.decoder): what it corrects, what it leaves, and that its trie
walk equals the per-word definition of the penalty."""

from __future__ import annotations

import random
import string

import keyglide
import pytest
from conftest import build_model, examples
from hypothesis import given, settings
from hypothesis import strategies as st
from keyglide import decoder
from keyglide.builder.write import write_langdb
from keyglide.decoder import (
    ACCENT,
    DEFAULT_THRESHOLD,
    DOUBLE,
    INSERT,
    JOINER,
    OMIT,
    SPATIAL_CAP,
    SUBSTITUTION_LIMIT,
    TRANSPOSE,
    Decoder,
    max_edits,
    spatial_cost,
)
from keyglide.engines import native
from keyglide.format import FIRST_WORD_ID, SPECIAL_TOKENS
from keyglide.keyboard import Key, Layout

QWERTY = Layout.named("qwerty")
ENGINES = ["reference", *(["native"] if native.available()[0] else [])]

WORDS = {
    # word: unigram score
    "the": -12000,
    "they": -20000,
    "then": -21000,
    "there": -22000,
    "thee": -12000 - DOUBLE - DEFAULT_THRESHOLD + 1,  # just short of a correction to "the"
    "tomorrow": -30000,
    "to": -14000,
    "tom": -40000,
    "don't": -25000,
    "dont": -60000,
    "café": -40000,
    "cafe": -70000,
    "form": -38000,
    "from": -18000,
    "pass": -35000,
    "you": -15000,
    "zebra": -60000,
    "see": -30000,
}


@pytest.fixture(scope="module")
def db_path(tmp_path_factory) -> str:
    vocab = [*SPECIAL_TOKENS, *sorted(WORDS, key=lambda w: w.encode())]
    ngrams = {w: (score, 0) for w, score in WORDS.items()}
    ngrams["see you"] = (-3000, 0)
    model = build_model(vocab, ngrams)
    path = tmp_path_factory.mktemp("decoder") / "words.langdb"
    write_langdb(path, model)
    return str(path)


@pytest.fixture(params=ENGINES)
def db(request, db_path):
    with keyglide.open(db_path, engine=request.param) as handle:
        yield handle


def words(strip) -> list[str]:
    return [s.word for s in strip.suggestions]


# --- what it corrects ------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["tomorr", "tomorow", "tmorrow", "tomorrrow", "tomorrw"])
def test_a_corrected_prefix_still_completes(db, typed):
    assert "tomorrow" in words(db.suggest(f"see you {typed}", k=3))


def test_a_transposition_is_auto_corrected(db):
    strip = db.suggest("teh")
    assert strip.correction.word == "the" and strip.autocorrect
    assert strip.suggestions[0].word == "the"


def test_a_neighbouring_key_is_a_typo_a_distant_one_is_not(db):
    assert db.suggest("thw").correction.word == "the"  # w is next to e
    assert db.suggest("thp").correction is None  # p is far from every candidate's key


def test_apostrophes_and_accents_are_cheap(db):
    strip = db.suggest("I dont")  # "dont" is a (rare) word; "don't" is far likelier
    assert strip.correction.word == "don't" and strip.autocorrect
    assert strip.confidence == (-25000 - JOINER) - (-60000)
    assert db.suggest("cafe").correction.word == "café"


def test_the_typed_word_is_kept_when_it_is_right(db):
    strip = db.suggest("the")
    assert not strip.autocorrect and strip.suggestions[0].word == "the"
    # "thee" is a word: "the" is likelier, but not by the threshold, so "thee" stays.
    strip = db.suggest("thee", k=2)
    assert strip.typed == "thee" and strip.correction.word == "the" and not strip.autocorrect
    assert strip.confidence == DEFAULT_THRESHOLD - 1


def test_touch_noise_weighs_on_the_typed_word_too(db):
    """Every candidate pays for touches off its keys' centres; so does the typed word, so a
    touch that is merely off-centre does not make a correction likelier."""
    centred = db.suggest("thee", k=2)
    off = db.suggest("thee", touches=[(4.7, 0.9), (5.8, 2.0), (2.7, 0.9), (2.6, 0.6)], k=2)
    assert off.correction.word == "the"
    assert abs(off.confidence - centred.confidence) < decoder.SPATIAL_WEIGHT // 4


def test_the_threshold_decides(db):
    assert db.suggest("teh", threshold=10**9).autocorrect is False
    assert db.suggest("thee", threshold=-(10**9)).autocorrect is True
    assert db.suggest("thee", threshold=-(10**9), k=1).suggestions[0].word == "the"


def test_an_unknown_word_is_scored_below_unk(db):
    strip = db.suggest("tje")  # not a word; j is next to h
    assert strip.correction.word == "the" and strip.autocorrect


def test_the_first_keystroke_is_never_dropped_or_inserted(db):
    assert "tomorrow" not in words(db.suggest("omorrow", k=10))
    assert "the" not in words(db.suggest("xthe", k=10))


def test_one_keystroke_allows_no_edit(db):
    assert max_edits(1) == 0
    assert words(db.suggest("r", k=10)) == []  # r is next to t, but one key is taken as is


def test_next_word_is_predict(db):
    strip = db.suggest("see you ")
    assert strip.typed is None and strip.correction is None and not strip.autocorrect
    assert strip.suggestions == db.predict("see you ")


def test_touch_points_decide_between_neighbours(db):
    # "thr": r is next to e; a touch on r's far side is less likely meant for e.
    near_e = db.suggest("thr", touches=[None, None, (3.05, 0.75)])
    far_from_e = db.suggest("thr", touches=[None, None, (3.6, 0.75)])
    assert near_e.correction.word == far_from_e.correction.word == "the"
    assert near_e.confidence > far_from_e.confidence


def test_touches_must_match_the_word(db):
    with pytest.raises(ValueError, match="3 characters"):
        db.suggest("the", touches=[(1, 1)])
    with pytest.raises(ValueError, match="not finite"):
        db.suggest("the", touches=[(1, 1), (float("nan"), 1), None])
    with pytest.raises(ValueError, match=r"\(x, y\)"):
        db.suggest("the", touches=[(1, 1), "ab", None])


def test_suggest_checks_its_arguments(db):
    with pytest.raises(TypeError):
        db.suggest(b"the")
    with pytest.raises(TypeError):
        db.suggest("the", threshold=1.5)
    with pytest.raises(ValueError):
        db.suggest("the", k=-1)
    with pytest.raises(keyglide.LayoutError, match="qwerty"):
        db.suggest("the", layout="dvorak")


def test_adversarial_input_is_bounded(db):
    rng = random.Random(4)
    letters = "".join(rng.choice(string.ascii_lowercase) for _ in range(40))
    assert db.suggest(letters).correction is None
    assert db.suggest("x" * 64).suggestions == []
    assert db.suggest("x" * 65).suggestions == []


def test_the_work_is_bounded_by_the_edit_budget():
    """The rows computed for 40 random letters over a large vocabulary stay few: the budget,
    not the vocabulary, bounds the walk."""
    rng = random.Random(1)
    vocab = sorted(
        {"".join(rng.choices("etaoinshrdlu", k=rng.randint(2, 9))) for _ in range(20000)}
    )
    word_bytes = [b"<unk>", b"<s>", b"</s>", *(w.encode() for w in vocab)]
    walk = _CountingDecoder(word_bytes.__getitem__, len(word_bytes), QWERTY)
    for length in (5, 12, 40):
        typed = "".join(rng.choice(string.ascii_lowercase) for _ in range(length))
        walk.rows = 0
        list(walk.nodes(decoder.keystrokes(typed, [None] * length, QWERTY)))
        assert walk.rows < 3000, (length, walk.rows)


class _CountingDecoder(Decoder):
    rows = 0

    def _row(self, rows, path, char):
        self.rows += 1
        return super()._row(rows, path, char)


# --- the spatial model -----------------------------------------------------------------------


def test_spatial_cost_is_the_gaussian_on_the_grid():
    e = QWERTY.grid[QWERTY.key_of("e")]
    assert spatial_cost(e.x, e.y, e) == 0
    r = QWERTY.grid[QWERTY.key_of("r")]
    # One key width away: the weight itself; a row away (1.5 units, one key height) too.
    assert spatial_cost(r.x, r.y, e) == decoder.SPATIAL_WEIGHT
    d = QWERTY.grid[QWERTY.key_of("d")]
    assert spatial_cost(d.x, d.y, e) <= SUBSTITUTION_LIMIT
    p = QWERTY.grid[QWERTY.key_of("p")]
    assert spatial_cost(p.x, p.y, e) == SPATIAL_CAP


def test_shipped_layouts_put_neighbours_next_to_each_other():
    for name, left, right in (("qwerty", "r", "t"), ("azerty", "a", "z"), ("qwertz", "t", "z")):
        layout = Layout.named(name)
        a, b = (layout.grid[layout.key_of(c)] for c in (left, right))
        assert spatial_cost(a.x, a.y, b) == decoder.SPATIAL_WEIGHT, name
    assert Layout.named("qwerty").key_of("é") == Layout.named("qwerty").key_of("e")


def test_a_layout_file_round_trips(tmp_path):
    path = tmp_path / "abc.json"
    path.write_text(
        '{"format": "keyglide-layout-1", "name": "abc", "keys": ['
        '{"char": "a", "x": 0.5, "y": 0.5, "width": 1, "height": 1, "alternates": "á"},'
        '{"char": "b", "x": 1.5, "y": 0.5, "width": 1, "height": 1}]}'
    )
    layout = Layout.load(path)
    assert layout.name == "abc" and layout.centre("á") == (0.5, 0.5)
    assert layout.key_of("c") is None


@pytest.mark.parametrize(
    "document, problem",
    [
        ("not json", "not a JSON layout"),
        ('{"format": "other", "keys": []}', "format must be"),
        ('{"format": "keyglide-layout-1", "keys": []}', "1 to 128 keys"),
        ('{"format": "keyglide-layout-1", "keys": [{"char": "a"}]}', "lacks 'x'"),
        (
            '{"format": "keyglide-layout-1", "keys": [{"char": "A", "x": 0, "y": 0, '
            '"width": 1, "height": 1}]}',
            "not a folded character",
        ),
        (
            '{"format": "keyglide-layout-1", "keys": [{"char": "a", "x": 0, "y": 0, '
            '"width": 0, "height": 1}]}',
            "width must be",
        ),
        (
            '{"format": "keyglide-layout-1", "keys": [{"char": "a", "x": 1e9, "y": 0, '
            '"width": 1, "height": 1}]}',
            "x must lie",
        ),
        (
            '{"format": "keyglide-layout-1", "keys": ['
            '{"char": "a", "x": 0, "y": 0, "width": 1, "height": 1},'
            '{"char": "b", "x": 1, "y": 0, "width": 1, "height": 1, "alternates": "a"}]}',
            "on two keys",
        ),
    ],
)
def test_a_bad_layout_is_a_layout_error(document, problem):
    with pytest.raises(keyglide.LayoutError, match=problem):
        Layout.from_json(document)


# --- the trie walk equals the per-word definition --------------------------------------------


def per_word_penalty(word: str, typed: decoder.Keystrokes, layout: Layout) -> int | None:
    """The least penalty of typing a prefix of ``word`` as ``typed``, by the recurrence of the
    module docstring applied to the word alone (no trie, no pruning), or None."""
    walk = Decoder(lambda i: b"", 0, layout)
    walk._typed, walk._m, walk._budget = typed, len(typed.chars), max_edits(len(typed.chars))
    m, budget = walk._m, walk._budget
    inf = None
    rows = [[[inf] * (budget + 1) for _ in range(m + 1)]]
    rows[0][0][0] = 0
    best = None
    for d, char in enumerate(word, start=1):
        prev = rows[d - 1]
        grand = rows[d - 2] if d >= 2 else None
        before = word[d - 2] if d >= 2 else None
        row = [[inf] * (budget + 1) for _ in range(m + 1)]
        for j in range(m + 1):
            for e in range(budget + 1):
                costs = []
                if j >= 1 and char in "'-" and prev[j][e] is not None:
                    costs.append(prev[j][e] + JOINER)
                if j >= 1 and char not in "'-" and e >= 1 and prev[j][e - 1] is not None:
                    costs.append(prev[j][e - 1] + (DOUBLE if char == before else OMIT))
                if j >= 1:
                    matched = walk._match(j - 1, char)
                    if matched and e >= matched[1] and prev[j - 1][e - matched[1]] is not None:
                        costs.append(prev[j - 1][e - matched[1]] + matched[0])
                if j >= 2 and e >= 1 and row[j - 1][e - 1] is not None:
                    doubled = typed.chars[j - 1] == typed.chars[j - 2]
                    costs.append(row[j - 1][e - 1] + (DOUBLE if doubled else INSERT))
                if (
                    grand is not None
                    and j >= 2
                    and e >= 1
                    and before != char
                    and typed.chars[j - 2] == char
                    and typed.chars[j - 1] == before
                    and grand[j - 2][e - 1] is not None
                ):
                    swap = TRANSPOSE + walk._touch(j - 2, char) + walk._touch(j - 1, before)
                    costs.append(grand[j - 2][e - 1] + swap)
                row[j][e] = min(costs) if costs else None
        rows.append(row)
        ends = [c for c in row[m] if c is not None]
        if ends:
            best = min(ends) if best is None else min(best, min(ends))
    return best


ALPHABET = "thequickbrownfxjmpsvlazydg'é"


@settings(max_examples=examples(150), deadline=None)
@given(
    vocab=st.sets(st.text(ALPHABET, min_size=1, max_size=7), min_size=1, max_size=60),
    typed=st.text(ALPHABET, min_size=1, max_size=7),
    touches=st.lists(
        st.one_of(st.none(), st.tuples(st.floats(-1, 11), st.floats(-1, 6))), min_size=7, max_size=7
    ),
)
def test_the_trie_walk_equals_the_per_word_penalty(vocab, typed, touches):
    words = sorted(vocab, key=str.encode)
    word_bytes = [b"<unk>", b"<s>", b"</s>", *(w.encode() for w in words)]
    keys = decoder.keystrokes(typed, touches[: len(typed)], QWERTY)
    walk = Decoder(word_bytes.__getitem__, len(word_bytes), QWERTY)
    found: dict[int, int] = {}
    for node in walk.nodes(keys):
        for i in range(node.lo, node.hi):
            found[i] = min(found.get(i, node.penalty), node.penalty)
    expected = {}
    for i, word in enumerate(words, start=FIRST_WORD_ID):
        penalty = per_word_penalty(word, keys, QWERTY)
        if penalty is not None:
            expected[i] = penalty
    assert found == expected


def test_custom_layouts_decode():
    layout = Layout("two", [Key("a", 0, 0, 1, 1), Key("b", 1, 0, 1, 1, "ḃ")])
    keys = decoder.keystrokes("ab", [None, None], layout)
    assert keys.points == ((0, 0), (256, 0))
    assert per_word_penalty("aḃ", keys, layout) == ACCENT
    assert per_word_penalty("ba", keys, layout) == TRANSPOSE


def test_a_transposition_of_the_first_two_letters_is_found_below_a_dead_node():
    """``ocst``: the node ``c`` aligns with nothing (o and c are not neighbours), yet ``co``
    is ``oc`` swapped: the walk must not prune the dead node's transposing child."""
    words = ["cost", "cot"]
    word_bytes = [b"<unk>", b"<s>", b"</s>", *(w.encode() for w in words)]
    walk = Decoder(word_bytes.__getitem__, len(word_bytes), QWERTY)
    keys = decoder.keystrokes("ocst", [None] * 4, QWERTY)
    nodes = [n for n in walk.nodes(keys) if n.whole]
    assert [(n.lo, n.penalty) for n in nodes] == [(3, TRANSPOSE)]
    assert per_word_penalty("cost", keys, QWERTY) == TRANSPOSE
