"""Format 1.1's blocklist: words that are never suggested.

The writer writes it (minor 1, the BLOCKLIST bit optional or required), both readers check it
at open and in ``verify()``, and both engines leave blocked words out of every suggestion
list, identically, while scores and log-probabilities stay as they were.
"""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
from conftest import Oracle, examples, models, random_model, typed_texts, whole, written
from hypothesis import given, settings
from hypothesis import strategies as st
from keyglide.engines import native
from keyglide.engines.reference import ReferenceEngine
from keyglide.errors import BuildError, CorruptLangDB
from keyglide.format import (
    FIRST_WORD_ID,
    HEADER,
    SECTION_ENTRY,
    SPECIAL_TOKENS,
    Feature,
    Header,
    Kind,
    header_crc,
    section_id,
)
from keyglide.reader import LangDBFile

AVAILABLE, WHY = native.available()
KS = st.sampled_from([0, 1, 2, 3, 5, 16, 17, 40])


def with_blocklist(model, blocked, required=False):
    return dataclasses.replace(
        model, blocklist=np.array(sorted(set(blocked)), dtype=np.int64), blocklist_required=required
    )


def top_words(model, content: str, k: int) -> list[int]:
    """The ids the model without a blocklist suggests first: the words worth blocking."""
    oracle = Oracle(dataclasses.replace(model, blocklist=None))
    ids = {w: i for i, w in enumerate(model.vocab)}
    return [ids[w] for w, _ in oracle.predict(content, k)]


@st.composite
def blocked_models(draw):
    model = draw(models(max_words=30))
    words = list(range(FIRST_WORD_ID, len(model.vocab)))
    how = draw(st.sampled_from(["random", "top", "all", "none"]))
    if how == "random":
        blocked = draw(st.lists(st.sampled_from(words), unique=True)) if words else []
    elif how == "top":
        blocked = top_words(model, draw(typed_texts(model.vocab)), draw(st.integers(1, 20)))
    elif how == "all":
        blocked = words
    else:
        blocked = []
    return with_blocklist(model, blocked, required=draw(st.booleans()))


class Both:
    def __init__(self, model) -> None:
        self.model = model
        self.file = LangDBFile.from_buffer(written(model))
        self.reference = ReferenceEngine(self.file)
        self.native = native.NativeEngine(self.file) if AVAILABLE else None
        self.oracle = Oracle(model)
        self.unblocked = ReferenceEngine(
            LangDBFile.from_buffer(written(dataclasses.replace(model, blocklist=None)))
        )

    def close(self) -> None:
        if self.native is not None:
            self.native.close()
        self.file.close()

    def check(self, content: str, k: int) -> None:
        want = self.reference.predict(content, k)
        blocked = {self.model.vocab[int(i)] for i in self.model.blocklist}
        assert [(s.word, s.score) for s in want] == self.oracle.predict(content, k), (content, k)
        assert not blocked & {s.word for s in want}
        # The blocklist only removes words: the rest keep their order and scores.
        more = self.unblocked.predict(content, k + len(blocked))
        full = [s for s in more if s.word not in blocked]
        assert want == full[:k]
        assert self.reference.score_sum(content) == self.unblocked.score_sum(content)
        if self.native is not None:
            assert self.native.predict(content, k) == want, (content, k)
            assert self.native.score_sum(content) == self.reference.score_sum(content)


@given(blocked_models(), st.data())
@settings(max_examples=examples(150))
def test_engines_agree_with_random_blocklists(model, data):
    both = Both(model)
    try:
        both.file.verify()
        if both.native is not None:
            both.native.verify()
        for _ in range(6):
            both.check(data.draw(typed_texts(model.vocab)), data.draw(KS))
    finally:
        both.close()


@pytest.fixture(scope="module", params=[2, 3, 4], ids=lambda n: f"order{n}")
def big_nodes(request):
    """Nodes with top lists, and the top candidates of many contexts blocked: the kernel's
    early stop and the fallback scan of exhausted top lists must both skip them."""
    order = request.param
    rng = random.Random(order)
    vocab = [*SPECIAL_TOKENS, *sorted({f"w{i:03d}" for i in range(200)})]
    model = random_model(seed=order, vocab=vocab, order=order, max_per_order=4000)
    blocked = set()
    for _ in range(40):
        context = " ".join(rng.sample(vocab[3:], rng.randint(0, order)))
        blocked.update(top_words(model, context + " ", rng.choice([1, 3, 16, 17, 20])))
    blocked.update(rng.sample(range(3, len(vocab)), 20))
    both = Both(with_blocklist(model, blocked))
    yield both
    both.close()


