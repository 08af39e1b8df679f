"""The ``keyglide`` command: a thin layer that parses arguments, calls the API and prints.

User errors (a missing file, a corrupt langdb, a bad argument) print one line on stderr,
``keyglide: error: ...``, and exit with status 2 (usage) or 1 (anything else); they never
print a traceback. They are keyglide's typed errors (``KeyglideError``, which ``UserError``
is too) and the system's ``OSError``. Anything else is a bug in keyglide: it prints its
traceback and exits with status 70 (``EXIT_BUG``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import time
import traceback
from pathlib import Path

import keyglide
from keyglide import text as contract
from keyglide.crosscheck import DEFAULT_K, DEFAULT_LIMIT, crosscheck
from keyglide.errors import (
    CorruptLangDB,
    InvalidText,
    KeyglideError,
    LayoutError,
    StoreReadError,
    UnsupportedVersion,
)

# Exit statuses, so that a script can tell causes apart (README lists them). EXIT_BUG is a
# bug in keyglide (EX_SOFTWARE of sysexits.h), reported with its traceback.
EXIT_ERROR = 1  # an error explained in one line: a failed check, a build or store refusal
EXIT_USAGE = 2  # the command line is wrong (argparse uses 2 too)
EXIT_BAD_INPUT = 3  # an input file is missing, unreadable, damaged or not UTF-8
EXIT_INCOMPATIBLE = 4  # a langdb this SDK does not read (a newer format or feature)
EXIT_BUG = 70


class UserError(KeyglideError):
    """A problem the user can fix; printed as one line."""


def main(argv: list[str] | None = None) -> int:
    handler = _show_library_messages()
    try:
        return _main(argv)
    finally:
        logging.getLogger("keyglide").removeHandler(handler)


def _main(argv: list[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.run(args) or 0
    except BrokenPipeError:  # `keyglide tokenize < big | head`: the reader has all it wants
        # Python flushes stdout again at exit; point it at nothing so that it stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (KeyglideError, OSError) as e:
        print(f"keyglide: error: {_one_line(e)}", file=sys.stderr)
        return _exit_status(e)
    except KeyboardInterrupt:
        return 130
    except Exception:
        traceback.print_exc()
        print(
            f"keyglide: internal error: a bug in keyglide {keyglide.__version__}, not in what "
            "it was given; please report it with the traceback above",
            file=sys.stderr,
        )
        return EXIT_BUG


def _exit_status(error: BaseException) -> int:
    """The exit status of an error keyglide explains (see the EXIT_* constants)."""
    if isinstance(error, UserError):
        return EXIT_USAGE
    if isinstance(error, UnsupportedVersion):
        return EXIT_INCOMPATIBLE
    if isinstance(error, (CorruptLangDB, InvalidText, LayoutError, StoreReadError)) or (
        isinstance(error, OSError) and not isinstance(error, KeyglideError)
    ):
        return EXIT_BAD_INPUT
    return EXIT_ERROR


def _one_line(error: BaseException) -> str:
    if isinstance(error, OSError) and not isinstance(error, KeyglideError) and error.filename:
        return f"{error.strerror or error}: {error.filename}"
    return " ".join(str(error).split()) or type(error).__name__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keyglide",
        description="On-device keyboard prediction: build, inspect and query langdbs.",
    )
    parser.add_argument("--version", action="version", version=f"keyglide {keyglide.__version__}")
    sub = parser.add_subparsers(metavar="COMMAND")
    for add in (
        _build_parser,
        _convert_parser,
        _inspect_parser,
        _verify_parser,
        _predict_parser,
        _perplexity_parser,
        _tokenize_parser,
        _crosscheck_parser,
        _export_arpa_parser,
        _store_parsers,
        _eval_parser,
        _report_parser,
        _demo_parser,
        _compat_parsers,
    ):
        add(sub)
    return parser


def _build_parser(sub) -> None:
    p = sub.add_parser("build", help="build a langdb from a recipe or from corpus files")
    p.add_argument("recipe", nargs="?", type=Path, help="a recipe .toml (see langdb/recipes/)")
    p.add_argument("--corpus", nargs="+", type=Path, metavar="FILE", help="UTF-8 text files")
    p.add_argument("--order", type=int, help="n-gram order, 2 to 5")
    p.add_argument("--vocab-size", type=int, metavar="V", help="keep the V most frequent words")
    p.add_argument(
        "--prune",
        type=int,
        nargs="+",
        metavar="T",
        help="per order from 2: drop n-grams seen at most T times (non-decreasing)",
    )
    p.add_argument(
        "--discount-fallback",
        action="store_true",
        help="use fixed discounts (0.5 1 1.5) where the corpus gives no valid Kneser-Ney ones",
    )
    p.add_argument("--language", default="und", help="BCP 47 language tag for the metadata")
    p.add_argument("--data-version", default="0.0.0", help="version of this language data")
    p.add_argument("--out", type=Path, help="output langdb (default: RECIPE_NAME.langdb)")
    p.add_argument("--jobs", type=int, help="worker processes for counting (default: CPUs)")
    p.add_argument(
        "--blocklist",
        type=Path,
        metavar="FILE",
        help="words never suggested, one a line (format 1.1; overrides the recipe's)",
    )
    p.add_argument(
        "--blocklist-required",
        action="store_true",
        help="readers that do not understand the blocklist must refuse the file",
    )
    p.add_argument(
        "--display-forms",
        action="store_true",
        help="store how words are shown, e.g. I and London (format 1.2; as the recipe's "
        "display_forms = true)",
    )
    p.add_argument(
        "--target-sdk",
        metavar="SPEC",
        help="SDK releases that must read the file fully, e.g. '>=1.0,<1.1': write the newest "
        "format they all read, dropping (and saying) what it cannot hold",
    )
    p.add_argument(
        "--allow-drop",
        action="store_true",
        help="with --target-sdk: drop a required feature rather than refuse",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(run=_build)


def _convert_parser(sub) -> None:
    p = sub.add_parser(
        "convert", help="rewrite a langdb in an older format version, for older SDK releases"
    )
    p.add_argument("db", type=Path, help="the langdb to convert")
    p.add_argument("--out", type=Path, required=True, help="the converted langdb")
    target = p.add_mutually_exclusive_group()
    target.add_argument(
        "--format",
        help="langdb format to write: 1.0 (default), 1.1, 1.2 or 1.3, not newer than the file's",
    )
    target.add_argument(
        "--target-sdk",
        metavar="SPEC",
        help="write the newest format every SDK release in SPEC reads fully, e.g. '>=1.0,<1.1'",
    )
    p.add_argument(
        "--allow-drop",
        action="store_true",
        help="drop a feature the file marks as required rather than refuse",
    )
    p.set_defaults(run=_convert)


def _inspect_parser(sub) -> None:
    p = sub.add_parser("inspect", help="show a langdb's header, sections and metadata")
    p.add_argument("db", type=Path)
    p.add_argument("--verify", action="store_true", help="also check every checksum and invariant")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=_inspect)


def _verify_parser(sub) -> None:
    p = sub.add_parser("verify", help="check every checksum and invariant of a langdb")
    p.add_argument("db", type=Path)
    p.set_defaults(run=_verify)


class _StderrHandler(logging.StreamHandler):
    """A handler that writes to ``sys.stderr`` as it is when a record comes (not as it was
    when the handler was made: a caller may have replaced it since)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def _show_library_messages() -> logging.Handler:
    """What the library logs at INFO or above (such as building the default langdb once),
    as ``keyglide: ...`` lines on stderr, while the command runs."""
    handler = _StderrHandler()
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("keyglide: %(message)s"))
    logger = logging.getLogger("keyglide")
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    return handler


