"""Shared by the demo's tests: small langdbs, and the demo server run in a thread."""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Iterator
from pathlib import Path

from keyglide.builder import Recipe, build
from keyglide.demo.server import Demo, DemoServer

SUBJECTS = ["I", "you", "we", "they", "my friend", "the team"]
VERBS = ["would like to", "want to", "need to", "will", "can"]
ACTIONS = [
    "see you",
    "meet you",
    "call you",
    "visit the museum",
    "read the book",
    "walk the dog",
    "watch the game",
    "thank you",
]
WHEN = ["tomorrow", "today", "tonight", "this weekend", "next week", "soon", "later"]


def corpus_text(seed: int, sentences: int = 400) -> str:
    """A deterministic English-like corpus; the seed changes the frequencies."""
    rng = random.Random(seed)
    when = WHEN[seed % 3 :] + WHEN[: seed % 3]  # another seed, another favourite
    lines = []
    for _ in range(sentences):
        pick = min(int(rng.expovariate(0.6)), len(when) - 1)
        lines.append(
            f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(ACTIONS)} {when[pick]}."
        )
    return "\n".join(lines) + "\n"


def build_langdb(directory: Path, seed: int, version: str, language: str = "xx") -> Path:
    corpus = directory / f"corpus-{seed}.txt"
    corpus.write_text(corpus_text(seed), encoding="utf-8")
    out = directory / f"{language}-{version}.langdb"
    recipe = Recipe.from_args(
        corpus=[corpus],
        order=2,
        language=language,
        data_version=version,
        discount_fallback=True,
    )
    build(recipe, out, progress=False, source_commit=None)
    return out


@contextlib.contextmanager
def running(demo: Demo, **options) -> Iterator[DemoServer]:
    """The demo served on a free loopback port in a thread; stopped and closed after."""
    server = DemoServer(demo, "127.0.0.1", 0, **options)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
        demo.close()
