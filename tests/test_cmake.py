"""The CMake build of the C kernel: configured, built and installed into a prefix, then
consumed as an integrator would, by ``find_package(keyglide)`` and by pkg-config, with
``native/examples/embed.c`` (the README's minimal program)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from keyglide.engines.reference import ReferenceEngine
from keyglide.reader import LangDBFile

ROOT = Path(__file__).resolve().parents[1]
NATIVE = ROOT / "native"
FIXTURE = ROOT / "langdb" / "fixtures" / "1.2" / "display-3.langdb"

pytestmark = [
    pytest.mark.slow,  # three CMake configurations and builds
    pytest.mark.skipif(
        shutil.which("cmake") is None or shutil.which("cc") is None,
        reason="cmake and a C compiler are needed (Debian: apt-get install cmake gcc)",
    ),
]


def run(*argv, **options) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, **options)
    assert done.returncode == 0, f"{argv}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def prefix(tmp_path_factory) -> Path:
    """The kernel built with CMake (shared library) and installed into a fresh prefix."""
    work = tmp_path_factory.mktemp("cmake")
    build, prefix = work / "build", work / "prefix"
    run("cmake", "-S", NATIVE, "-B", build, "-DCMAKE_BUILD_TYPE=Release",
        "-DBUILD_SHARED_LIBS=ON")  # fmt: skip
    run("cmake", "--build", build, "-j2")
    run("cmake", "--install", build, "--prefix", prefix)
    return prefix


def expected_output() -> str:
    with LangDBFile.open(FIXTURE) as f:
        reference = ReferenceEngine(f)
        return "".join(f"{s.word}\t{s.score}\n" for s in reference.predict("I l", 5)) * 2


def test_the_readme_program_is_the_example_file():
    import re

    readme = (NATIVE / "README.md").read_text(encoding="utf-8")
    programs = [b for b in re.findall(r"```c\n(.*?)```", readme, re.S) if "embed.c" in b]
    assert programs == [(NATIVE / "examples" / "embed.c").read_text(encoding="utf-8")]


def test_the_install_holds_the_header_library_and_package_files(prefix):
    files = {p.relative_to(prefix).as_posix() for p in prefix.rglob("*") if p.is_file()}
    assert "include/keyglide.h" in files
    assert any(f.endswith("/pkgconfig/keyglide.pc") for f in files)
    assert any(f.endswith("/cmake/keyglide/keyglideConfig.cmake") for f in files)
    assert any(f.endswith("/cmake/keyglide/keyglideConfigVersion.cmake") for f in files)
    assert any("/libkeyglide.so" in f for f in files)


def test_find_package_consumes_the_install(prefix, tmp_path):
    project = tmp_path / "app"
    project.mkdir()
    shutil.copy(NATIVE / "examples" / "embed.c", project / "embed.c")
    (project / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.16)\n"
        "project(app LANGUAGES C)\n"
        "find_package(keyglide 1.6 REQUIRED)\n"
        "add_executable(embed embed.c)\n"
        "target_link_libraries(embed PRIVATE keyglide::keyglide)\n"
    )
    build = tmp_path / "build"
    run("cmake", "-S", project, "-B", build, f"-DCMAKE_PREFIX_PATH={prefix}")
    run("cmake", "--build", build)
    assert run(build / "embed", FIXTURE, "I l").stdout == expected_output()
    # A version the package does not satisfy (another major) is refused at configure time.
    (project / "CMakeLists.txt").write_text(
        (project / "CMakeLists.txt").read_text().replace("keyglide 1.6", "keyglide 2.0")
    )
    refused = subprocess.run(
        ["cmake", "-S", str(project), "-B", str(tmp_path / "b2"), f"-DCMAKE_PREFIX_PATH={prefix}"],
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0 and "keyglide" in refused.stderr


def test_pkg_config_consumes_the_install(prefix, tmp_path):
    if shutil.which("pkg-config") is None:
        pytest.skip("pkg-config is not installed (Debian: apt-get install pkg-config)")
    pcdirs = [str(p.parent) for p in prefix.rglob("keyglide.pc")]
    env = {**os.environ, "PKG_CONFIG_PATH": os.pathsep.join(pcdirs)}
    flags = run("pkg-config", "--cflags", "--libs", "keyglide", env=env).stdout.split()
    libdir = next(f[2:] for f in flags if f.startswith("-L"))
    binary = tmp_path / "embed"
    run("cc", "-std=c99", "-Wall", "-Wextra", "-Werror", NATIVE / "examples" / "embed.c",
        *flags, f"-Wl,-rpath,{libdir}", "-o", binary)  # fmt: skip
    assert run(binary, FIXTURE, "I l").stdout == expected_output()
