"""Recipes: parsing, validation, locating and checking input files."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import pytest
from keyglide.builder import Input, Recipe
from keyglide.builder.recipe import CORPORA_VARIABLE, DEFAULT_DISCOUNT_FALLBACK
from keyglide.errors import BuildError

MINIMAL = """
name = "tiny"
order = 3
[[inputs]]
paths = ["a.txt"]
"""


def write_recipe(folder: Path, body: str) -> Path:
    path = folder / "recipe.toml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def test_minimal_recipe_gets_the_defaults(tmp_path):
    recipe = Recipe.from_toml(write_recipe(tmp_path, MINIMAL))
    assert recipe.name == "tiny" and recipe.order == 3
    assert recipe.language == "und" and recipe.vocab_size is None
    assert recipe.prune_thresholds() == [0, 0, 0]
    assert recipe.prob_bits_per_order() == [16, 8, 8]
    assert recipe.backoff_bits_per_order() == [16, 8]
    assert recipe.lowest_order == "continuation"
    assert recipe.discount_fallback is None
    assert recipe.base_dir == tmp_path


def test_full_recipe(tmp_path):
    recipe = Recipe.from_toml(write_recipe(tmp_path, f"""
        name = "full"
        language = "fr"
        data_version = "2026.11.0"
        order = 4
        vocab_size = 1000
        prune = [0, 1]
        prob_bits = 16
        backoff_bits = [16, 12, 8]
        discount_fallback = true
        lowest_order = "raw"
        [[inputs]]
        kind = "counts"
        order = 2
        package = "somepackage"
        resource = "pairs.txt"
        sha256 = "{"a" * 64}"
        [[sources]]
        name = "pairs"
        licence = "MIT"
        attribution = "someone"
        [output]
        sha256 = "{"b" * 64}"
    """))
    assert recipe.prune_thresholds() == [0, 0, 1, 1]  # the last threshold repeats
    assert recipe.prob_bits_per_order() == [16] * 4
    assert recipe.backoff_bits_per_order() == [16, 12, 8]
    assert recipe.discount_fallback == DEFAULT_DISCOUNT_FALLBACK
    assert recipe.inputs[0] == Input(
        kind="counts", order=2, package="somepackage", resource="pairs.txt", sha256="a" * 64
    )
    assert recipe.output_sha256 == "b" * 64
    record = recipe.to_record()
    assert record["sources"] == [{"name": "pairs", "licence": "MIT", "attribution": "someone"}]
    assert "output" not in record and "output_sha256" not in record


HEAD = "name = 'x'\norder = 3\n"
TEXT = "[[inputs]]\npaths = ['a']\n"
SHA = "0" * 64


@pytest.mark.parametrize(
    "body,message",
    [
        ("order = 3\n" + TEXT, "no 'name'"),
        ("name = 'x'\norder = 3", "no 'inputs'"),
        ("name = 'x'\norder = 6\n" + TEXT, "'order' must be an integer from 2"),
        ("name = 'x'\norder = 1\n" + TEXT, "'order' must be an integer from 2"),
        (HEAD + "prune = [2, 1]\n" + TEXT, "must not decrease"),
        (HEAD + "prune = [0, 1, 1]\n" + TEXT, "3 thresholds"),
        (HEAD + "prune = [-1]\n" + TEXT, "non-negative"),
        (HEAD + "prob_bits = 17\n" + TEXT, "from 2 to 16"),
        (HEAD + "backoff_bits = [8]\n" + TEXT, "each of 2 orders"),
        (HEAD + "vocab_size = 0\n" + TEXT, "positive integer"),
        (HEAD + "lowest_order = 'kn'\n" + TEXT, "lowest_order"),
        (HEAD + "discount_fallback = [1, 2]\n" + TEXT, "three numbers"),
        (HEAD + "discount_fallback = [2, 1, 1]\n" + TEXT, "out of range"),
        (HEAD + "odrer = 3\n" + TEXT, "unknown key(s) 'odrer'"),
        (HEAD + TEXT + "list = 'l'", "exactly one of"),
        (HEAD + TEXT + "kind = 'csv'", "'kind' must be one of"),
        (HEAD + "[[inputs]]\npackage = 'p'", "needs 'resource'"),
        (HEAD + TEXT + "order = 2", "only goes with kind"),
        (HEAD + TEXT + "kind = 'counts'\norder = 4", "from 1 to"),
        (HEAD + "[[inputs]]\npaths = ['a', 'b']\nsha256 = '" + SHA + "'", "checksums"),
        (HEAD + TEXT + "sha256 = 'abc'", "64 lowercase"),
        (HEAD + TEXT + "[[sources]]\nname = 's'", "no 'attribution'"),
        (HEAD + TEXT + "[output]\nsize = 3", "unknown key"),
        (HEAD + "inputs = 'a.txt'", "array of tables"),
        ("name = 'x'\norder = 3 3", "not valid TOML"),
    ],
)
def test_invalid_recipes_are_build_errors_naming_the_problem(tmp_path, body, message):
    path = write_recipe(tmp_path, body)
    with pytest.raises(BuildError) as error:
        Recipe.from_toml(path)
    assert message in str(error.value)
    assert str(path) in str(error.value)


def test_missing_recipe(tmp_path):
    with pytest.raises(BuildError, match="recipe not found"):
        Recipe.from_toml(tmp_path / "nope.toml")


def test_recipe_from_command_line_arguments(tmp_path):
    recipe = Recipe.from_args(corpus=[tmp_path / "my-corpus.txt"], order=3, prune=[0, 1])
    assert recipe.name == "my-corpus"
    assert recipe.inputs == (Input(kind="text", paths=(str(tmp_path / "my-corpus.txt"),)),)
    assert recipe.prune_thresholds() == [0, 0, 1]
    # Absolute paths are recorded by base name only.
    assert recipe.to_record()["inputs"] == [{"kind": "text", "paths": ["my-corpus.txt"]}]
    with pytest.raises(BuildError, match="must not decrease"):
        Recipe.from_args(corpus=["a.txt"], order=3, prune=[1, 0])


# ---------------------------------------------------------------------------------------------
# Inputs


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_list_inputs_with_checksums(tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "texts").mkdir(parents=True)
    (corpus / "texts" / "one.txt").write_bytes(b"one")
    (corpus / "texts" / "two.txt").write_bytes(b"two two")
    (corpus / "split.list").write_text("# the split\none.txt\n\ntwo.txt\n")
    (corpus / "sums").write_text(f"{sha(b'one')}  one.txt\n{sha(b'two two')} *two.txt\n")
    recipe = Recipe.from_toml(write_recipe(tmp_path, """
        name = "listed"
        order = 2
        [[inputs]]
        list = "corpus/split.list"
        directory = "corpus/texts"
        checksums = "corpus/sums"
    """))
    files = recipe.resolve_inputs()
    assert [(f.name, f.size, f.sha256) for f in files] == [
        ("one.txt", 3, sha(b"one")),
        ("two.txt", 7, sha(b"two two")),
    ]
    assert files[0].path == corpus / "texts" / "one.txt"

    (corpus / "texts" / "two.txt").write_bytes(b"changed")
    with pytest.raises(BuildError, match="two.txt .* has sha256 .* but the recipe expects"):
        recipe.resolve_inputs()


def test_sha256_mismatch(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"hello")
    good = Recipe(name="x", order=2, inputs=(Input(paths=("a.txt",), sha256=sha(b"hello")),),
                  base_dir=tmp_path)
    assert good.resolve_inputs()[0].sha256 == sha(b"hello")
    bad = Recipe(name="x", order=2, inputs=(Input(paths=("a.txt",), sha256=sha(b"other")),),
                 base_dir=tmp_path)
    with pytest.raises(BuildError, match="sha256"):
        bad.resolve_inputs()


def test_corpora_variable(tmp_path, monkeypatch):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "a.txt").write_text("words")
    recipe = Recipe(
        name="x", order=2, inputs=(Input(paths=("${KEYGLIDE_CORPORA}/a.txt",)),), base_dir=tmp_path
    )
    monkeypatch.setenv(CORPORA_VARIABLE, str(tmp_path / "elsewhere"))
    assert recipe.resolve_inputs()[0].path == tmp_path / "elsewhere" / "a.txt"
    # The recorded recipe keeps the variable, not the machine's path.
    assert recipe.to_record()["inputs"][0]["paths"] == ["${KEYGLIDE_CORPORA}/a.txt"]


def test_corpora_default_is_beside_the_repository(tmp_path, monkeypatch):
    monkeypatch.delenv(CORPORA_VARIABLE, raising=False)
    repo = tmp_path / "repo"
    (repo / "langdb" / "recipes").mkdir(parents=True)
    (repo / "pyproject.toml").write_text("")
    (tmp_path / "shared" / "corpora").mkdir(parents=True)
    (tmp_path / "shared" / "corpora" / "a.txt").write_text("words")
    path = write_recipe(repo / "langdb" / "recipes", """
        name = "x"
        order = 2
        [[inputs]]
        paths = ["${KEYGLIDE_CORPORA}/a.txt", "${KEYGLIDE_CORPORA}/missing.txt"]
    """)
    recipe = Recipe.from_toml(path)
    with pytest.raises(BuildError) as error:
        recipe.resolve_inputs()
    message = str(error.value)
    assert str(tmp_path / "shared" / "corpora" / "missing.txt") in message
    assert CORPORA_VARIABLE in message


def test_missing_plain_file(tmp_path):
    recipe = Recipe(name="x", order=2, inputs=(Input(paths=("gone.txt",)),), base_dir=tmp_path)
    with pytest.raises(BuildError, match="corpus file not found: .*gone.txt"):
        recipe.resolve_inputs()


def test_package_resource_is_found_without_importing_the_package(tmp_path, monkeypatch):
    package = tmp_path / "site" / "wordlists"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('imported')\n")
    (package / "data" / "pairs.txt").write_text("a b 3\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    recipe = Recipe(
        name="x",
        order=2,
        inputs=(Input(kind="counts", package="wordlists.data", resource="pairs.txt"),),
    )
    (found,) = recipe.resolve_inputs()
    assert found.path == package / "data" / "pairs.txt"
    assert found.name == "wordlists.data/pairs.txt"
    missing = Recipe(
        name="x", order=2, inputs=(Input(kind="counts", package="no_such_pkg_kg", resource="x"),)
    )
    with pytest.raises(BuildError, match="not installed"):
        missing.resolve_inputs()