def _predict_parser(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="suggest the next word, or complete (and correct) the word being typed",
        description="Print the suggestion strip for the text before the cursor, one "
        "'word<TAB>score' line each, best first. A word being typed is decoded as typed on "
        "a keyboard, typos included; the word a space would auto-correct it to is marked "
        "with a third column, 'autocorrect'.",
    )
    p.add_argument("text", nargs="*", help="text before the cursor (omit for interactive mode)")
    _db_options(p)
    p.add_argument("-k", type=int, default=3, help="number of suggestions (default 3)")
    p.add_argument(
        "--layout",
        default="qwerty",
        metavar="NAME|FILE",
        help="keyboard layout: qwerty (default), azerty, qwertz or a layout file",
    )
    p.add_argument(
        "--threshold",
        type=int,
        default=keyglide.DEFAULT_THRESHOLD,
        help="confidence (0.0001 log10 units) from which a space auto-corrects "
        f"(default {keyglide.DEFAULT_THRESHOLD})",
    )
    p.add_argument(
        "--exact",
        action="store_true",
        help="complete exactly what was typed, without correcting it (LangDB.predict)",
    )
    p.set_defaults(run=_predict)


def _perplexity_parser(sub) -> None:
    p = sub.add_parser("perplexity", help="perplexity of a text file under a langdb")
    _db_options(p)
    p.add_argument("--text", type=Path, required=True, metavar="FILE")
    p.set_defaults(run=_perplexity)


def _tokenize_parser(sub) -> None:
    p = sub.add_parser("tokenize", help="the contract's tokens of stdin: one sentence per line")
    p.set_defaults(run=_tokenize)


