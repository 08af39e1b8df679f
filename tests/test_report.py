"""keyglide.report: the release report builds from two small langdbs and shows every section;
the release helper (nox -s langdb) records hashes and finds baselines; recipes' [evaluation].

No test here looks at what a langdb suggests: only that the report shows it.
"""

from __future__ import annotations

import os
import random
import re
import sys
import textwrap
import types
import xml.etree.ElementTree as ET
from pathlib import Path

import keyglide
import pytest
from keyglide.builder import Recipe, build
from keyglide.cli import main
from keyglide.errors import BuildError
from keyglide.report import default_examples_path, load_examples, write_report
from keyglide.report.collect import percentile
from keyglide.report.release import differs, find_baseline, record_sha256, release_name

REPO = Path(__file__).resolve().parents[1]
SECTIONS = (
    "Metrics",
    "Charts",
    "Review examples",
    "Which SDK releases read the new file",
    "Provenance",
    "Review checklist",
)
EXAMPLES = """
[[example]]
group = "sentence start"
text = ""

[[example]]
group = "common phrase"
text = "the old "
note = "next word"

[[example]]
group = "completion"
text = "The quiet king sees the qu"
"""


def _corpus(sentences: int, seed: int) -> str:
    rng = random.Random(seed)
    nouns = "king queen child letter garden window city road café".split()
    verbs = "sees finds loves keeps writes opens leaves".split()
    adjectives = "old small green quiet dark happy strange".split()
    out = []
    for _ in range(sentences):
        sentence = (
            f"the {rng.choice(adjectives)} {rng.choice(nouns)} {rng.choice(verbs)} "
            f"the {rng.choice(nouns)}"
        )
        out.append(sentence.capitalize() + rng.choice([". ", "! ", "? "]))
    return "".join(out)


@pytest.fixture(scope="module")
def langdbs(tmp_path_factory) -> dict[str, Path]:
    """Two small langdbs built by the real builder (real provenance), and a held-out text."""
    folder = tmp_path_factory.mktemp("report")
    train = folder / "train.txt"
    train.write_text(_corpus(800, seed=1), encoding="utf-8")
    held_out = folder / "held-out.txt"
    held_out.write_text(_corpus(60, seed=2), encoding="utf-8")
    paths = {"text": held_out}
    for name, order in (("old", 2), ("new", 3)):
        recipe = Recipe.from_args(
            corpus=[train], order=order, name=f"toy-{order}", discount_fallback=True,
            data_version=f"0.0.{order}",
        )
        paths[name] = build(recipe, folder / f"{name}.langdb", jobs=1, progress=False,
                            source_commit=None).path
    examples = folder / "review.toml"
    examples.write_text(EXAMPLES, encoding="utf-8")
    paths["examples"] = examples
    return paths


@pytest.fixture
def no_compat(monkeypatch):
    """As if keyglide.compat did not exist."""
    monkeypatch.setitem(sys.modules, "keyglide.compat", None)
    monkeypatch.delattr(keyglide, "compat", raising=False)


def test_the_report_has_every_section(langdbs, tmp_path, no_compat):
    out = tmp_path / "review"
    report = write_report(
        langdbs["new"], langdbs["old"], langdbs["text"], out, examples=langdbs["examples"],
        latency_calls=100,
    )
    assert report.index == out / "index.html" and report.summary == out / "summary.md"
    page = report.index.read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f"<h2>{section}</h2>" in page
    # Self-contained: inline CSS and SVG, nothing fetched, no script.
    assert "<style>" in page and "<script" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    charts = re.findall(r"<svg.*?</svg>", page, re.S)
    assert len(charts) == 4
    for chart in charts:
        ET.fromstring(chart)  # well-formed
    for title in ("by characters typed", "KSR, suggestions used up to", "latency",
                  "Size by section"):
        assert title in page
    # Metrics side by side, the examples of both files, the provenance difference.
    for metric in ("KSR", "KSR, hide offered", "next word top-1", "next word top-3",
                   "top-3 after 1 letter", "perplexity", "OOV rate", "predictions per second",
                   "file size"):
        assert f"<td>{metric}</td>" in page
    assert page.count("<tr") > 3 + len(SECTIONS)
    assert "the old␣" in page and "(empty: start of text)" in page
    assert "compatibility matrix unavailable" in page
    assert "Format 1.0, required features <code>0x0</code>" in page
    assert "recipe order" in page and "toy-2" in page and "toy-3" in page
    assert "builder version" in page and "input train.txt" in page
    assert len(report.examples) == 3 and report.baseline is not None

    summary = report.summary.read_text(encoding="utf-8")
    assert summary.startswith("## langdb release review: toy-3 0.0.3 against toy-2 0.0.2")
    assert "| KSR |" in summary and "| perplexity |" in summary
    assert "compatibility matrix unavailable" in summary
    assert "### Provenance changes" in summary and "| recipe order | 2 | 3 |" in summary
    assert "### Review examples:" in summary


