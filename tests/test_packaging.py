"""What an installed keyglide offers besides its API: type information, the licence, the
``python -m keyglide`` entry point and a namespace that shows only the public names."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata, resources
from pathlib import Path

import keyglide
import pytest
from conftest import random_model, written

ROOT = Path(__file__).resolve().parents[1]


def test_type_checkers_are_told_the_package_is_typed():
    assert resources.files("keyglide").joinpath("py.typed").is_file()


def test_the_licence_is_an_spdx_expression():
    meta = metadata.metadata("keyglide")
    assert meta["License-Expression"] == "Apache-2.0"


def test_python_dash_m_runs_the_command():
    done = subprocess.run(
        [sys.executable, "-m", "keyglide", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and keyglide.__version__ in done.stdout


def test_dir_shows_the_public_names_only():
    names = set(dir(keyglide))
    assert names == set(keyglide.__all__)
    assert not names & {"os", "copy", "dataclasses", "operator", "Any", "annotations"}


@pytest.mark.slow  # builds a wheel (pip fetches the build requirements)
def test_without_a_compiler_keyglide_installs_and_predicts_with_the_reference(tmp_path):
    """``CC=/bin/false``: the wheel builds without the kernel, says why, and the installed
    package predicts with the reference engine and a warning."""
    source = tmp_path / "source"
    source.mkdir()
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, files):  # a copy without build/: nothing compiled before
        path = source / name.decode()
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name.decode(), path)
    wheels = tmp_path / "wheels"
    env = {**os.environ, "CC": "/bin/false"}
    env.pop("KEYGLIDE_REQUIRE_NATIVE_BUILD", None)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w", str(wheels), str(source)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert "the C kernel could not be compiled" in built.stdout + built.stderr
    (wheel,) = wheels.glob("keyglide-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert not [n for n in archive.namelist() if "_native" in n]
        archive.extractall(tmp_path / "installed")
    script = (
        "import sys, warnings; sys.path.insert(0, sys.argv[1]); import keyglide\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always'); db = keyglide.open(sys.argv[2])\n"
        "print(db.engine, db.predict('a b ', 2)[0].word)\n"
        "print(caught[0].message)\n"
    )
    db = tmp_path / "small.langdb"
    db.write_bytes(written(random_model(seed=1, vocab=["<unk>", "<s>", "</s>", "a", "b"], order=2)))
    ran = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "installed"), str(db)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert ran.returncode == 0, ran.stderr
    engine_line, warning = ran.stdout.splitlines()[:2]
    assert engine_line.split()[0] == "reference" and engine_line.split()[1] in ("a", "b")
    assert "using the slow reference engine" in warning and "C compiler" in warning
