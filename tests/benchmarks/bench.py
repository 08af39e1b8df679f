"""Benchmarks on the novels corpus: build, size, open, predict and keystroke latency,
perplexity.

    nox -s bench                      # everything, JSON to .nox/bench.json
    python tests/benchmarks/bench.py --out bench.json --contexts 2000

Figures are medians over repeated measurements (this machine is shared and noisy), and
every speed is also given as a ratio against a baseline measured in the same run, so that
two runs on different days compare. Nothing here asserts a time: it measures and prints.

Needs the corpus at ``../shared/corpora`` (or ``$KEYGLIDE_CORPORA``); without it the
benchmark prints why and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def corpora_dir() -> Path:
    return Path(os.environ.get("KEYGLIDE_CORPORA", ROOT.parent / "shared" / "corpora"))


def split_files(split: str) -> list[Path]:
    base = corpora_dir()
    names = (base / f"novels.{split}.list").read_text().split()
    return [base / "novels" / n for n in names]


# --- process-tree memory ---------------------------------------------------------------


def _tree_rss_kib(root_pid: int) -> int:
    """Sum of VmRSS over a process and all its descendants (the builder forks workers)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        pid = int(entry)
        parents[pid] = int(fields.get("PPid", "0").strip())
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, frontier = 0, [root_pid]
    while frontier:
        pid = frontier.pop()
        total += rss.get(pid, 0)
        frontier.extend(child for child, parent in parents.items() if parent == pid)
    return total