def test_the_report_asks_the_compatibility_matrix(langdbs, tmp_path, monkeypatch):
    asked = []

    def readers_of(path):
        asked.append(Path(path))
        return [{"sdk": "0.1.0", "reads": "fully", "note": "format 1.0"}]

    fake = types.ModuleType("keyglide.compat")
    fake.readers_of = readers_of
    monkeypatch.setitem(sys.modules, "keyglide.compat", fake)
    monkeypatch.setattr(keyglide, "compat", fake, raising=False)
    report = write_report(
        langdbs["new"], langdbs["old"], langdbs["text"], tmp_path, examples=langdbs["examples"],
        latency_calls=10,
    )
    assert set(asked) == {langdbs["new"], langdbs["old"]}
    page = report.index.read_text(encoding="utf-8")
    assert "<td>fully</td>" in page and "compatibility matrix unavailable" not in page
    assert "reads: fully" in report.summary.read_text(encoding="utf-8")


def test_a_compatibility_module_without_readers_of(langdbs, tmp_path, monkeypatch):
    fake = types.ModuleType("keyglide.compat")
    monkeypatch.setitem(sys.modules, "keyglide.compat", fake)
    monkeypatch.setattr(keyglide, "compat", fake, raising=False)
    report = write_report(langdbs["new"], None, langdbs["text"], tmp_path, latency_calls=10,
                          examples=langdbs["examples"])
    assert "compatibility matrix unavailable (AttributeError" in report.index.read_text("utf-8")


def test_a_first_release_has_no_baseline_column(langdbs, tmp_path, no_compat):
    report = write_report(langdbs["new"], None, [langdbs["text"]], tmp_path, k=2,
                          examples=langdbs["examples"], latency_calls=10)
    summary = report.summary.read_text(encoding="utf-8")
    assert "(first release)" in summary and "| KSR | – |" in summary
    page = report.index.read_text(encoding="utf-8")
    assert "<th>baseline</th><th>new</th></tr><tr><td>" not in page  # no example column
    assert report.baseline is None


def test_the_same_file_on_both_sides_changes_nothing(langdbs, tmp_path, no_compat):
    report = write_report(langdbs["new"], langdbs["new"], langdbs["text"], tmp_path,
                          examples=langdbs["examples"], latency_calls=10)
    summary = report.summary.read_text(encoding="utf-8")
    assert "None: every recorded fact is the same." in summary
    assert "### Review examples: 0 of 3 changed" in summary
    assert "| KSR | " in summary and "| = |" in summary


def test_keyglide_report(langdbs, tmp_path, capsys, no_compat):
    out = tmp_path / "review"
    argv = ["report", str(langdbs["new"]), "--baseline", str(langdbs["old"]),
            "--text", str(langdbs["text"]), "--out", str(out),
            "--examples", str(langdbs["examples"]), "--limit-words", "50", "-q"]
    assert main(argv) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / "index.html"), str(out / "summary.md")]
    assert "first 50 words" in (out / "summary.md").read_text(encoding="utf-8")
    assert main([*argv[:-1], "-k", "0"]) == 2
    assert "keyglide: error: -k must be" in capsys.readouterr().err


def test_the_standard_review_examples_load():
    path = REPO / "langdb" / "examples" / "review.toml"
    examples = load_examples(path)
    assert 35 <= len(examples) <= 50
    groups = {e.group for e in examples}
    assert {"sentence start", "common phrase", "completion", "rare word", "punctuation",
            "name", "number"} <= groups
    assert default_examples_path() == path  # found from a checkout


@pytest.mark.parametrize(
    "body, message",
    [("", "no [[example]]"), ("[[example]]\ngroup = 'x'\n", "no text"),
     ("[[example]]\ntext = 'a'\ncolour = 1\n", "unknown key"), ("[[example", "not valid TOML")],
)
def test_bad_examples_files(tmp_path, body, message):
    path = tmp_path / "review.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(message)):
        load_examples(path)


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert percentile(values, 0.5) == 50 and percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100 and percentile([7], 0.5) == 7


# --- the release helper (nox -s langdb) -------------------------------------------------------


RECIPE = """
    # a comment that stays
    name = "toy"
    order = 2
    [[inputs]]
    paths = ["a.txt"]
"""


