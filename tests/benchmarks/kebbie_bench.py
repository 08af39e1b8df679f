"""keyglide under kebbie, the public evaluation framework for mobile keyboards.

    nox -s kebbie                                   # the novels test split, 2000 paragraphs
    nox -s kebbie -- TEXT --langdb PATH --paragraphs 200 --out results.json
    python tests/benchmarks/kebbie_bench.py TEXT [--langdb PATH] [--paragraphs N]
        [--layout qwerty] [--threshold INT] [--out results.json] [--seed N]

kebbie (https://github.com/FleksySDK/kebbie) corrupts clean text with a noise model of
mobile typing and scores a keyboard on auto-correction (precision, recall, F0.9),
auto-completion and next-word prediction (top-3 accuracy), as it did for the keyboards of
its published leaderboard (Gboard, iOS, SwiftKey...). This script plugs keyglide into
kebbie's ``Corrector`` interface and runs ``kebbie.evaluate`` offline, on local text and
with a common-typo table built from codespell's dictionary: see README.md beside this file
for what is measured, the noise model and the figures to compare with.

TEXT is a UTF-8 text file, or a ``.list`` file naming text files one per line (found
beside the list or in its ``novels/`` folder, as ``novels.test.list`` is laid out).
Needs ``pip install kebbie codespell`` beside keyglide (``nox -s kebbie`` installs them).
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import multiprocessing
import os
import pickle
import re
import socket
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

# kebbie scores the first three candidates (top-3 metrics): the strip a keyboard shows.
CANDIDATES = 3


# --- offline guard ---------------------------------------------------------------------


class NetworkAttempt(RuntimeError):
    """Something tried to reach the network: this benchmark must run without it."""


def forbid_network() -> None:
    """Make every outgoing connection or name lookup raise, in this process and in the
    workers it forks: kebbie's defaults download data, and a run must never depend on that.
    """

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise NetworkAttempt(
            f"kebbie_bench runs offline, but a network connection was attempted: {args[1:]!r}"
        )

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = refuse  # type: ignore[method-assign]
    socket.create_connection = refuse  # type: ignore[assignment]
    socket.getaddrinfo = refuse  # type: ignore[assignment]
    # The Hugging Face libraries kebbie imports: never look anything up.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"


# --- text ------------------------------------------------------------------------------


def text_files(path: Path) -> list[Path]:
    """The files of TEXT: itself, or the files a ``.list`` names."""
    if path.suffix != ".list":
        return [path]
    files = []
    for name in path.read_text(encoding="utf-8").split():
        for candidate in (path.parent / name, path.parent / "novels" / name):
            if candidate.is_file():
                files.append(candidate)
                break
        else:
            raise SystemExit(f"{path} names {name}, found neither beside it nor in novels/")
    return files


def clean_paragraph(block: str) -> str:
    """One paragraph on one line. Project Gutenberg's plain-text conventions go first: a
    double hyphen is a dash (punctuation: it becomes a comma, which kebbie's tokenizer
    drops) and underscores mark italics."""
    block = re.sub(r"-{2,}", ", ", block).replace("_", "")
    return " ".join(block.split())


def paragraphs(files: list[Path], count: int, min_words: int) -> dict[str, list[str]]:
    """The first ``count`` paragraphs of the files, in order, as kebbie's dataset: one
    domain per file. A paragraph is text between blank lines; headings (no lower-case
    letter), editorial notes in brackets and paragraphs of fewer than ``min_words`` words
    are skipped."""
    data: dict[str, list[str]] = {}
    taken = 0
    for path in files:
        text = path.read_text(encoding="utf-8")
        for block in re.split(r"\n[ \t]*\n", text):
            if taken == count:
                return data
            paragraph = clean_paragraph(block)
            if len(paragraph.split()) < min_words or not re.search(r"[a-z]", paragraph):
                continue
            if paragraph.startswith("[") and paragraph.endswith("]"):
                continue
            data.setdefault(path.stem, []).append(paragraph)
            taken += 1
    return data


# --- the common-typo table -------------------------------------------------------------

WORD = re.compile(r"[a-z]+(?:['-][a-z]+)*")


def codespell_typos() -> tuple[dict[str, list[str]], str]:
    """kebbie's common-typo table (correct word -> its misspellings) from codespell's
    dictionary, whose lines are ``misspelling->correction`` or, when ambiguous,
    ``misspelling->first, second,[ reason]``. Only unambiguous entries whose two sides are
    single lower-case words are kept (codespell matches case itself; kebbie looks words up
    as written, so capitalised words get no common typo, as with its own table)."""
    source = importlib.resources.files("codespell_lib") / "data" / "dictionary.txt"
    return parse_typos(source.read_text(encoding="utf-8")), f"codespell {_version('codespell')}"


def parse_typos(text: str) -> dict[str, list[str]]:
    """A typo table from codespell's format (``typo->correct``) or from the tab-separated
    Twitter Typo Corpus that kebbie downloads by default (``typo<TAB>correct<TAB>...``)."""
    table: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "->" in line:
            typo, correct = line.split("->", 1)
            if "," in correct:
                continue
        elif "\t" in line:
            typo, correct = line.split("\t")[:2]
        else:
            continue
        typo, correct = typo.strip().lower(), correct.strip().lower()
        if typo != correct and WORD.fullmatch(typo) and WORD.fullmatch(correct):
            typos = table.setdefault(correct, [])
            if typo not in typos:
                typos.append(typo)
    return table


def use_common_typos(table: dict[str, list[str]]) -> None:
    """Give kebbie's noise model this table instead of the one it downloads (or reads from
    ``~/.cache/common_typos/``, which is left alone). The workers are forked, so they see
    the replaced method."""
    from kebbie.noise_model import NoiseModel

    def common_typos(self: Any) -> dict[str, list[str]]:
        return table

    NoiseModel._get_common_typos = common_typos


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


# --- keyboard geometry -----------------------------------------------------------------


def kebbie_keys() -> list[tuple[str, float, float, float, float]]:
    """The keys of kebbie's default keyboard layer (en-US QWERTY, lower case), as
    (char, left, top, right, bottom) in kebbie's pixels: the keys its noise model taps."""
    from kebbie.layout import LayoutHelper

    layer = LayoutHelper("en-US", ignore_layers_after=3).klayers_info[0]
    return [
        (key.char, key.bounds["left"], key.bounds["top"], key.bounds["right"], key.bounds["bottom"])
        for key in layer
    ]