def _crosscheck_parser(sub) -> None:
    p = sub.add_parser(
        "crosscheck",
        help="check that the native kernel answers exactly as the reference engine on a text",
        description="Ask both engines (reference and native) the next word before every word "
        "of a text and the completion of every prefix of it, and score every sentence; exit 1 "
        "if any answer differs (words, scores, order or sums), 0 if all are identical.",
    )
    p.add_argument("--db", type=Path, required=True, help="langdb file")
    p.add_argument("--text", type=Path, required=True, metavar="FILE", help="UTF-8 text file")
    p.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"check the first N words of the text, 0 for all (default {DEFAULT_LIMIT}; "
        "the reference engine takes about a millisecond per call)",
    )
    p.add_argument(
        "-k",
        type=int,
        default=DEFAULT_K,
        help=f"suggestions compared per call (default {DEFAULT_K})",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(run=_crosscheck)


def _export_arpa_parser(sub) -> None:
    p = sub.add_parser("export-arpa", help="write a langdb's model as an ARPA file")
    p.add_argument("--db", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(run=_export_arpa)


def _compat_parsers(sub) -> None:
    try:
        from keyglide.compat import add_cli
    except ImportError:  # an installation without the compatibility module
        return
    add_cli(sub)


def _db_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", type=Path, help="langdb file (default: the default English langdb)")
    p.add_argument(
        "--engine",
        default="auto",
        choices=("auto", "native", "reference"),
        help="prediction engine (default: auto)",
    )


def _open(args) -> keyglide.LangDB:
    """The langdb of ``--db`` (default: the default English langdb); a file read degraded
    is said once, on stderr."""
    db = keyglide.open(args.db, engine=args.engine)
    try:
        outcome = db.compat
        if outcome.status == "degraded":
            logging.getLogger("keyglide").warning("%s", outcome.message)
    except BaseException:
        db.close()
        raise
    return db


def _build(args) -> int:
    from keyglide.builder import Recipe, build

    if args.recipe is not None:
        if args.corpus or args.order:
            raise UserError("give either a recipe or --corpus/--order, not both")
        recipe = Recipe.from_toml(args.recipe)
    else:
        if not args.corpus or not args.order:
            raise UserError("build needs a RECIPE.toml, or --corpus FILE... and --order N")
        recipe = Recipe.from_args(
            corpus=args.corpus,
            order=args.order,
            vocab_size=args.vocab_size,
            prune=args.prune,
            language=args.language,
            data_version=args.data_version,
            discount_fallback=True if args.discount_fallback else None,
        )
    if args.blocklist is not None:
        recipe = recipe.with_blocklist(args.blocklist, required=args.blocklist_required)
    elif args.blocklist_required:
        if recipe.blocklist is None:
            raise UserError("--blocklist-required needs --blocklist FILE or a recipe blocklist")
        recipe = dataclasses.replace(recipe, blocklist_required=True)
    if args.display_forms:
        recipe = dataclasses.replace(recipe, display_forms=True)
    out = args.out or Path(f"{recipe.name}.langdb")
    _check_output(out)
    if args.allow_drop and args.target_sdk is None:
        raise UserError("--allow-drop needs --target-sdk SPEC")
    if args.target_sdk is None:
        result = build(recipe, out, jobs=args.jobs, progress=not args.quiet)
        print(f"{result.path}\t{result.sha256}")
        return 0
    return _build_for(args, recipe, out, build)


def _build_for(args, recipe, out: Path, build) -> int:
    """``build --target-sdk``: decide the format before building (so that a refusal costs
    nothing), build, then convert if the chosen format cannot hold what the recipe asks."""
    from keyglide.convert import convert, plan
    from keyglide.format import FEATURES_SINCE_MINOR, FORMAT_MAJOR, Feature

    blocklist = ["BLOCKLIST"] if recipe.blocklist is not None else []
    required = blocklist if recipe.blocklist_required else []
    optional = [] if recipe.blocklist_required else list(blocklist)
    if recipe.display_forms:
        optional.append("DISPLAY_FORMS")
    newest = max((FEATURES_SINCE_MINOR[Feature[n]] for n in required + optional), default=0)
    fmt, dropped, messages = plan(
        f"{FORMAT_MAJOR}.{newest}",
        required,
        optional,
        target_sdk=args.target_sdk,
        allow_drop=args.allow_drop,
    )
    progress = not args.quiet
    if not dropped:
        result = build(recipe, out, jobs=args.jobs, progress=progress)
        path, digest = result.path, result.sha256
    else:
        built = out.with_name(f".{out.name}.build.langdb")
        try:
            build(recipe, built, jobs=args.jobs, progress=progress)
            converted = convert(built, out, target_sdk=args.target_sdk, allow_drop=args.allow_drop)
        finally:
            built.unlink(missing_ok=True)
        path, digest = converted.path, converted.sha256
    for line in messages:
        print(f"keyglide: {line}", file=sys.stderr)
    print(f"keyglide: wrote langdb format {fmt}", file=sys.stderr)
    print(f"{path}\t{digest}")
    return 0


def _convert(args) -> int:
    from keyglide.convert import check_format, convert

    check_format(args.format)
    _check_output(args.out)
    result = convert(
        args.db,
        args.out,
        format=args.format,
        target_sdk=args.target_sdk,
        allow_drop=args.allow_drop,
    )
    for line in result.messages:
        print(f"keyglide: {line}", file=sys.stderr)
    print(f"keyglide: wrote langdb format {result.format}", file=sys.stderr)
    print(f"{result.path}\t{result.sha256}")
    return 0


def _inspect(args) -> int:
    from keyglide.reader import LangDBFile

    with LangDBFile.open(args.db) as f:
        if args.verify:
            f.verify()
        summary = f.describe()
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True, ensure_ascii=False))
        return 0
    h = summary["header"]
    print(f"file          {args.db}")
    print(f"format        {h['major']}.{h['minor']}")
    print(
        f"features      required={h['required_features']:#x} optional={h['optional_features']:#x}"
    )
    print(f"size          {h['file_size']} bytes, {len(summary['sections'])} sections")
    if args.verify:
        print("verified      every checksum and invariant")
    print()
    print(f"{'section':<20} {'order':>5} {'type':>4} {'entries':>10} {'bytes':>10}  crc32")
    for s in summary["sections"]:
        print(
            f"{s['name']:<20} {s['order']:>5} {s['type']:>4} {s['entries']:>10} "
            f"{s['length']:>10}  {s['crc32']:08x}"
        )
    print()
    print(json.dumps(summary["metadata"], indent=2, sort_keys=True, ensure_ascii=False))
    return 0