def test_record_sha256_adds_or_replaces_the_output_table(tmp_path):
    path = tmp_path / "toy.toml"
    path.write_text(textwrap.dedent(RECIPE), encoding="utf-8")
    record_sha256(path, "a" * 64)
    assert Recipe.from_toml(path).output_sha256 == "a" * 64
    assert "# a comment that stays" in path.read_text(encoding="utf-8")
    record_sha256(path, "b" * 64)
    assert Recipe.from_toml(path).output_sha256 == "b" * 64
    assert path.read_text(encoding="utf-8").count("[output]") == 1
    # [output] in the middle, followed by another table.
    path.write_text(
        textwrap.dedent(RECIPE) + '[output]\nsha256 = "' + "c" * 64 + '"\n\n[[sources]]\n'
        'name = "n"\nlicence = "l"\nattribution = "a"\n',
        encoding="utf-8",
    )
    record_sha256(path, "d" * 64)
    recipe = Recipe.from_toml(path)
    assert recipe.output_sha256 == "d" * 64 and recipe.sources[0].name == "n"


def test_a_differing_sha256_of_a_trained_network_says_why_it_may(tmp_path):
    path = tmp_path / "toy.toml"
    recorded = "a" * 64
    plain = textwrap.dedent(RECIPE)
    for neural, explained in (
        ("", False),
        ('[neural]\ntext = "b.txt"\n', False),  # cache features only: the same file on every kernel
        ('[neural]\ntext = "b.txt"\nnetwork_steps = 5\n', True),
    ):
        path.write_text(plain + neural, encoding="utf-8")
        verdict = differs(Recipe.from_toml(path), recorded)
        assert verdict.startswith(f"DIFFERS from the sha256 the recipe records ({recorded})")
        assert ("trains a word network" in verdict) is explained, neural


def test_find_baseline(tmp_path):
    recipe = Recipe.from_args(corpus=["a.txt"], order=2, name="toy", data_version="1.0")
    old, new, other = "1" * 64, "2" * 64, "3" * 64
    for sha in (old, other):
        (tmp_path / f"{release_name(recipe, sha)}.langdb").write_bytes(b"")
    (tmp_path / f"{release_name(recipe, new)}.langdb").write_bytes(b"")
    (tmp_path / "unrelated-1.0-444444444444.langdb").write_bytes(b"")
    # The file of the recorded hash, when the build differs from it.
    assert find_baseline(tmp_path, recipe, new, old).name == f"toy-1.0-{old[:12]}.langdb"
    # Otherwise the newest other build of this recipe.
    newest = tmp_path / f"{release_name(recipe, other)}.langdb"
    os.utime(newest, ns=(2**62, 2**62))
    assert find_baseline(tmp_path, recipe, new, new) == newest
    assert find_baseline(tmp_path / "missing", recipe, new, None) is None


def test_recipes_name_their_held_out_text(tmp_path):
    (tmp_path / "a.txt").write_text("x", encoding="utf-8")
    (tmp_path / "t.txt").write_text("held out", encoding="utf-8")
    path = tmp_path / "r.toml"
    path.write_text(
        textwrap.dedent(RECIPE) + '[evaluation]\ntext = "t.txt"\nlimit_words = 100\n',
        encoding="utf-8",
    )
    recipe = Recipe.from_toml(path)
    assert recipe.evaluation.limit_words == 100
    assert [f.path for f in recipe.resolve_evaluation()] == [tmp_path / "t.txt"]
    assert "evaluation" not in recipe.to_record()  # not part of what is built


@pytest.mark.parametrize(
    "table, message",
    [
        ('text = "t.txt"\nlist = "l.txt"', "exactly one of 'text' and 'list'"),
        ("limit_words = 100", "exactly one of 'text' and 'list'"),
        ('text = "t.txt"\nlimit_words = 0', "'limit_words' must be a positive integer"),
        ('text = "t.txt"\ndirectory = "d"', "'directory' only goes with 'list'"),
        ('text = "t.txt"\ncolour = 1', "unknown key"),
        ('text = ["a.txt", "b.txt"]\nsha256 = "' + "a" * 64 + '"', "for several use"),
        ("text = 3", "must be a list"),
    ],
)
def test_bad_evaluation_tables(tmp_path, table, message):
    path = tmp_path / "r.toml"
    path.write_text(textwrap.dedent(RECIPE) + "[evaluation]\n" + table + "\n", encoding="utf-8")
    with pytest.raises(BuildError, match=re.escape(message)):
        Recipe.from_toml(path)


def test_a_recipe_without_evaluation(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text(textwrap.dedent(RECIPE), encoding="utf-8")
    recipe = Recipe.from_toml(path)
    assert recipe.evaluation is None
    with pytest.raises(BuildError, match="no \\[evaluation\\]"):
        recipe.resolve_evaluation()


def test_the_novels_recipes_evaluate_on_the_test_split():
    for name in ("novels-3", "novels-4", "novels-3-q16"):
        recipe = Recipe.from_toml(REPO / "langdb" / "recipes" / f"{name}.toml")
        assert recipe.evaluation.files.list.endswith("novels.test.list")
        assert recipe.evaluation.limit_words == 20000
