"""Format 1.2's display forms: how a folded word is shown (``I``, ``London``).

The builder learns them from how the text writes each word (sentence-initial tokens not
counted), the writer stores them (minor 2, the DISPLAY_FORMS bit optional), the reader
checks them at open and in ``verify()``, and predictions are spelled with them while the
words, order and scores stay those of the folded model. The C kernel's side is checked in
test_native.py and test_equivalence.py.
"""

from __future__ import annotations

import dataclasses

import keyglide
import pytest
from conftest import random_model, written
from hypothesis import given
from hypothesis import strategies as st
from keyglide import convert, text
from keyglide.builder import Recipe, build
from keyglide.builder.count import NGramCounts, _count_text, display_forms
from keyglide.builder.write import write_langdb
from keyglide.cli import main
from keyglide.engines.reference import ReferenceEngine
from keyglide.errors import BuildError, CorruptLangDB
from keyglide.format import SPECIAL_TOKENS, Feature, Kind, section_id
from keyglide.reader import LangDBFile

CORPUS = (
    "I think I saw London. Then I went to London and Paris. We like london and paris.\n"
    "Mary met the Dog. The dog saw Mary. She saw the dog and the Dog.\n"
    "Yes. Yes. Yes. Then we said yes.\n"
    "The Ünïcode café and the CAFÉ. We sat in the café.\n"
)


def _spellings(content: str) -> dict[str, int]:
    return _count_text(content, 2, spellings=True).spellings


def _forms(content: str) -> dict[str, str]:
    shard = _count_text(content, 2, spellings=True)
    vocab = [*SPECIAL_TOKENS, *sorted(shard.words)]
    counts = NGramCounts(vocab, [], 0, 0, 0, spellings=shard.spellings)
    return {vocab[i]: form for i, form in display_forms(counts).items()}


# --- the builder's rule -------------------------------------------------------------------


def test_sentence_initial_tokens_are_not_counted():
    spellings = _spellings("Yes. Yes. Then we said yes and Yes.")
    # Only "Then" is initial in sentence 3; "Yes" is counted once (mid-sentence), "yes" once.
    assert spellings == {"we": 1, "said": 1, "yes": 1, "and": 1, "Yes": 1}


def test_the_most_frequent_spelling_wins_and_the_folded_one_wins_ties():
    forms = _forms(CORPUS)
    assert forms["i"] == "I" and forms["london"] == "London" and forms["mary"] == "Mary"
    assert forms["ünïcode"] == "Ünïcode"
    assert "café" not in forms  # "café" twice, "CAFÉ" once
    assert "dog" not in forms  # "dog" twice, "Dog" twice: a tie, the folded spelling wins
    assert "paris" not in forms  # "Paris" once, "paris" once: a tie
    assert "yes" not in forms  # only sentence starts write "Yes"
    assert "the" not in forms  # "The" only starts sentences


@given(st.text(alphabet=st.sampled_from("aAbBİıßẞ’'-. \n"), max_size=80))
def test_every_form_folds_to_its_word(content):
    for word, form in _forms(content).items():
        assert form != word and text.fold(form) == word


def _recipe(tmp_path, display_forms=True) -> Recipe:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS * 20, encoding="utf-8")
    return Recipe.from_args(
        corpus=[corpus],
        order=3,
        discount_fallback=True,
        display_forms=display_forms,
    )


def test_a_build_with_display_forms(tmp_path):
    recipe = _recipe(tmp_path)
    result = build(recipe, tmp_path / "d.langdb", jobs=1, progress=False, source_commit=None)
    assert result.meta["display_forms"] == {"words": 4}
    assert result.meta["recipe"]["display_forms"] is True
    plain = build(
        dataclasses.replace(recipe, display_forms=False),
        tmp_path / "p.langdb",
        jobs=1,
        progress=False,
        source_commit=None,
    )
    assert "display_forms" not in plain.meta and "display_forms" not in plain.meta["recipe"]
    with LangDBFile.open(result.path) as f, LangDBFile.open(plain.path) as p:
        f.verify()
        assert (f.header.minor, f.header.required_features) == (2, 0)
        assert f.header.optional_features == int(Feature.DISPLAY_FORMS)
        assert (p.header.minor, p.header.optional_features) == (0, 0)
        shown = {f.word(i): form.decode() for i, form in f.display_forms().items()}
        assert shown == {"i": "I", "london": "London", "mary": "Mary", "ünïcode": "Ünïcode"}
        assert f.display(f.lookup("london")) == "London" and f.display(f.lookup("dog")) == "dog"
        displayed, folded = ReferenceEngine(f), ReferenceEngine(p)
        for query in ["Then ", "", "we saw ", "lon", "she saw m", "Then i went to L"]:
            a, b = displayed.predict(query, 10), folded.predict(query, 10)
            # The same words in the same order with the same scores, spelled as shown.
            assert [(text.fold(w), s) for w, s in a] == b
            assert {w for w, _ in a} & {"I", "London", "Mary"} or query in ("Then ", "")