@given(st.data())
@settings(max_examples=examples(80))
def test_big_nodes_with_blocked_top_candidates(big_nodes, data):
    vocab = big_nodes.model.vocab[3:]
    context = " ".join(data.draw(st.lists(st.sampled_from(vocab), max_size=4)))
    ending = data.draw(st.sampled_from(["", " ", "w", "w0", "w01", "w1"]))
    if ending not in ("", " ") and context:
        ending = " " + ending
    big_nodes.check(context + ending, data.draw(st.sampled_from([1, 3, 16, 17, 40, 256])))


# --- the file ------------------------------------------------------------------------------


def _model():
    vocab = [*SPECIAL_TOKENS, *sorted({f"w{i:02d}" for i in range(30)})]
    return random_model(seed=3, vocab=vocab, order=3)


def test_without_a_blocklist_the_file_stays_format_1_0():
    data = written(_model())
    with LangDBFile.from_buffer(data) as f:
        assert (f.header.minor, f.header.required_features, f.header.optional_features) == (0, 0, 0)
        assert len(f.blocklist) == 0


@pytest.mark.parametrize("required", [False, True])
def test_header_bits_and_section(required):
    model = with_blocklist(_model(), [5, 9, 20], required=required)
    with LangDBFile.from_buffer(written(model)) as f:
        bit = int(Feature.BLOCKLIST)
        assert f.header.minor == 1
        assert (f.header.required_features, f.header.optional_features) == (
            (bit, 0) if required else (0, bit)
        )
        assert f.ignored_features == 0
        assert whole(f, Kind.BLOCKLIST).tolist() == [5, 9, 20]
        f.verify()


@pytest.mark.parametrize("blocked", [[2], [5, 5], [9, 5], [33]])
def test_the_writer_refuses_a_bad_blocklist(blocked):
    model = dataclasses.replace(_model(), blocklist=np.array(blocked))
    with pytest.raises(BuildError):
        written(model)


def _patched(data: bytes, header=None, section=None) -> bytes:
    """``data`` with its header fields replaced and/or the BLOCKLIST values overwritten."""
    out = bytearray(data)
    h = Header(*HEADER.unpack_from(out, 0)[1:])
    if header:
        h = dataclasses.replace(h, **header)
    if section is not None:
        for i in range(h.section_count):
            sid, elem_type, offset, length, _ = SECTION_ENTRY.unpack_from(
                out, HEADER.size + i * SECTION_ENTRY.size
            )
            if sid == section_id(Kind.BLOCKLIST):
                width = length // len(section)
                for j, v in enumerate(section):
                    out[offset + j * width : offset + (j + 1) * width] = v.to_bytes(width, "little")
    out[: HEADER.size] = h.pack()
    crc = header_crc(bytes(out[: h.header_size]))
    out[: HEADER.size] = dataclasses.replace(h, header_crc32=crc).pack()
    return bytes(out)


def _both_refuse_at_open(data: bytes) -> None:
    with pytest.raises(CorruptLangDB):
        LangDBFile.from_buffer(data)
    if AVAILABLE:
        with pytest.raises(CorruptLangDB):
            native.NativeEngine.from_buffer(data)


def test_a_section_without_its_bit_is_corrupt():
    data = written(with_blocklist(_model(), [5]))
    _both_refuse_at_open(_patched(data, header={"optional_features": 0}))


def test_a_bit_without_its_section_is_corrupt():
    data = written(_model())
    _both_refuse_at_open(_patched(data, header={"minor": 1, "optional_features": 1}))
    _both_refuse_at_open(_patched(data, header={"minor": 1, "required_features": 1}))


@pytest.mark.parametrize("values", [[9, 5, 20], [5, 5, 20], [1, 9, 20], [5, 9, 33]])
def test_verify_checks_the_blocklist(values):
    data = written(with_blocklist(_model(), [5, 9, 20]))
    # Rewrite the values (and not the CRC): verify() checks the CRC first, so fix it up.
    bad = bytearray(_patched(data, section=values))
    with LangDBFile.from_buffer(bytes(bad)) as f:
        entry = next(e for e in f.entries if e.id == section_id(Kind.BLOCKLIST))
    import zlib

    crc = zlib.crc32(bad[entry.offset : entry.offset + entry.length])
    i = next(
        i
        for i in range(len(f.entries))
        if SECTION_ENTRY.unpack_from(bad, HEADER.size + i * SECTION_ENTRY.size)[0] == entry.id
    )
    at = HEADER.size + i * SECTION_ENTRY.size + 24
    bad[at : at + 4] = crc.to_bytes(4, "little")
    bad = _patched(bytes(bad))
    with LangDBFile.from_buffer(bad) as f:
        with pytest.raises(CorruptLangDB, match="BLOCKLIST"):
            f.verify()
    if AVAILABLE:
        db = native.NativeEngine.from_buffer(bad)
        try:
            with pytest.raises(CorruptLangDB):
                db.verify()
        finally:
            db.close()


