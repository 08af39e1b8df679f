"""Automation: tests, lint, benchmarks. ``nox -l`` lists the sessions.

Virtualenvs are reused between runs (``nox -s tests`` is the developer loop and what CI runs);
pass pytest arguments after ``--``: ``nox -s tests -- -k tokenize -x``.
"""

from __future__ import annotations

import os

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
        # The kernel is part of the product: its absence fails the run, never skips it.
        "KEYGLIDE_REQUIRE_NATIVE": "1",
    }
    session.run("pytest", *session.posargs, env=env)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff over the SDK, tests and automation."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "sdk", "tests", "noxfile.py", "native")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks on the shared novels corpus (build, size, open, predict, perplexity).

    Needs the corpus at ../shared/corpora or $KEYGLIDE_CORPORA; prints medians and writes
    JSON to .nox/bench.json (or the path given after --).
    """
    install(session, "dev")
    session.run("python", "tests/benchmarks/bench.py", *session.posargs)