def run_measured(cmd: list[str]) -> tuple[float, int, str]:
    """Run a command; return wall seconds, peak process-tree RSS in MiB, and stdout."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss_kib(proc.pid))
            stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{err}")
    return wall, peak // 1024, out


# --- measurements ----------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def baseline_ns() -> float:
    """A fixed CPU-bound Python workload, to express speeds as ratios within one run."""
    times = []
    for _ in range(5):
        start = time.perf_counter_ns()
        sum(i * i for i in range(200_000))
        times.append(time.perf_counter_ns() - start)
    return statistics.median(times)


def test_contexts(count: int, seed: int = 1) -> list[str]:
    """Texts before a cursor placed at random word starts of the test split (next word)."""
    from keyglide import text

    rng = random.Random(seed)
    sentences = []
    for path in split_files("test"):
        sentences.extend(text.sentences(path.read_text(encoding="utf-8")))
    contexts = []
    while len(contexts) < count:
        sentence = rng.choice(sentences)
        cut = rng.randrange(len(sentence))
        contexts.append(" ".join(sentence[:cut]) + (" " if cut else ""))
    return contexts


def time_calls(fn, args_list, repeat: int = 1) -> list[float]:
    """Per-call latencies in microseconds (best of ``repeat`` per argument)."""
    out = []
    for args in args_list:
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter_ns()
            fn(args)
            best = min(best, time.perf_counter_ns() - start)
        out.append(best / 1000)
    return out


def bench_build(recipe: Path, out: Path) -> dict:
    cmd = [sys.executable, "-m", "keyglide.cli", "build", str(recipe), "--out", str(out), "-q"]
    wall, peak_mib, _ = run_measured(cmd)
    import keyglide

    with keyglide.open(out, engine="reference") as db:
        meta = db.info["metadata"]
    ngrams = sum(meta["ngram_counts"])
    tokens = meta.get("token_count")
    size = out.stat().st_size
    return {
        "recipe": recipe.name,
        "wall_s": round(wall, 2),
        "peak_rss_mib": peak_mib,
        "tokens": tokens,
        "tokens_per_s": round(tokens / wall) if tokens else None,
        "ngram_counts": meta["ngram_counts"],
        "file_bytes": size,
        "bytes_per_ngram": round(size / ngrams, 3),
        "discounts": meta["discounts"],
    }


def bench_open(path: Path, engine: str, repeat: int = 51) -> dict:
    import keyglide

    times = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        db = keyglide.open(path, engine=engine)
        times.append((time.perf_counter_ns() - start) / 1e6)
        db.close()
    return {"engine": engine, "open_ms_median": round(statistics.median(times), 3)}


def bench_predict(path: Path, engine: str, contexts: list[str], prefix_len: int = 0) -> dict:
    import keyglide

    rng = random.Random(2)
    with keyglide.open(path, engine=engine) as db:
        texts = contexts
        if prefix_len:
            # Complete a word of the vocabulary from its first letters.
            words = [s.word for c in contexts[:200] for s in db.predict(c, k=3)]
            texts = [c + rng.choice(words)[:prefix_len] for c in contexts]
        for t in texts[:50]:
            db.predict(t, k=3)  # warm the pages
        lat = time_calls(lambda t: db.predict(t, k=3), texts)
    return {
        "engine": engine,
        "kind": f"complete-{prefix_len}" if prefix_len else "next-word",
        "calls": len(texts),
        "p50_us": round(statistics.median(lat), 2),
        "p99_us": round(percentile(lat, 0.99), 2),
    }


def bench_typing(path: Path, contexts: list[str], words: int = 1000, seed: int = 5) -> dict:
    """Per keystroke ``LangDB.suggest`` through Python, native engine: every keystroke of
    ``words`` words typed with keyglide.noisy's default noise model (touch points given),
    and adversarial keystrokes: 40 random letters, one more per call, and 64-byte words."""
    import keyglide
    from keyglide.keyboard import Layout
    from keyglide.noisy import NoiseModel, Typist

    rng = random.Random(seed)
    typist = Typist(Layout.named("qwerty"), NoiseModel(seed=seed))
    calls = []
    with keyglide.open(path, engine="native") as db:
        for context in contexts[:words]:
            nxt = [s.word for s in db.predict(context, k=5) if s.word.isalpha()]
            if not nxt:
                continue  # a word of letters only, so that every keystroke is in the word
            typed, points = typist.touch(typist.mistype(rng.choice(nxt)) or "a")
            calls += [(context + typed[:n], points[:n]) for n in range(1, len(typed) + 1)]
        hostile = []
        for _ in range(20):
            letters = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(40))
            hostile += [(letters[:n], None) for n in range(1, 41)]
        hostile += [("e" * 64, None), ("é" * 32, None), ("'" * 30 + "s", None)]
        for text, touches in calls[:100]:
            db.suggest(text, touches=touches)  # warm the pages
        lat = time_calls(lambda a: db.suggest(a[0], touches=a[1]), calls)
        worst = time_calls(lambda a: db.suggest(a[0], touches=a[1]), hostile, repeat=3)
        predict = time_calls(lambda a: db.predict(a[0]), calls)
    return {
        "engine": "native",
        "keystrokes": len(calls),
        "p50_us": round(statistics.median(lat), 2),
        "p99_us": round(percentile(lat, 0.99), 2),
        "max_us": round(max(lat), 2),
        "exact_predict_p50_us": round(statistics.median(predict), 2),
        "suggest_vs_predict_p50": round(statistics.median(lat) / statistics.median(predict), 2),
        "adversarial_calls": len(hostile),
        "adversarial_p50_us": round(statistics.median(worst), 2),
        "adversarial_max_us": round(max(worst), 2),
    }


def document_contexts(count: int, seed: int = 3, before: int = 20_000) -> list[str]:
    """Texts before a cursor at random places in a test novel, with up to ``before``
    characters of what precedes (a reranker reads earlier sentences too): half end after a
    word (next word), half one or two letters into one (completion)."""
    rng = random.Random(seed)
    novel = split_files("test")[0].read_text(encoding="utf-8")
    spaces = [i + 1 for i, c in enumerate(novel) if c == " " and i > before]
    contexts = []
    for _ in range(count):
        end = rng.choice(spaces)
        end += rng.choice([0, 0, 1, 2])
        contexts.append(novel[end - before : end])
    return contexts


def bench_rerank(neural: Path, ngram: Path, count: int, rounds: int = 5) -> dict:
    """Reranked predictions (format 1.3, onnxruntime beside the kernel) against the same
    n-gram model without the reranker, on the same calls; and the file sizes.

    Each sequence of calls is run ``rounds`` times and each call's latency is its median
    over the rounds: this machine has periods of some milliseconds where everything runs
    several times slower, and a percentile of one pass measures those periods as much as
    the code. The p99 of the single passes is reported too (``p99_us_per_pass``, median over
    the rounds)."""
    import keyglide

    contexts = document_contexts(count)
    # A keyboard's text grows a letter at a time: the reranker keeps what it has read.
    novel = split_files("test")[0].read_text(encoding="utf-8")
    typing = [novel[:end] for end in range(20_000, 20_000 + 3 * count)]
    rows = {}
    with (
        keyglide.open(neural, engine="native") as db,
        keyglide.open(ngram, engine="native") as plain,
    ):
        if db.info["reranker"] != "onnxruntime":
            return {"skipped": f"the reranker does not run here: {db.compat.message}"}
        for name, handle in (("reranked", db), ("ngram", plain)):
            for t in contexts[:50]:
                handle.predict(t, k=3)
            for kind, texts in (("random_places", contexts), ("typing", typing)):
                passes = []
                for _ in range(rounds):
                    handle.predict("A text that shares no start with the others.", k=3)
                    passes.append(time_calls(lambda t, h=handle: h.predict(t, k=3), texts))
                lat = [statistics.median(call) for call in zip(*passes, strict=True)]
                rows[f"{name}_{kind}"] = {
                    "calls": len(texts),
                    "rounds": rounds,
                    "p50_us": round(statistics.median(lat), 2),
                    "p99_us": round(percentile(lat, 0.99), 2),
                    "p99_us_per_pass": round(
                        statistics.median(percentile(p, 0.99) for p in passes), 2
                    ),
                }
    return {
        **rows,
        "typing_p50_ratio": round(
            rows["reranked_typing"]["p50_us"] / rows["ngram_typing"]["p50_us"], 1
        ),
        "size_ratio": round(neural.stat().st_size / ngram.stat().st_size, 4),
    }


RSS_PROBE = """
import sys, keyglide
def rss():
    with open('/proc/self/status') as f:
        return next(int(l.split()[1]) for l in f if l.startswith('VmRSS')) // 1024