# --- the builder ---------------------------------------------------------------------------


def _corpus(tmp_path):
    rng = random.Random(4)
    nouns = "cat dog house tree river king queen child letter garden".split()
    verbs = "sees finds loves keeps writes opens".split()
    sentences = [
        f"The {rng.choice(nouns)} {rng.choice(verbs)} the {rng.choice(nouns)}." for _ in range(800)
    ]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(" ".join(sentences) + "\n", encoding="utf-8")
    return corpus


def test_a_recipe_blocklist(tmp_path):
    from keyglide.builder import Recipe, build

    _corpus(tmp_path)
    words = tmp_path / "words.txt"
    words.write_text("Cat\n\nQUEEN\nunicorn\n", encoding="utf-8")
    recipe_file = tmp_path / "r.toml"
    recipe_file.write_text(
        'name = "r"\norder = 3\ndiscount_fallback = true\n'
        'blocklist = { path = "words.txt", required = true }\n'
        '[[inputs]]\npaths = ["corpus.txt"]\n',
        encoding="utf-8",
    )
    lines = []
    recipe = Recipe.from_toml(recipe_file)
    result = build(recipe, tmp_path / "r.langdb", jobs=1, progress=lines.append, source_commit=None)
    assert any("unicorn" in line for line in lines)
    record = result.meta["blocklist"]
    assert record["required"] and record["ignored"] == ["unicorn"] and record["blocked"] == 2
    assert len(record["sha256"]) == 64
    assert result.meta["recipe"]["blocklist"] == {"name": "words.txt", "required": True}
    with LangDBFile.open(result.path) as f:
        f.verify()
        assert f.header.minor == 1 and f.header.required_features == int(Feature.BLOCKLIST)
        assert [f.word(int(i)) for i in f.blocklist] == ["cat", "queen"]
        assert f.meta["blocklist"]["sha256"] == record["sha256"]
        engine = ReferenceEngine(f)
        for q in ["The ", "The old ", "the c", "the q", ""]:
            assert not {"cat", "queen"} & {s.word for s in engine.predict(q, 50)}
    # Without the blocklist the same recipe builds a format 1.0 file.
    plain = dataclasses.replace(recipe, blocklist=None, blocklist_required=False)
    result = build(plain, tmp_path / "p.langdb", jobs=1, progress=False, source_commit=None)
    assert "blocklist" not in result.meta and "blocklist" not in result.meta["recipe"]
    with LangDBFile.open(result.path) as f:
        assert (f.header.minor, f.header.required_features, f.header.optional_features) == (0, 0, 0)


def test_cli_blocklist(tmp_path, capsys):
    from keyglide.cli import main

    corpus = _corpus(tmp_path)
    words = tmp_path / "words.txt"
    words.write_text("dog\n", encoding="utf-8")
    out = tmp_path / "c.langdb"
    args = ["build", "--corpus", str(corpus), "--order", "2", "--discount-fallback", "-q"]
    assert main([*args, "--out", str(out), "--blocklist", str(words)]) == 0
    with LangDBFile.open(out) as f:
        assert f.header.optional_features == int(Feature.BLOCKLIST)
        assert [f.word(int(i)) for i in f.blocklist] == ["dog"]
    assert main([*args, "--out", str(out), "--blocklist", str(words), "--blocklist-required"]) == 0
    with LangDBFile.open(out) as f:
        assert f.header.required_features == int(Feature.BLOCKLIST)
    assert main([*args, "--out", str(out), "--blocklist-required"]) != 0


# --- the 1.1 fixtures, as this SDK and as SDK 1.0 see them ---------------------------------


def test_the_1_1_fixtures_as_1_0_readers_see_them():
    import json
    from pathlib import Path

    from keyglide import compat

    fixtures = Path(__file__).resolve().parents[1] / "langdb" / "fixtures" / "1.1"
    optional = fixtures / "blocklist-optional-3.langdb"
    required = fixtures / "blocklist-required-2.langdb"
    assert compat.negotiate(optional, "1.0.0").status == "degraded"
    assert compat.negotiate(optional, "1.0.0").ignored_features == ("BLOCKLIST",)
    outcome = compat.negotiate(required, "1.0.0")
    assert outcome.status == "unsupported" and outcome.first_reader == "1.1.0"
    assert compat.negotiate(required).status == "full"
    # A reader that ignores the blocklist gives the recorded degraded answers.
    expected = json.loads(
        (fixtures / "blocklist-optional-3.expected.json").read_text(encoding="utf-8")
    )
    with LangDBFile.open(optional) as f:
        engine = ReferenceEngine(f)
        engine._blocked = np.zeros(0, dtype=np.int64)
        for case in expected["degraded"]["cases"]:
            got = [[s.word, s.score] for s in engine.predict(case["text"], expected["k"])]
            assert got == case["suggestions"], case