def test_the_api_and_the_cli_show_display_forms(tmp_path, capsys):
    out = tmp_path / "cli.langdb"
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS * 20, encoding="utf-8")
    args = ["build", "--corpus", str(corpus), "--order", "2", "--discount-fallback", "--quiet"]
    assert main([*args, "--display-forms", "--out", str(out)]) == 0
    capsys.readouterr()
    with keyglide.open(out) as db:
        assert db.compat.status == "full"
        assert [s.word for s in db.predict("to lo", 3)] == ["London"]
    assert main(["predict", "--db", str(out), "went to lo"]) == 0
    assert capsys.readouterr().out.startswith("London\t")


def test_a_recipe_key(tmp_path):
    toml = tmp_path / "r.toml"
    toml.write_text(
        'name = "r"\norder = 2\ndisplay_forms = true\n[[inputs]]\npaths = ["c.txt"]\n',
        encoding="utf-8",
    )
    assert Recipe.from_toml(toml).display_forms is True
    toml.write_text(
        'name = "r"\norder = 2\ndisplay_forms = "yes"\n[[inputs]]\npaths = ["c.txt"]\n',
        encoding="utf-8",
    )
    with pytest.raises(BuildError, match="display_forms"):
        Recipe.from_toml(toml)


def test_evaluation_compares_words_not_spellings(tmp_path):
    recipe = _recipe(tmp_path)
    shown = build(recipe, tmp_path / "d.langdb", jobs=1, progress=False, source_commit=None)
    plain = build(
        dataclasses.replace(recipe, display_forms=False),
        tmp_path / "p.langdb",
        jobs=1,
        progress=False,
        source_commit=None,
    )
    held_out = "Then I went to London. Mary saw the dog."
    for engine in ("reference", "auto"):
        with keyglide.open(shown.path, engine=engine) as a, keyglide.open(plain.path) as b:
            ra = keyglide.evaluate(a, held_out, hide_offered=True)
            rb = keyglide.evaluate(b, held_out, hide_offered=True)
            assert ra.keys_with < ra.keys_without and ra.next_word_topk > 0
            assert (ra.keys_with, ra.keys_with_hide_offered, ra.by_prefix) == (
                rb.keys_with,
                rb.keys_with_hide_offered,
                rb.by_prefix,
            )


# --- the writer and the reader ------------------------------------------------------------


def _model(forms: dict[int, str] | None = None):
    vocab = [*SPECIAL_TOKENS, "don't", "i", "london", "paris", "well-known", "x1"]
    model = random_model(seed=3, vocab=vocab, order=2, max_per_order=30)
    return dataclasses.replace(model, display_forms=forms)


GOOD = {4: "I", 5: "London", 3: "Don’t", 7: "Well‐Known"}


def test_the_sections_and_the_lookup():
    with LangDBFile.from_buffer(written(_model(GOOD))) as f:
        f.verify()
        assert f.has_display_forms
        assert [f.display(i) for i in range(3, 9)] == [
            "Don’t",
            "I",
            "London",
            "paris",
            "Well‐Known",
            "x1",
        ]
        assert f.column(Kind.DISPLAY_IDS).slice(0, 4).tolist() == [3, 4, 5, 7]
    with LangDBFile.from_buffer(written(_model({}))) as f:  # the feature with no forms
        f.verify()
        assert f.header.minor == 2 and f.display_forms() == {} and f.display(4) == "i"
    with LangDBFile.from_buffer(written(_model(None))) as f:
        assert f.header.minor == 0 and not f.has_display_forms and f.display(4) == "i"


@pytest.mark.parametrize(
    "forms, problem",
    [
        ({4: "i"}, "the word itself"),
        ({4: "J"}, "does not fold"),
        ({5: "London."}, "does not fold"),
        ({5: "LONDONS"}, "does not fold"),
        ({2: "</S>"}, "not a word id"),
        ({9: "X"}, "not a word id"),
        ({4: "\ud800"}, "not UTF-8"),
    ],
)
def test_the_writer_refuses_bad_forms(tmp_path, forms, problem):
    with pytest.raises(BuildError, match=problem):
        write_langdb(tmp_path / "bad.langdb", _model(forms))