def keyglide_layout(spec: str) -> Any:
    """A keyglide layout: a layout name (``qwerty``) or the path of a layout file."""
    import keyglide

    if Path(spec).is_file():
        return keyglide.Layout.load(spec)
    return keyglide.Layout.named(spec)


class TouchMap:
    """Moves kebbie's taps onto a keyglide layout: a tap is placed at the same offset from
    the centre of the same character's key, measured in key widths and key heights (kebbie's
    keys are 32 x 72 pixels, keyglide's 1 x 1.5 key widths)."""

    def __init__(self, source: list[tuple[str, float, float, float, float]], layout: Any):
        self.source = source
        self.target = {
            key.char: (float(key.x), float(key.y), float(key.width), float(key.height))
            for key in layout.keys
        }

    def source_key(self, x: float, y: float) -> tuple[str, float, float, float, float]:
        """The kebbie key a tap falls in, else the one whose centre is nearest (as kebbie
        decides which character a tap typed)."""
        for key in self.source:
            _, left, top, right, bottom = key
            if left <= x <= right and top <= y <= bottom:
                return key
        return min(
            self.source,
            key=lambda k: ((k[1] + k[3]) / 2 - x) ** 2 + ((k[2] + k[4]) / 2 - y) ** 2,
        )

    def __call__(self, taps: list[tuple[float, float] | None]) -> list[tuple[float, float] | None]:
        touches: list[tuple[float, float] | None] = []
        for tap in taps:
            if tap is None:
                touches.append(None)
                continue
            char, left, top, right, bottom = self.source_key(*tap)
            target = self.target.get(char)
            if target is None:  # the space bar or the full stop: not on keyglide's layout
                touches.append(None)
                continue
            fx = (tap[0] - (left + right) / 2) / (right - left)
            fy = (tap[1] - (top + bottom) / 2) / (bottom - top)
            x, y, width, height = target
            touches.append((x + fx * width, y + fy * height))
        return touches


