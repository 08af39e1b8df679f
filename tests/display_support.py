"""Display forms (format 1.2) for the kernel's tests: random valid forms of folded words.

A display form changes only letter case and joiner spelling: each of its characters folds
(``keyglide.text.fold``) to the word's character at the same place. The variants below
include characters whose fold is shorter or longer in UTF-8 than they are (KELVIN SIGN,
ANGSTROM SIGN, capital sharp s, the Unicode hyphens and apostrophe), so that forms and
words differ in length and byte layout.
"""

from __future__ import annotations

import dataclasses
import random

from keyglide import text
from keyglide.format import FIRST_WORD_ID

# Spellings that fold to a character besides its upper and title case.
_EXTRA = {
    "k": "K\u212a",
    "å": "\u212b",
    "ß": "\u1e9e",
    "i": "\u0130",
    "'": "\u2019",
    "-": "\u2010\u2011",
    "σ": "Σ",
}


def variants(c: str) -> list[str]:
    """The characters that fold to ``c``, ``c`` first."""
    found = [c]
    for u in (c.upper(), c.title(), *_EXTRA.get(c, "")):
        if len(u) == 1 and u not in found and text.fold(u) == c:
            found.append(u)
    return found


def display_form(word: str, rng: random.Random) -> str | None:
    """A random display form of a folded word (different from it), or None if the word has
    no other spelling (digits only, say)."""
    options = [variants(c) for c in word]
    changeable = [i for i, v in enumerate(options) if len(v) > 1]
    if not changeable:
        return None
    chars = [rng.choice(v) for v in options]
    if "".join(chars) == word:
        i = rng.choice(changeable)
        chars[i] = rng.choice(options[i][1:])
    return "".join(chars)


def display_forms(vocab: list[str], rng: random.Random, share: float = 0.5) -> dict[int, str]:
    """Display forms for about ``share`` of the words (ids >= 3) that can have one."""
    forms = {}
    for i in range(FIRST_WORD_ID, len(vocab)):
        if rng.random() < share:
            form = display_form(vocab[i], rng)
            if form is not None:
                forms[i] = form
    return forms


def with_display_forms(model, forms: dict[int, str]):
    return dataclasses.replace(model, display_forms=dict(forms))


def spellings(model) -> dict[str, str]:
    """Folded word -> how a suggestion of it is spelled, with the model's display forms."""
    forms = model.display_forms or {}
    return {w: forms.get(i, w) for i, w in enumerate(model.vocab)}