def _verify(args) -> int:
    from keyglide.reader import LangDBFile

    with LangDBFile.open(args.db) as f:
        f.verify()
    print(f"{args.db}: ok")
    return 0


def _predict(args) -> int:
    if args.k < 0:
        raise UserError("-k must be at least 0")
    if args.k > keyglide.MAX_K:
        raise UserError(f"k must be an integer from 0 to {keyglide.MAX_K}, not {args.k}")
    layout = _layout(args.layout)
    with _open(args) as db:

        def answer(text: str) -> None:
            if args.exact:
                _print_suggestions(db.predict(text, k=args.k))
                return
            strip = db.suggest(text, layout=layout, k=args.k, threshold=args.threshold)
            applied = strip.correction.word if strip.autocorrect and strip.correction else None
            for s in strip.suggestions:
                print(f"{s.word}\t{s.score}" + ("\tautocorrect" if s.word == applied else ""))
            sys.stdout.flush()

        if args.text:
            answer(_argument_text(args.text))
            return 0
        stdin_line = _StdinLines()
        interactive = sys.stdin.isatty()
        if interactive:
            print(
                "Type the text before the cursor and press Enter (end with a space to predict "
                "the next word). Ctrl-D quits.",
                file=sys.stderr,
            )
        while True:
            if interactive:
                print("> ", end="", file=sys.stderr, flush=True)
            line = sys.stdin.buffer.readline()
            if not line:
                return 0
            answer(stdin_line(line))
            if not interactive:
                print()


def _layout(name: str) -> keyglide.Layout:
    """A shipped layout by name, or a layout file."""
    from keyglide.keyboard import NAMED_LAYOUTS

    if name in NAMED_LAYOUTS:
        return keyglide.Layout.named(name)
    if not os.path.exists(name):
        raise UserError(
            f"--layout {name}: no such file; the shipped layouts are {', '.join(NAMED_LAYOUTS)}"
        )
    return keyglide.Layout.load(name)


def _argument_text(words: list[str]) -> str:
    """The words given on the command line as one text; they must be UTF-8 (the bytes that
    are not reach Python as lone surrogates U+DC80 to U+DCFF, and are refused)."""
    from keyglide.textfile import decode_utf8

    joined = " ".join(words)
    if any("\udc80" <= c <= "\udcff" for c in joined):
        try:
            decode_utf8(os.fsencode(joined), "the text argument")
        except UnicodeEncodeError:
            pass
    return joined


class _StdinLines:
    """Lines of standard input (bytes) as text without the line feed; a line that is not
    UTF-8 text is an ``InvalidText`` giving the byte offset in the whole input."""

    def __init__(self) -> None:
        self._offset = 0
        self._head = b""

    def __call__(self, line: bytes) -> str:
        from keyglide.errors import InvalidText
        from keyglide.textfile import first_invalid, invalid_utf8_message

        offset, self._offset = self._offset, self._offset + len(line)
        self._head = self._head or line[:4096]
        problem = first_invalid(line)
        if problem is not None:
            where, bad, reason = problem
            message = invalid_utf8_message("<stdin>", self._head, offset + where, bad, reason)
            raise InvalidText(message, "<stdin>", offset + where)
        return line.rstrip(b"\n").decode("utf-8")


def _print_suggestions(suggestions) -> None:
    for s in suggestions:
        print(f"{s.word}\t{s.score}")
    sys.stdout.flush()