def _rewritten(data: bytes, kind: Kind, values: bytes) -> bytes:
    """``data`` with section ``kind``'s bytes replaced in place (same length) and its CRC
    fixed, so that only the invariant of section 10 is broken."""
    import struct
    import zlib

    from keyglide.format import HEADER, SECTION_ENTRY, header_crc

    out = bytearray(data)
    f = LangDBFile.from_buffer(data)
    index = next(i for i, e in enumerate(f.entries) if e.id == section_id(kind))
    entry = f.entries[index]
    f.close()
    assert len(values) == entry.length
    out[entry.offset : entry.offset + entry.length] = values
    at = HEADER.size + index * SECTION_ENTRY.size
    struct.pack_into("<I", out, at + 24, zlib.crc32(values))
    struct.pack_into("<I", out, 48, header_crc(bytes(out[: f.header.header_size])))
    return bytes(out)


@pytest.mark.parametrize(
    "kind, values, problem",
    [
        (Kind.DISPLAY_BYTES, "Don’tILondoX".encode(), "does not fold"),
        (Kind.DISPLAY_BYTES, b"\xff" + "on’tILondon".encode(), "not UTF-8"),
        (Kind.DISPLAY_IDS, bytes([3, 3, 5]), "strictly increasing"),
        (Kind.DISPLAY_IDS, bytes([2, 4, 5]), "not a word id"),
        (Kind.DISPLAY_OFFSETS, bytes(4) + (9).to_bytes(4, "little") + bytes(8), "decrease"),
    ],
)
def test_verify_checks_the_forms(kind, values, problem):
    data = written(_model({3: "Don’t", 4: "I", 5: "London"}))
    if kind is Kind.DISPLAY_OFFSETS:  # keep the first and last offsets: only verify sees it
        values = values[:12] + data_offsets_end(data)
    damaged = _rewritten(data, kind, values)
    with LangDBFile.from_buffer(damaged) as f:
        with pytest.raises(CorruptLangDB, match=problem):
            f.verify()


def data_offsets_end(data: bytes) -> bytes:
    with LangDBFile.from_buffer(data) as f:
        return f.column(Kind.DISPLAY_OFFSETS)[3].to_bytes(4, "little")


def test_missing_or_unannounced_sections_are_corrupt():
    with_forms = written(_model(GOOD))
    plain = written(_model(None))
    # The bit without the sections, and the sections without the bit.
    from keyglide.format import HEADER

    def with_optional(data: bytes, optional: int) -> bytes:
        import struct

        from keyglide.format import header_crc

        out = bytearray(data)
        struct.pack_into("<Q", out, 24, optional)
        struct.pack_into("<I", out, 48, header_crc(bytes(out[: HEADER.unpack_from(out)[3]])))
        return bytes(out)

    for data, optional in [(plain, int(Feature.DISPLAY_FORMS)), (with_forms, 0)]:
        with pytest.raises(CorruptLangDB):
            LangDBFile.from_buffer(with_optional(data, optional))


# --- converting ---------------------------------------------------------------------------


def test_convert_drops_display_forms_for_older_releases(tmp_path):
    recipe = _recipe(tmp_path)
    source = build(recipe, tmp_path / "d.langdb", jobs=1, progress=False, source_commit=None)
    out = tmp_path / "out.langdb"
    result = convert(source.path, out, target_sdk=">=1.1")
    # Without its only 1.2 feature the file needs nothing newer than format 1.0.
    assert (result.format, result.dropped) == ("1.0", ["DISPLAY_FORMS"])
    with LangDBFile.open(out) as f:
        f.verify()
        assert f.header.minor == 0 and not f.has_display_forms
        assert f.meta["dropped"] == ["DISPLAY_FORMS"]
        assert f.meta["converted_from"]["display_forms"] == {"words": 4}
    result = convert(source.path, out, target_sdk=">=1.2")
    assert (result.format, result.dropped) == ("1.2", [])
    assert out.read_bytes() == source.path.read_bytes()
    result = convert(source.path, out, format="1.2")
    assert out.read_bytes() == source.path.read_bytes()
    # A blocklist kept, display forms dropped: format 1.1.
    words = tmp_path / "block.txt"
    words.write_text("london\n", encoding="utf-8")
    both = build(
        recipe.with_blocklist(words),
        tmp_path / "b.langdb",
        jobs=1,
        progress=False,
        source_commit=None,
    )
    result = convert(both.path, out, format="1.1")
    assert (result.format, result.dropped) == ("1.1", ["DISPLAY_FORMS"])


def test_cli_build_target_sdk_with_display_forms(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS * 20, encoding="utf-8")
    out = tmp_path / "t.langdb"
    args = ["build", "--corpus", str(corpus), "--order", "2", "--discount-fallback", "--quiet"]
    assert main([*args, "--display-forms", "--target-sdk", ">=1.1", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "DISPLAY_FORMS" in err and "format 1.0" in err
    with LangDBFile.open(out) as f:
        assert not f.has_display_forms
