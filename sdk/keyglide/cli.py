"""The ``keyglide`` command: a thin layer that parses arguments, calls the API and prints.

User errors (a missing file, a corrupt langdb, a bad argument) print one line on stderr,
``keyglide: error: ...``, and exit with status 2 (usage) or 1 (anything else); they never
print a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import keyglide
from keyglide import text as contract
from keyglide.errors import KeyglideError


class UserError(Exception):
    """A problem the user can fix; printed as one line."""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.run(args) or 0
    except (KeyglideError, UserError, OSError, ValueError) as e:
        print(f"keyglide: error: {_one_line(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `keyglide tokenize < big | head`
        return 0


def _one_line(error: BaseException) -> str:
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.strerror or error}: {error.filename}"
    return " ".join(str(error).split()) or type(error).__name__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keyglide",
        description="On-device keyboard prediction: build, inspect and query langdbs.",
    )
    parser.add_argument("--version", action="version", version=f"keyglide {keyglide.__version__}")
    sub = parser.add_subparsers(metavar="COMMAND")

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
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(run=_build)

    p = sub.add_parser("inspect", help="show a langdb's header, sections and metadata")
    p.add_argument("db", type=Path)
    p.add_argument("--verify", action="store_true", help="also check every checksum and invariant")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=_inspect)

    p = sub.add_parser("verify", help="check every checksum and invariant of a langdb")
    p.add_argument("db", type=Path)
    p.set_defaults(run=_verify)

    p = sub.add_parser("predict", help="suggest the next word, or complete the word being typed")
    p.add_argument("text", nargs="*", help="text before the cursor (omit for interactive mode)")
    _db_options(p)
    p.add_argument("-k", type=int, default=3, help="number of suggestions (default 3)")
    p.set_defaults(run=_predict)

    p = sub.add_parser("perplexity", help="perplexity of a text file under a langdb")
    _db_options(p)
    p.add_argument("--text", type=Path, required=True, metavar="FILE")
    p.set_defaults(run=_perplexity)

    p = sub.add_parser("tokenize", help="the contract's tokens of stdin: one sentence per line")
    p.set_defaults(run=_tokenize)

    p = sub.add_parser("export-arpa", help="write a langdb's model as an ARPA file")
    p.add_argument("--db", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(run=_export_arpa)
    return parser


def _db_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", type=Path, help="langdb file (default: the default English langdb)")
    p.add_argument(
        "--engine",
        default="auto",
        choices=("auto", "native", "reference"),
        help="prediction engine (default: auto)",
    )


def _open(args) -> keyglide.LangDB:
    return keyglide.open(args.db, engine=args.engine)


def _build(args) -> int:
    from keyglide.build import Recipe, build

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
    out = args.out or Path(f"{recipe.name}.langdb")
    result = build(recipe, out, jobs=args.jobs, progress=False if args.quiet else None)
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
    with _open(args) as db:
        if args.text:
            _print_suggestions(db.predict(" ".join(args.text), k=args.k))
            return 0
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
            line = sys.stdin.readline()
            if not line:
                return 0
            _print_suggestions(db.predict(line.rstrip("\n"), k=args.k))
            if not interactive:
                print()


def _print_suggestions(suggestions) -> None:
    for s in suggestions:
        print(f"{s.word}\t{s.score}")
    sys.stdout.flush()


def _perplexity(args) -> int:
    content = contract.decode(args.text.read_bytes())
    with _open(args) as db:
        ppl = db.perplexity(content)
        logprob = db.logprob(content)
    sentences = contract.sentences(content)
    tokens = sum(len(s) + 1 for s in sentences)
    print(f"perplexity\t{ppl:.4f}")
    print(f"log10prob\t{logprob:.4f}")
    print(f"tokens\t{tokens}\t(words and one </s> per sentence)")
    print(f"sentences\t{len(sentences)}")
    return 0


def _tokenize(args) -> int:
    content = contract.decode(sys.stdin.buffer.read())
    out = sys.stdout
    for sentence in contract.sentences(content):
        out.write(" ".join(sentence))
        out.write("\n")
    return 0


def _export_arpa(args) -> int:
    from keyglide.arpa import export_arpa

    export_arpa(args.db, args.out)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