def _perplexity(args) -> int:
    from keyglide.evaluate import read_text

    content = read_text(args.text)
    sentences = contract.sentences(content)
    tokens = sum(len(s) + 1 for s in sentences)
    with _open(args) as db:
        if tokens == 0:
            raise UserError("perplexity is undefined for a text without words: it has no tokens")
        ppl = db.perplexity(content)
        logprob = db.logprob(content)
    print(f"perplexity\t{ppl:.4f}")
    print(f"log10prob\t{logprob:.4f}")
    print(f"tokens\t{tokens}\t(words and one </s> per sentence)")
    print(f"sentences\t{len(sentences)}")
    return 0


def _tokenize(args) -> int:
    from keyglide.textfile import decode_utf8

    content = decode_utf8(sys.stdin.buffer.read(), "<stdin>")
    out = sys.stdout
    for sentence in contract.sentences(content):
        out.write(" ".join(sentence))
        out.write("\n")
    return 0


def _crosscheck(args) -> int:
    if not 1 <= args.k <= keyglide.MAX_K:
        raise UserError(f"-k must be an integer from 1 to {keyglide.MAX_K}")
    if args.limit < 0:
        raise UserError("--limit must be at least 0 (0 checks every word)")
    from keyglide.evaluate import read_text

    content = read_text(args.text)
    progress = None if args.quiet else _ProgressLine("crosscheck")
    try:
        result = crosscheck(args.db, content, limit=args.limit or None, k=args.k, progress=progress)
    finally:
        if progress is not None:
            progress.done()
    if result.words == 0:
        raise UserError(f"{args.text}: the text has no words: nothing to check")
    print(result.report())
    return 0 if result.ok else 1