# --- the corrector ---------------------------------------------------------------------


def typed_start(text: str, context: str) -> int | None:
    """Where, in the word kebbie typed after ``context``, keyglide's word being typed
    starts (the last token, when it reaches the end of the text); None if keyglide sees no
    word being typed there (the word is all punctuation, say)."""
    from keyglide import text as kg_text

    spans = kg_text.spans(text)
    if not spans:
        return None
    start, end = spans[-1]
    tail = text[end:]
    if tail and not (len(tail) == 1 and tail in kg_text.JOINERS):
        return None
    return max(start - len(context), 0)


def match_case(word: str, typed: str) -> str:
    """A suggestion written as the user was writing: a capital first letter (or all
    capitals) carries over to a lower-case suggestion. Display forms (``I``, ``McCoy``)
    are kept as the langdb spells them."""
    if word != word.lower() or not typed[:1].isupper():
        return word
    letters = [c for c in typed if c.isalpha()]
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return word.upper()
    return word[:1].upper() + word[1:]


def unique(words: list[str]) -> list[str]:
    return list(dict.fromkeys(words))


def make_corrector(
    langdb: str,
    engine: str,
    api: str,
    layout: str,
    threshold: int | None,
    touch_map: TouchMap | None,
) -> Any:
    """A ``KeyglideCorrector`` (defined here so that kebbie is imported only when run)."""
    from kebbie import Corrector

    class KeyglideCorrector(Corrector):
        """keyglide as a kebbie Corrector.

        * ``auto_correct``: the candidates best first, the first being what a space would
          leave: the correction when keyglide would auto-correct, else the typed word
          (kebbie counts a first candidate equal to the typed word as "no correction").
        * ``auto_complete``: the suggestion strip for the partial word.
        * ``predict_next_word``: ``predict`` after the space.
        * ``resolve_swipe``: not overridden (keyglide has no gesture typing): no candidate.

        With ``api="predict"`` (a baseline, and keyglide releases without ``suggest``) the
        typed word is never corrected and completions come from ``predict``.
        """

        def __init__(
            self,
            langdb: str,
            engine: str,
            api: str,
            layout: str,
            threshold: int | None,
            touch_map: TouchMap | None,
        ) -> None:
            super().__init__()
            self.langdb, self.engine, self.api, self.layout = langdb, engine, api, layout
            self.threshold, self.touch_map = threshold, touch_map
            self._db: Any = None
            self._layout: Any = None

        def __reduce__(self) -> tuple:
            # Sent to each worker as its settings: the langdb is opened there.
            return opened_corrector, (
                self.langdb,
                self.engine,
                self.api,
                self.layout,
                self.threshold,
                self.touch_map,
            )

        @property
        def db(self) -> Any:
            if self._db is None:
                import keyglide

                self._db = keyglide.open(self.langdb, engine=self.engine)
                if self.api == "suggest":
                    self._layout = keyglide_layout(self.layout)
            return self._db

        def _strip(self, context: str, word: str, keystrokes: list) -> tuple[str, Any] | None:
            """keyglide's answer for ``word`` typed after ``context``: (the part of the
            word before keyglide's word being typed, the strip or the completions)."""
            text = context + word
            start = typed_start(text, context)
            if start is None:
                return None
            head = word[:start]
            if self.api == "predict":
                return head, self.db.predict(text, k=CANDIDATES)
            touches = None
            if self.touch_map is not None and len(keystrokes) == len(word):
                touches = self.touch_map(keystrokes[start:])
            db = self.db
            options = {} if self.threshold is None else {"threshold": self.threshold}
            strip = db.suggest(text, touches=touches, layout=self._layout, k=CANDIDATES, **options)
            return head, strip

        def auto_correct(self, context: str, keystrokes: list, word: str) -> list[str]:
            answer = self._strip(context, word, keystrokes)
            if answer is None:
                return [word]
            head, strip = answer
            typed = word[len(head) :]
            if self.api == "predict":
                first, others = word, [s.word for s in strip]
            else:
                first = word
                if strip.autocorrect and strip.correction is not None:
                    first = head + match_case(strip.correction.word, typed)
                others = [s.word for s in strip.suggestions]
            return unique([first] + [head + match_case(w, typed) for w in others])

        def auto_complete(self, context: str, keystrokes: list, partial_word: str) -> list[str]:
            answer = self._strip(context, partial_word, keystrokes)
            if answer is None:
                return []
            head, strip = answer
            typed = partial_word[len(head) :]
            found = strip if self.api == "predict" else strip.suggestions
            return unique([head + match_case(s.word, typed) for s in found])

        def predict_next_word(self, context: str) -> list[str]:
            return [s.word for s in self.db.predict(context, k=CANDIDATES)]

        # kebbie's own profiling traces Python allocations with tracemalloc (which never
        # sees the C kernel's memory, and is left running, slowing every later call) and
        # converts seconds with 10e9, so its "ns" are tenths of nanoseconds. Time each call
        # here in true nanoseconds and report no memory (kebbie skips negative values).
        def _timed(self, fn: Any, *args: Any) -> tuple[list[str], int, int]:
            start = time.perf_counter_ns()
            result = fn(*args)
            return result, -1, time.perf_counter_ns() - start

        def profiled_auto_correct(self, *args: Any, **kwargs: Any) -> tuple[list[str], int, int]:
            return self._timed(self.auto_correct, *args)

        def profiled_auto_complete(self, *args: Any, **kwargs: Any) -> tuple[list[str], int, int]:
            return self._timed(self.auto_complete, *args)

        def profiled_predict_next_word(
            self, *args: Any, **kwargs: Any
        ) -> tuple[list[str], int, int]:
            return self._timed(self.predict_next_word, *args)

        def profiled_resolve_swipe(self, *args: Any, **kwargs: Any) -> tuple[list[str], int, int]:
            return self._timed(self.resolve_swipe, *args)

    return KeyglideCorrector(langdb, engine, api, layout, threshold, touch_map)


