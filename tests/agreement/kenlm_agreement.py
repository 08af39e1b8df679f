"""Agreement with KenLM (``nox -s kenlm``): KenLM reading our ARPA export scores text as we do.

1. Build the langdb of a recipe (default ``langdb/recipes/novels-3.toml``, the novels training
   split) with no source commit, or take ``--db FILE``.
2. Export it with ``export_arpa`` (what ``keyglide export-arpa`` writes) and load the ARPA
   file with the ``kenlm`` Python module.
3. Score the recipe's held-out text (its ``[evaluation]`` files: the novels test split) token
   by token, the contract's sentences with ``<s>`` and ``</s>``, on both sides: ours is
   score(w | context) / 10000 (FORMAT.md section 5), KenLM's is ``Model.full_scores``.
4. Every token must agree to half a quantization step plus float32 rounding
   (|difference| <= 0.5e-4 + 1e-5; in practice the ARPA holds our values exactly and the
   differences are float32 rounding, about 1e-6). Print both perplexities (unknown words
   included, as ``<unk>``; one ``</s>`` per sentence) and exit 1 on any disagreement.

Exits 0 with a message, checking nothing, when the corpus is absent.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

from keyglide.arpa import export_arpa
from keyglide.builder import Recipe, build
from keyglide.engines.native import NativeEngine
from keyglide.errors import BuildError
from keyglide.evaluate import read_texts
from keyglide.format import BOS, EOS, FIRST_WORD_ID, SCORE_SCALE, UNK
from keyglide.reader import LangDBFile
from keyglide.text import sentences

ROOT = Path(__file__).resolve().parents[2]
TOLERANCE = 0.5e-4 + 1e-5  # half a quantization step, plus float32 rounding
SHOWN = 10


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", type=Path, default=ROOT / "langdb/recipes/novels-3.toml")
    parser.add_argument("--db", type=Path, help="an already built langdb of the recipe")
    parser.add_argument("--work", type=Path, help="folder for the build and the ARPA file")
    parser.add_argument("--jobs", type=int, help="worker processes for the build")
    args = parser.parse_args(argv)

    import kenlm  # here, so that --help works without it

    recipe = Recipe.from_toml(args.recipe)
    try:
        held_out = [f.path for f in recipe.resolve_evaluation()]
        if args.db is None:
            recipe.resolve_inputs()
    except BuildError as e:
        print(f"kenlm agreement: skipped, the corpus is not available: {e}")
        return 0
    if args.work is None:
        with tempfile.TemporaryDirectory(prefix="keyglide-kenlm-") as work:
            return _check(recipe, args.db, Path(work), held_out, args.jobs, kenlm)
    args.work.mkdir(parents=True, exist_ok=True)
    return _check(recipe, args.db, args.work, held_out, args.jobs, kenlm)


def _check(recipe: Recipe, db: Path | None, work: Path, held_out: list[Path], jobs, kenlm) -> int:
    if db is None:
        db = work / f"{recipe.name}.langdb"
        result = build(recipe, db, jobs=jobs, source_commit=None, progress=False)
        print(f"built {db} (sha256 {result.sha256})")
    arpa = work / f"{Path(db).stem}.arpa"
    started = time.perf_counter()
    export_arpa(db, arpa)
    print(f"exported {arpa} ({arpa.stat().st_size:,} bytes, {time.perf_counter() - started:.1f} s)")
    started = time.perf_counter()
    model = kenlm.Model(str(arpa))
    print(f"KenLM loaded it: order {model.order} ({time.perf_counter() - started:.1f} s)")

    text = read_texts(held_out)
    with LangDBFile.open(db) as file:
        ids = {w.decode(): i for i, w in enumerate(file.all_word_bytes()) if i >= FIRST_WORD_ID}
        order = file.order
    engine = NativeEngine.from_path(str(db))
    try:
        ours_total, ours_tokens = engine.score_sum(text)
        tokens = oov = bad = 0
        theirs_total = 0.0
        ours_sum = 0
        worst = 0.0
        shown = []
        for sentence in sentences(text):
            context = [BOS]
            theirs = list(model.full_scores(" ".join(sentence), bos=True, eos=True))
            for word, (log10p, _, _) in zip([*sentence, None], theirs, strict=True):
                word_id = EOS if word is None else ids.get(word, UNK)
                oov += word_id == UNK
                score = engine.score(context[-(order - 1) :], word_id)
                context.append(word_id)
                ours_sum += score
                theirs_total += log10p
                tokens += 1
                diff = abs(score / SCORE_SCALE - log10p)
                worst = max(worst, diff)
                if diff > TOLERANCE:
                    bad += 1
                    if len(shown) < SHOWN:
                        shown.append(
                            f"  {' '.join(sentence)!r} at {word or '</s>'!r}: "
                            f"ours {score / SCORE_SCALE:.6f}, KenLM {log10p:.6f}"
                        )
    finally:
        engine.close()

    if (ours_sum, tokens) != (ours_total, ours_tokens):
        print(
            f"per-token scores sum to {ours_sum} over {tokens} tokens, but score_sum says "
            f"{ours_total} over {ours_tokens}"
        )
        return 1
    ours_ppl = 10 ** (-ours_total / SCORE_SCALE / tokens)
    theirs_ppl = 10 ** (-theirs_total / tokens)
    print(
        f"held-out text: {len(held_out)} files, {tokens:,} tokens (words and one </s> per "
        f"sentence), {oov:,} unknown words scored as <unk>"
    )
    print(f"perplexity   keyglide {ours_ppl:.3f}   KenLM {theirs_ppl:.3f}")
    print(f"log10 prob   keyglide {ours_total / SCORE_SCALE:.4f}   KenLM {theirs_total:.4f}")
    print(f"per token    largest |difference| {worst:.2e} (tolerance {TOLERANCE:.1e})")
    if bad:
        print(f"{bad:,} tokens disagree beyond the tolerance, for example:")
        print("\n".join(shown))
        return 1
    if not math.isclose(ours_ppl, theirs_ppl, rel_tol=1e-5):
        print("the perplexities differ")
        return 1
    print("KenLM agrees with keyglide on every token")
    return 0


if __name__ == "__main__":
    sys.exit(main())