class _ProgressLine:
    """Progress of a long run on stderr: one line redrawn in place on a terminal, a line
    every ten seconds otherwise; nothing for runs shorter than a second."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._tty = sys.stderr.isatty()
        self._started = time.monotonic()
        self._next = self._started + 1.0
        self._drawn = False

    def __call__(self, done: int, total: int, calls: int) -> None:
        now = time.monotonic()
        if now < self._next and done < total:
            return
        if now - self._started < 1.0:
            return
        self._next = now + (0.2 if self._tty else 10.0)
        rate = calls / (now - self._started)
        line = f"{self._name}: {done}/{total} words, {calls} calls, {rate:.0f} calls/s"
        if self._tty:
            print(f"\r\033[K{line}", end="", file=sys.stderr, flush=True)
            self._drawn = True
        else:
            print(line, file=sys.stderr, flush=True)

    def done(self) -> None:
        if self._drawn:
            print("\r\033[K", end="", file=sys.stderr, flush=True)


def _check_output(path: Path) -> None:
    """Refuse an output that exists and is not a regular file (a device, a FIFO, a socket, a
    directory, or a symbolic link to one): writing would replace it or write through it."""
    from keyglide.builder.write import output_problem

    problem = output_problem(path)
    if problem is not None:
        raise UserError(f"--out {problem}")


def _export_arpa(args) -> int:
    from keyglide.arpa import export_arpa

    _check_output(args.out)
    export_arpa(args.db, args.out)
    print(args.out)
    return 0


# --- keyglide store ---------------------------------------------------------------------------


def _store_parsers(sub) -> None:
    p = sub.add_parser(
        "store",
        help="install, activate and revert langdbs in an on-device store",
        description="Manage a store of langdbs installed side by side by language and data "
        "version, one active per language. Activate and revert are atomic; a killed or failed "
        "command leaves the store as it was. The store is the directory given with --root "
        "(default: $KEYGLIDE_STORE).",
    )
    actions = p.add_subparsers(metavar="ACTION", dest="action", required=True)
    root = argparse.ArgumentParser(add_help=False)
    root.add_argument(
        "--root", type=Path, metavar="DIR", help="the store's directory (default: $KEYGLIDE_STORE)"
    )

    q = actions.add_parser(
        "install",
        parents=[root],
        help="verify a langdb and install it under its language and data version",
    )
    q.add_argument("file", type=Path, help="the langdb file")
    q.set_defaults(run=_store_install)

    q = actions.add_parser(
        "activate", parents=[root], help="make an installed version the active one (atomic)"
    )
    q.add_argument("language", help="language tag, e.g. en")
    q.add_argument("version", help="an installed data version")
    q.set_defaults(run=_store_activate)

    q = actions.add_parser(
        "revert", parents=[root], help="go back to the previously active version (atomic)"
    )
    q.add_argument("language")
    q.set_defaults(run=_store_revert)

    q = actions.add_parser(
        "history", parents=[root], help="a language's activations, newest (active) first"
    )
    q.add_argument("language")
    q.set_defaults(run=_store_history)

    q = actions.add_parser(
        "list", parents=[root], help="installed versions: active, previous or installed"
    )
    q.set_defaults(run=_store_list)

    q = actions.add_parser(
        "gc",
        parents=[root],
        help="remove old versions that are not active, not in the revert history and not open",
    )
    q.add_argument(
        "--keep",
        type=int,
        default=2,
        metavar="N",
        help="keep each language's N newest versions in any case (default 2)",
    )
    q.set_defaults(run=_store_gc)

    q = actions.add_parser(
        "active", parents=[root], help="the active version of a language: version, sha256, path"
    )
    q.add_argument("language")
    q.set_defaults(run=_store_active)


def _the_store(args) -> keyglide.Store:
    import os

    root = args.root or os.environ.get("KEYGLIDE_STORE")
    if not root:
        raise UserError("give the store's directory with --root DIR (or set KEYGLIDE_STORE)")
    return keyglide.Store(root)


def _store_install(args) -> int:
    entry = _the_store(args).install(args.file)
    print(f"{entry.language}\t{entry.version}\t{entry.sha256}\t{entry.path}")
    return 0


def _store_activate(args) -> int:
    a = _the_store(args).activate(args.language, args.version)
    print(f"{a.language}\t{a.version}\t{a.sha256}")
    return 0


def _store_revert(args) -> int:
    a = _the_store(args).revert(args.language)
    print(f"{a.language}\t{a.version}\t{a.sha256}")
    return 0


def _store_history(args) -> int:
    history = _the_store(args).history(args.language)
    if not history:
        raise UserError(f"{args.language} was never activated in this store")
    for i, a in enumerate(history):
        state = "active" if i == 0 else "previous"
        print(f"{a.version}\t{a.sha256}\t{a.activated_at}\t{state}")
    return 0


def _store_list(args) -> int:
    for entry in _the_store(args).list():
        print(f"{entry.language}\t{entry.version}\t{entry.size}\t{entry.state}")
    return 0


def _store_gc(args) -> int:
    if args.keep < 0:
        raise UserError("--keep must be at least 0")
    result = _the_store(args).gc(keep=args.keep)
    for entry in result.removed:
        print(f"removed\t{entry.language}\t{entry.version}")
    for entry in result.in_use:
        print(f"in use\t{entry.language}\t{entry.version}\t(open in a predictor: kept)")
    return 0


def _store_active(args) -> int:
    entry = _the_store(args).active(args.language)
    if entry is None:
        raise UserError(f"{args.language} has no active version in this store")
    print(f"{entry.version}\t{entry.sha256}\t{entry.path}")
    return 0


# --- keyglide eval, keyglide report ----------------------------------------------------------


def _eval_parser(sub) -> None:
    from keyglide.evaluate import DEFAULT_K as EVAL_K

    p = sub.add_parser(
        "eval",
        help="keystroke savings, accuracy, perplexity and speed of a langdb on a held-out text",
        description="Simulate typing a text with the langdb's suggestions and report the "
        "keystroke savings rate (KSR), next-word top-1/top-k accuracy, completion accuracy "
        "after 1-3 letters, perplexity, OOV rate and predictions per second. Words are the "
        "tokenization contract's folded tokens; characters are counted as their Unicode code "
        "points. See keyglide.evaluate for the exact definitions. With --noise, type the "
        "text with simulated mistakes instead and report what auto-correction and "
        "completion make of them (keyglide.noisy).",
    )
    p.add_argument("--db", type=Path, required=True, help="langdb file")
    p.add_argument(
        "--text",
        type=Path,
        nargs="+",
        required=True,
        metavar="FILE",
        help="UTF-8 text file(s), read as one text (a blank line between files)",
    )
    p.add_argument("-k", type=int, default=EVAL_K, help=f"suggestions shown (default {EVAL_K})")
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the metrics as JSON")
    p.add_argument(
        "--hide-offered",
        action="store_true",
        help="also report the KSR when words offered and not taken are not offered again "
        "for the same word",
    )
    p.add_argument(
        "--details",
        type=Path,
        metavar="OUT",
        help="write one JSON line per sentence: its words, after how many characters each "
        "was accepted (null: never), keys saved",
    )
    p.add_argument(
        "--limit-words",
        type=int,
        metavar="N",
        help="simulate typing on the first N words only (perplexity covers the whole text)",
    )
    p.add_argument(
        "--engine",
        default="auto",
        choices=("auto", "native", "reference"),
        help="prediction engine (default: auto, the native kernel when installed)",
    )
    noise = p.add_argument_group("typing with mistakes (keyglide.noisy)")
    noise.add_argument(
        "--noise",
        action="store_true",
        help="simulate typos and touch noise; report auto-correction precision, recall and "
        "F-score, completion and next-word top-k, KSR and word errors under noise",
    )
    noise.add_argument("--layout", default="qwerty", metavar="NAME|FILE", help="(default qwerty)")
    noise.add_argument(
        "--threshold", type=int, help="auto-correction confidence threshold (score units)"
    )
    noise.add_argument("--touch-sigma", type=float, help="touch noise, in key sizes (default 0.2)")
    noise.add_argument("--typo-rate", type=float, metavar="P",
                       help="probability of each of a dropped, a doubled and a swapped letter, "
                       "per character (default 0.01)")  # fmt: skip
    noise.add_argument("--seed", type=int, default=0, help="random seed of the noise (default 0)")
    noise.add_argument(
        "--no-touches",
        action="store_true",
        help="give the decoder only the characters typed, not the touch points",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar on stderr")
    p.set_defaults(run=_eval)


def _report_parser(sub) -> None:
    from keyglide.evaluate import DEFAULT_K as EVAL_K

    p = sub.add_parser(
        "report",
        help="a release review report of a langdb against the previous release",
        description="Evaluate NEW and the baseline on the same held-out text and write a "
        "self-contained HTML page (DIR/index.html) and a markdown summary for a pull request "
        "(DIR/summary.md): metrics side by side, charts, the standard review examples, which "
        "SDK releases read the file, and the provenance difference.",
    )
    p.add_argument("new", type=Path, metavar="NEW", help="the langdb under review")
    p.add_argument(
        "--baseline",
        type=Path,
        metavar="OLD",
        help="the release it replaces (omit only for a first release)",
    )
    p.add_argument(
        "--text",
        type=Path,
        nargs="+",
        required=True,
        metavar="FILE",
        help="held-out text file(s), read as one text",
    )
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output directory")
    p.add_argument("-k", type=int, default=EVAL_K, help=f"suggestions shown (default {EVAL_K})")
    p.add_argument(
        "--limit-words", type=int, metavar="N", help="simulate typing on the first N words only"
    )
    p.add_argument(
        "--examples",
        type=Path,
        metavar="TOML",
        help="review examples (default: langdb/examples/review.toml of this repository)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar on stderr")
    p.set_defaults(run=_report)


def _check_eval_args(args) -> None:
    if not 1 <= args.k <= keyglide.MAX_K:
        raise UserError(f"-k must be an integer from 1 to {keyglide.MAX_K}")
    if args.limit_words is not None and args.limit_words < 1:
        raise UserError("--limit-words must be at least 1")


def _eval(args) -> int:
    from keyglide.evaluate import evaluate, read_texts

    _check_eval_args(args)
    noise_options = [
        flag
        for flag, value in (
            ("--threshold", args.threshold),
            ("--touch-sigma", args.touch_sigma),
            ("--typo-rate", args.typo_rate),
            ("--no-touches", args.no_touches or None),
        )
        if value is not None
    ]
    if args.noise and (args.hide_offered or args.details):
        raise UserError("--noise does not take --hide-offered or --details")
    if not args.noise and noise_options:
        raise UserError(f"{', '.join(noise_options)} only apply with --noise")
    content = read_texts(args.text)
    if args.noise:
        return _eval_noisy(args, content)
    result = _evaluate(
        args,
        "eval",
        lambda db, progress: evaluate(
            db,
            content,
            k=args.k,
            hide_offered=args.hide_offered,
            limit_words=args.limit_words,
            details=args.details is not None,
            progress=progress,
        ),
    )
    if args.details is not None:
        with open(args.details, "w", encoding="utf-8") as out:
            for record in result.details:
                out.write(json.dumps(record, ensure_ascii=False))
                out.write("\n")
    return 0


def _evaluate(args, label: str, run):
    """``run(db, progress)`` on the langdb of ``args`` with a progress bar; its summary
    printed, and written as JSON with ``--json``."""
    progress = None if args.quiet else _ProgressBar(label)
    with _open(args) as db:
        try:
            result = run(db, progress)
        finally:
            if progress is not None:
                progress.done()
    if result.words == 0:
        raise UserError(
            f"{', '.join(map(str, args.text))}: the text has no words: nothing to evaluate"
        )
    print(result.summary())
    if args.json is not None:
        _write_json(args.json, result.to_dict())
    return result


def _eval_noisy(args, content: str) -> int:
    from keyglide.noisy import NoiseModel, evaluate_noisy

    options = {}
    if args.touch_sigma is not None:
        options["touch_sigma"] = args.touch_sigma
    if args.typo_rate is not None:
        options.update(drop=args.typo_rate, double=args.typo_rate, swap=args.typo_rate)
    try:
        model = NoiseModel(seed=args.seed, **options)
    except ValueError as e:
        raise UserError(str(e)) from None
    layout = _layout(args.layout)
    threshold = keyglide.DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    _evaluate(
        args,
        "eval --noise",
        lambda db, progress: evaluate_noisy(
            db,
            content,
            model=model,
            layout=layout,
            k=args.k,
            threshold=threshold,
            limit_words=args.limit_words,
            touches=not args.no_touches,
            progress=progress,
        ),
    )
    return 0


def _write_json(path: Path, data) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False, default=str)
    path.write_text(text + "\n", encoding="utf-8")


def _report(args) -> int:
    from keyglide.report import write_report

    _check_eval_args(args)
    _check_report_dir(args.out)
    _check_examples(args.examples)
    progress = None if args.quiet else _ProgressBar("report")
    try:
        result = write_report(
            args.new,
            args.baseline,
            args.text,
            args.out,
            k=args.k,
            limit_words=args.limit_words,
            examples=args.examples,
            progress=progress,
        )
    finally:
        if progress is not None:
            progress.done()
    print(result.index)
    print(result.summary)
    return 0


def _check_report_dir(out: Path) -> None:
    """``report --out DIR``: DIR, if it exists, must be a directory, and the files the report
    writes in it, if they exist, regular files."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise UserError(f"--out {out} exists and is not a directory")
    for name in ("index.html", "summary.md"):
        _check_output(out / name)


