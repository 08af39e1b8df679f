"""Typing with mistakes, simulated (keyglide.noisy), and `keyglide eval --noise`."""

from __future__ import annotations

import json

import keyglide
import pytest
from keyglide import cli
from keyglide.keyboard import Layout
from keyglide.noisy import NoiseModel, Typist, evaluate_noisy
from test_decoder import db_path  # noqa: F401 (the fixture)

QWERTY = Layout.named("qwerty")
TEXT = "see you tomorrow. the form. see you then. you pass the zebra.\n" * 6


@pytest.fixture
def db(db_path):  # noqa: F811
    with keyglide.open(db_path, engine="reference") as handle:
        yield handle


def test_the_noise_model_checks_its_parameters():
    with pytest.raises(ValueError, match="probability"):
        NoiseModel(drop=1.5)
    with pytest.raises(ValueError, match="exceed 1"):
        NoiseModel(drop=0.5, double=0.5, swap=0.5)
    with pytest.raises(ValueError, match="touch_sigma"):
        NoiseModel(touch_sigma=float("nan"))


def test_mistakes_are_the_ones_the_model_names():
    assert Typist(QWERTY, NoiseModel(drop=1.0, double=0, swap=0)).mistype("word") == ""
    assert Typist(QWERTY, NoiseModel(drop=0, double=1.0, swap=0)).mistype("ab") == "aabb"
    assert Typist(QWERTY, NoiseModel(drop=0, double=0, swap=1.0)).mistype("abc") == "bac"
    exact = Typist(QWERTY, NoiseModel(touch_sigma=0.0, drop=0, double=0, swap=0))
    typed, points = exact.touch("café1")
    assert typed == "café1" and points[0] == QWERTY.centre("c") and points[4] is None


def test_a_seed_reproduces_a_run():
    def run(seed):
        typist = Typist(QWERTY, NoiseModel(touch_sigma=0.5, drop=0.1, seed=seed))
        return [typist.touch(typist.mistype("keyboard")) for _ in range(20)]

    assert run(3) == run(3) and run(3) != run(4)


def test_without_noise_nothing_is_mistyped_or_changed(db):
    model = NoiseModel(touch_sigma=0.0, drop=0, double=0, swap=0)
    result = evaluate_noisy(db, TEXT, model=model)
    assert result.words == 6 * 12 and result.typos == 0
    assert result.changed == 0 and result.wer_after == 0 and result.clean_changed_rate == 0
    assert 0 < result.ksr < 1 and result.completion_asked > 0


def test_with_noise_the_counts_add_up(db):
    model = NoiseModel(touch_sigma=0.3, drop=0.05, double=0.05, swap=0.05, seed=2)
    result = evaluate_noisy(db, TEXT, model=model, keep_examples=5)
    assert result.typos > 0 and result.corrected > 0
    assert result.corrected <= min(result.changed, result.typos)
    assert result.wrong_after <= result.words and len(result.examples) <= 5
    assert result.wer_after < result.wer_before  # the decoder fixes more than it breaks
    figures = result.to_dict()
    assert figures["counts"]["typos"] == result.typos and figures["noise"]["seed"] == 2
    assert "auto-correction F-score" in result.summary()


def test_eval_noise_on_the_command_line(db_path, tmp_path, capsys):  # noqa: F811
    text = tmp_path / "text.txt"
    text.write_text(TEXT, encoding="utf-8")
    out = tmp_path / "noise.json"
    argv = ["eval", "--noise", "--db", db_path, "--text", str(text), "-q", "--engine",
            "reference", "--typo-rate", "0.05", "--seed", "1", "--json", str(out)]  # fmt: skip
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "auto-correction F-score" in printed and "KSR under noise" in printed
    assert json.loads(out.read_text())["noise"]["drop"] == 0.05
    assert cli.main(["eval", "--db", db_path, "--text", str(text), "--threshold", "5"]) != 0
    assert "only apply with --noise" in capsys.readouterr().err


def test_predict_marks_the_autocorrection(db_path, capsys):  # noqa: F811
    assert cli.main(["predict", "--db", db_path, "--engine", "reference", "teh"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert rows[0] == ["the", rows[0][1], "autocorrect"]
    assert cli.main(["predict", "--db", db_path, "--engine", "reference", "--exact", "teh"]) == 0
    assert capsys.readouterr().out == ""
    assert cli.main(["predict", "--db", db_path, "--layout", "nowhere.json", "teh"]) == 2
    assert "shipped layouts are qwerty" in capsys.readouterr().err


def test_a_mistyped_joiner_that_splits_the_word_is_typed_without_error(db):
    """Swapping ``s'`` in ``s'pose`` types ``'spose``, whose word is ``spose``: the touches
    given are those of the characters the decoder reads as the word."""
    model = NoiseModel(touch_sigma=0.1, drop=0, double=0, swap=1.0)
    result = evaluate_noisy(db, "I s'pose you don't.\n" * 3, model=model)
    assert result.words == 3 * 4 and result.typos > 0