before = rss()
db = keyglide.open(sys.argv[1], engine='native')
opened = rss()
texts = [line.rstrip('\\n') for line in open(sys.argv[2], encoding='utf-8')]
for i in range(100_000):
    db.predict(texts[i % len(texts)], k=3)
print(before, opened, rss())
"""


def bench_rss(path: Path, contexts: list[str], work: Path) -> dict:
    """Process RSS before open, after open, and after 100k predictions (native engine)."""
    texts = work / "contexts.txt"
    texts.write_text("\n".join(contexts) + "\n", encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-c", RSS_PROBE, str(path), str(texts)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    before, opened, after = map(int, out)
    return {
        "rss_before_open_mib": before,
        "rss_after_open_mib": opened,
        "rss_after_100k_predictions_mib": after,
        "file_mib": round(path.stat().st_size / 2**20, 1),
    }


def bench_c(path: Path, work: Path) -> dict:
    """Predictions per second from C without Python: native/examples/bench.c."""
    build = work / "native-build"
    subprocess.run(
        ["make", "-s", "-C", str(ROOT / "native"), f"BUILD={build}", f"{build}/bench"],
        check=True,
        capture_output=True,
    )
    from keyglide import text

    sentences = []
    for p in split_files("test"):
        sentences.extend(text.sentences(p.read_text(encoding="utf-8")))
    queries = work / "c-queries.txt"
    queries.write_text("\n".join(" ".join(s) for s in sentences[:3000]) + "\n")
    runs = []
    for _ in range(3):
        out = subprocess.run(
            [str(build / "bench"), str(path), str(queries), "-n", "3", "-c", "128"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        runs.append(out)

    def figure(line_start: str, run: str) -> float:
        line = next(x for x in run.splitlines() if x.startswith(line_start))
        return float(line.split(":")[1].split()[0])

    keys = {
        "c_next_word_median_us": "median latency, next word",
        "c_completion_median_us": "median latency, completion",
        "c_next_word_per_s_1_thread": "next word, 1 thread",
        "c_next_word_per_s_2_threads": "next word, 2 threads",
        "c_all_per_s_1_thread": "all queries, 1 thread",
        "c_all_per_s_2_threads": "all queries, 2 threads",
    }
    return {k: statistics.median(figure(v, r) for r in runs) for k, v in keys.items()}


def bench_perplexity(path: Path, engine: str) -> dict:
    import keyglide
    from keyglide import text

    test_text = "\n\n".join(p.read_text(encoding="utf-8") for p in split_files("test"))
    start = time.perf_counter()
    with keyglide.open(path, engine=engine) as db:
        ppl = db.perplexity(test_text)
    return {
        "engine": engine,
        "perplexity": round(ppl, 3),
        "tokens": sum(len(s) + 1 for s in text.sentences(test_text)),
        "seconds": round(time.perf_counter() - start, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / ".nox" / "bench.json")
    parser.add_argument("--contexts", type=int, default=2000, help="prediction contexts")
    parser.add_argument("--work", type=Path, help="directory for built langdbs (default: temp)")
    parser.add_argument("--skip-build", action="store_true", help="reuse langdbs in --work")
    parser.add_argument(
        "--typing-only",
        type=Path,
        metavar="LANGDB",
        help="only the per-keystroke decoder benchmark, on this langdb (novels-3)",
    )
    args = parser.parse_args()

    if not (corpora_dir() / "novels.train.list").exists():
        print(
            f"bench: skipped: the novels corpus is not at {corpora_dir()} "
            "(set KEYGLIDE_CORPORA to its directory)",
            file=sys.stderr,
        )
        return 0

    if args.typing_only:
        results = {"baseline_ns": baseline_ns()}
        results["typing"] = bench_typing(args.typing_only, test_contexts(args.contexts))
        results["typing"]["p50_vs_baseline"] = round(
            results["typing"]["p50_us"] * 1000 / results["baseline_ns"], 5
        )
        print(json.dumps(results, indent=2))
        return 0

    work = args.work or Path(tempfile.mkdtemp(prefix="keyglide-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {"baseline_ns": baseline_ns()}

    db8 = work / "novels-3.langdb"
    db16 = work / "novels-3-q16.langdb"
    db4 = work / "novels-4.langdb"
    dbn = work / "novels-3-neural.langdb"
    if not args.skip_build:
        for key, recipe, out in (
            ("build", "novels-3", db8),
            ("build_q16", "novels-3-q16", db16),
            ("build_order4", "novels-4", db4),
            ("build_neural", "novels-3-neural", dbn),
        ):
            results[key] = bench_build(ROOT / f"langdb/recipes/{recipe}.toml", out)
            print(json.dumps(results[key]), flush=True)

    engines = ["reference", "native"]
    # Opening is O(1) in the file size: the same time for files of 40 and 60+ MB.
    results["open"] = [
        {**bench_open(db, e), "file_mib": round(db.stat().st_size / 2**20, 1)}
        for db in (db8, db4)
        for e in engines
    ]
    print(json.dumps(results["open"]), flush=True)
    contexts = test_contexts(args.contexts)
    # The reference is ~1 ms a call: it gets a subset, and the native engine is measured on
    # that same subset too, so the ratio compares the same calls.
    shared = contexts[: max(200, args.contexts // 10)]
    results["predict"] = []
    for prefix_len in (0, 1, 2):
        rows = {e: bench_predict(db8, e, shared, prefix_len) for e in engines}
        full = bench_predict(db8, "native", contexts, prefix_len)
        full["native_speedup_on_shared_calls_p50"] = round(
            rows["reference"]["p50_us"] / rows["native"]["p50_us"], 1
        )
        results["predict"] += [rows["reference"], full]
        print(json.dumps(rows["reference"]), json.dumps(full), flush=True)
    results["typing"] = bench_typing(db8, contexts)
    results["typing"]["p50_vs_baseline"] = round(
        results["typing"]["p50_us"] * 1000 / results["baseline_ns"], 5
    )
    print(json.dumps(results["typing"]), flush=True)
    results["rerank"] = bench_rerank(dbn, db8, min(args.contexts, 1000))
    print(json.dumps(results["rerank"]), flush=True)
    results["rss"] = bench_rss(db8, contexts, work)
    print(json.dumps(results["rss"]), flush=True)
    results["c"] = bench_c(db8, work)
    print(json.dumps(results["c"]), flush=True)
    results["perplexity"] = {
        "q8": bench_perplexity(db8, "native"),
        "q16": bench_perplexity(db16, "native"),
    }
    q8, q16 = results["perplexity"]["q8"]["perplexity"], results["perplexity"]["q16"]["perplexity"]
    results["perplexity"]["q8_vs_q16_percent"] = round(100 * (q8 / q16 - 1), 3)
    print(json.dumps(results["perplexity"]), flush=True)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"bench: results in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