def _check_examples(path: Path | None) -> None:
    """``report --examples TOML``: the file must be a review examples file (``load_examples``
    says what is wrong with it as a ``ValueError``)."""
    from keyglide.report.collect import load_examples

    if path is None:
        return
    try:
        load_examples(path)
    except ValueError as e:
        raise UserError(str(e)) from None


class _ProgressBar:
    """A progress bar on stderr, redrawn in place on a terminal; on a pipe, a line every ten
    seconds; nothing for runs shorter than a second. Called as (done, total, predictions);
    ``label`` changes the text before the bar (one bar per stage)."""

    WIDTH = 30

    def __init__(self, label: str) -> None:
        self.label = label
        self._tty = sys.stderr.isatty()
        self._started = time.monotonic()
        self._next = self._started + 1.0
        self._drawn = False

    def __call__(self, done: int, total: int, predictions: int) -> None:
        now = time.monotonic()
        if done == 0 and predictions == 0:  # the first report: the stage starts now
            self._started, self._next = now, now + 1.0
        if now < self._next or now - self._started < 1.0:
            return
        self._next = now + (0.1 if self._tty else 10.0)
        filled = self.WIDTH * done // total if total else self.WIDTH
        bar = "#" * filled + "." * (self.WIDTH - filled)
        percent = 100 * done / total if total else 100.0
        rate = predictions / (now - self._started)
        line = (
            f"{self.label} [{bar}] {percent:5.1f}% {done:,}/{total:,} words, "
            f"{rate:,.0f} predictions/s"
        )
        if self._tty:
            print(f"\r\033[K{line}", end="", file=sys.stderr, flush=True)
            self._drawn = True
        else:
            print(line, file=sys.stderr, flush=True)

    def restart(self, label: str) -> None:
        """A new stage: a new label and rate."""
        self.label = label
        self._started = time.monotonic()
        self._next = self._started + 1.0

    def done(self) -> None:
        if self._drawn:
            print("\r\033[K", end="", file=sys.stderr, flush=True)


