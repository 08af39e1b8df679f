"""The mobile quick-starts, run here as far as this machine can: the JNI binding built with
its CMake project (an Android app's externalNativeBuild) against a desktop JDK and driven
from Java, and the Clang module map that Swift imports."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from keyglide.engines.reference import ReferenceEngine
from keyglide.reader import LangDBFile

ROOT = Path(__file__).resolve().parents[1]
NATIVE = ROOT / "native"
FIXTURE = ROOT / "langdb" / "fixtures" / "1.2" / "display-3.langdb"

pytestmark = pytest.mark.slow  # a CMake build and a JVM


def run(*argv, **options) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, **options)


def test_the_jni_binding_answers_as_the_reference(tmp_path):
    if not (shutil.which("cmake") and shutil.which("javac") and shutil.which("java")):
        pytest.skip("cmake and a JDK are needed (Debian: apt-get install cmake default-jdk)")
    build, classes = tmp_path / "build", tmp_path / "classes"
    configured = run("cmake", "-S", NATIVE / "jni", "-B", build)
    if configured.returncode != 0 and "jni.h" in configured.stderr + configured.stdout:
        pytest.skip("no jni.h found (set JAVA_HOME to a JDK)")
    assert configured.returncode == 0, configured.stderr
    built = run("cmake", "--build", build)
    assert built.returncode == 0, built.stdout + built.stderr
    sources = sorted((NATIVE / "jni" / "java" / "org" / "keyglide").glob("*.java"))
    assert run("javac", "-d", classes, *sources).returncode == 0
    java = ["java", f"-Djava.library.path={build}", "-cp", classes, "org.keyglide.Predict"]
    with LangDBFile.open(FIXTURE) as f:
        reference = ReferenceEngine(f)
        for text in ("I l", "w01 ", "é дом "):
            expected = "".join(f"{s.word}\t{s.score}\n" for s in reference.predict(text, 5))
            answered = run(*java, FIXTURE, text)
            assert answered.returncode == 0, answered.stderr
            assert answered.stdout == expected, text
    missing = run(*java, tmp_path / "none.langdb", "x")
    assert missing.returncode != 0 and "java.io.IOException" in missing.stderr


def test_the_module_map_builds_the_keyglide_module(tmp_path):
    if shutil.which("clang") is None:
        pytest.skip("clang is needed (Debian: apt-get install clang)")
    source = tmp_path / "app.c"
    source.write_text(
        "#include <keyglide.h>\nint main(void) { return kg_version_number() == 0; }\n"
    )
    done = run("clang", "-fmodules", "-fimplicit-module-maps", f"-fmodules-cache-path={tmp_path}",
               "-Rmodule-build", f"-I{NATIVE / 'include'}", "-fsyntax-only", source)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "building module 'keyglide'" in done.stderr