def opened_corrector(*settings: Any) -> Any:
    """A corrector with its langdb open, so that no call kebbie times pays for opening."""
    corrector = make_corrector(*settings)
    corrector.db  # noqa: B018
    return corrector


# --- report ----------------------------------------------------------------------------


def summary(results: dict[str, Any]) -> str:
    nwp = results["next_word_prediction"]
    acp = results["auto_completion"]
    acr = results["auto_correction"]
    swp = results["swipe_resolution"]
    a = acr["score"]
    lines = [
        f"auto-correction    n={a['n']} ({a['n_typo']} with typos): precision {a['precision']}"
        f"  recall {a['recall']}  F0.9 {a['fscore']}  accuracy {a['accuracy']}",
        f"                   top-3: precision {a['top3_precision']}  recall {a['top3_recall']}"
        f"  F0.9 {a['top3_fscore']}",
        f"auto-completion    n={acp['score']['n']}: top-1 {acp['score']['accuracy']}"
        f"  top-3 {acp['score']['top3_accuracy']}  (top-3 without typo "
        f"{acp['per_other']['without_typo']['top3_accuracy']}, with typo "
        f"{acp['per_other']['with_typo']['top3_accuracy']})",
        f"next-word          n={nwp['score']['n']}: top-1 {nwp['score']['accuracy']}"
        f"  top-3 {nwp['score']['top3_accuracy']}",
        f"swipe              n={swp['score']['n']}: accuracy {swp['score']['accuracy']}"
        " (keyglide has no gesture typing)",
        f"overall score      {results['overall_score']:.4f}"
        " (0.15 next-word top-3 + 0.2 completion top-3 + 0.4 correction F + 0.25 swipe)",
        "",
        "auto-correction by typo type (kebbie's labels):",
        f"  {'typo':24} {'n_typo':>6} {'recall':>7} {'precision':>9} {'F0.9':>6}",
    ]
    for name, score in acr["per_typo_type"].items():
        if score["n_typo"]:
            lines.append(
                f"  {name:24} {score['n_typo']:>6} {score['recall']:>7} "
                f"{score['precision']:>9} {score['fscore']:>6}"
            )
    for name, score in acr["per_number_of_typos"].items():
        if score["n_typo"]:
            lines.append(
                f"  {name + ' typo(s) in the word':24} {score['n_typo']:>6} "
                f"{score['recall']:>7} {score['precision']:>9} {score['fscore']:>6}"
            )
    lines.append("")
    lines.append(
        "mean time per call: "
        + ", ".join(
            f"{task} {results[key]['performances']['mean_runtime']}"
            for task, key in (
                ("correction", "auto_correction"),
                ("completion", "auto_completion"),
                ("next word", "next_word_prediction"),
            )
        )
    )
    return "\n".join(lines)