# --- keyglide demo --------------------------------------------------------------------------


def _demo_parser(sub) -> None:
    from keyglide.demo import DEFAULT_HOST, DEFAULT_PORT

    p = sub.add_parser(
        "demo",
        help="a keyboard suggestion strip in a local web page",
        description="Serve a local web page with a text area and a strip of three suggestions "
        "that follows every keystroke; click one to insert it. With --store, the page also "
        "switches the language's active version (Store.activate). Nothing is fetched from "
        "anywhere else.",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("--db", type=Path, help="langdb file (default: the default English langdb)")
    source.add_argument("--store", type=Path, metavar="ROOT", help="a store's directory")
    p.add_argument("--lang", metavar="LANG", help="with --store: the language to serve")
    p.add_argument(
        "--engine",
        default="auto",
        choices=("auto", "native", "reference"),
        help="prediction engine (default: auto)",
    )
    p.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})"
    )
    p.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host that is not a loopback address (other machines can then use it)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log every request on stderr")
    p.set_defaults(run=_demo)


def _demo(args) -> int:
    from keyglide.demo.server import Demo, is_loopback, serve

    if (args.store is None) != (args.lang is None):
        raise UserError("--store ROOT and --lang LANG go together")
    if not 0 <= args.port <= 65535:
        raise UserError("--port must be from 0 to 65535")
    if not args.allow_remote and not is_loopback(args.host):
        raise UserError(
            f"--host {args.host} is not a loopback address: the demo would be reachable from "
            "other machines; add --allow-remote to do that on purpose"
        )
    if args.store is not None:
        demo = Demo(store=args.store, language=args.lang, engine=args.engine)
    else:
        demo = Demo(db=args.db, engine=args.engine)
    try:
        serve(demo, args.host, args.port, allow_remote=args.allow_remote, verbose=args.verbose)
    finally:
        demo.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
