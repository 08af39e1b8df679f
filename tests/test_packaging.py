"""What an installed keyglide offers besides its API: type information, the licence, the
``python -m keyglide`` entry point and a namespace that shows only the public names."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata, resources

import keyglide


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