def default_text() -> Path:
    corpora = Path(os.environ.get("KEYGLIDE_CORPORA", ROOT.parent / "shared" / "corpora"))
    return corpora / "novels.test.list"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "text",
        nargs="?",
        type=Path,
        default=None,
        help="a UTF-8 text file or a .list of them (default: $KEYGLIDE_CORPORA/"
        "novels.test.list, else ../shared/corpora/novels.test.list beside the repository)",
    )
    parser.add_argument("--langdb", help="the langdb to evaluate (default: keyglide's default)")
    parser.add_argument(
        "--engine",
        choices=["auto", "native", "reference"],
        default="auto",
        help="keyglide's engine (default auto: the C kernel; reference is slow)",
    )
    parser.add_argument("--paragraphs", type=int, default=2000, help="how many (default 2000)")
    parser.add_argument(
        "--min-words", type=int, default=4, help="skip paragraphs of fewer words (default 4)"
    )
    parser.add_argument(
        "--layout",
        default="qwerty",
        help="keyglide layout name or file the taps are moved onto (qwerty)",
    )
    parser.add_argument(
        "--threshold",
        type=int,
        default=None,
        help="suggest()'s auto-correction threshold (default: keyglide's)",
    )
    parser.add_argument(
        "--api",
        choices=["suggest", "predict"],
        default="suggest",
        help="suggest (default), or predict: the no-correction baseline",
    )
    parser.add_argument(
        "--no-touches",
        action="store_true",
        help="give suggest() no tap positions, only the typed letters",
    )
    parser.add_argument(
        "--typos",
        type=Path,
        default=None,
        help="a common-typo file instead of codespell's dictionary "
        "(codespell's 'typo->correct' lines or the tab-separated Twitter "
        "Typo Corpus)",
    )
    parser.add_argument("--seed", type=int, default=None, help="kebbie's seed (default 42)")
    parser.add_argument(
        "--procs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="worker processes (default: 2, or fewer cores)",
    )
    parser.add_argument(
        "--mistakes",
        type=int,
        default=0,
        metavar="N",
        help="also record kebbie's N most common mistakes per task in --out",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the full results here")
    args = parser.parse_args(argv)

    text = args.text or default_text()
    if not text.is_file():
        print(
            f"kebbie_bench: no text at {text}: give a text file or a .list of them "
            "(or set KEYGLIDE_CORPORA to the folder that holds novels.test.list)"
        )
        return 2

    forbid_network()
    try:
        import kebbie
    except ImportError:
        print(
            "kebbie_bench: needs kebbie and codespell: pip install kebbie codespell "
            "(or run nox -s kebbie)"
        )
        return 2
    import keyglide

    if "fork" not in multiprocessing.get_all_start_methods():
        print("kebbie_bench: needs the fork start method (Linux or macOS)")
        return 2
    # kebbie's workers must inherit the replaced typo table and the network guard.
    multiprocessing.set_start_method("fork", force=True)

    if args.api == "suggest" and not hasattr(keyglide.LangDB, "suggest"):
        print(
            f"kebbie_bench: keyglide {keyglide.__version__} has no LangDB.suggest: "
            "use --api predict for the no-correction baseline"
        )
        return 2

    if args.typos is not None:
        typos, typo_source = parse_typos(args.typos.read_text(encoding="utf-8")), str(args.typos)
    else:
        typos, typo_source = codespell_typos()
    use_common_typos(typos)

    data = paragraphs(text_files(text), args.paragraphs, args.min_words)
    taken = sum(len(p) for p in data.values())
    if not taken:
        print(f"kebbie_bench: no paragraph of {args.min_words} words or more in {text}")
        return 2

    langdb = args.langdb
    if langdb is None:
        from keyglide.default import default_langdb_path

        langdb = str(default_langdb_path())
    touch_map = None
    if args.api == "suggest" and not args.no_touches:
        touch_map = TouchMap(kebbie_keys(), keyglide_layout(args.layout))
    corrector = make_corrector(
        str(langdb), args.engine, args.api, args.layout, args.threshold, touch_map
    )
    pickle.loads(pickle.dumps(corrector))  # as kebbie sends it to its workers: opens the langdb

    words = sum(len(p.split()) for p in sum(data.values(), []))
    settings = {
        "text": str(text),
        "paragraphs": taken,
        "words_in_paragraphs": words,
        "paragraphs_per_file": {name: len(p) for name, p in data.items()},
        "langdb": str(langdb),
        "keyglide": keyglide.__version__,
        "engine": args.engine,
        "api": args.api,
        "layout": args.layout,
        "touches": touch_map is not None,
        "threshold": args.threshold,
        "kebbie": _version("kebbie"),
        "seed": args.seed if args.seed is not None else kebbie.DEFAULT_SEED,
        "common_typos": {
            "source": typo_source,
            "words": len(typos),
            "misspellings": sum(len(t) for t in typos.values()),
        },
    }
    print(
        f"kebbie {settings['kebbie']} on {taken} paragraphs of {text} ({words} words; kebbie "
        f"types at most the first 256 characters of each), seed {settings['seed']}"
    )
    print(
        f"keyglide {keyglide.__version__} ({args.engine} engine), {args.api}(), "
        f"layout {args.layout}, "
        f"touches {'on' if settings['touches'] else 'off'}, threshold "
        f"{args.threshold if args.threshold is not None else 'default'}: {langdb}"
    )
    print(
        f"common typos: {typo_source}, {settings['common_typos']['misspellings']} "
        f"misspellings of {len(typos)} words",
        flush=True,
    )

    started = time.monotonic()
    results = kebbie.evaluate(
        corrector,
        dataset=data,
        n_proc=args.procs,
        seed=settings["seed"],
        track_mistakes=args.mistakes > 0,
        n_most_common_mistakes=max(args.mistakes, 1),
    )
    settings["seconds"] = round(time.monotonic() - started, 1)
    print()
    print(summary(results))
    print(f"\n{settings['seconds']} s with {args.procs} worker(s)")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps({"settings": settings, "results": results}, indent=2, ensure_ascii=False)
            + "\n",
            encoding="utf-8",
        )
        print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
