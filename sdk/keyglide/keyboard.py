"""Keyboard layouts: where each key is, so that the decoder knows which keys are neighbours.

A layout file (format ``keyglide-layout-1``) is a small JSON document::

    {
      "format": "keyglide-layout-1",
      "name": "en-US QWERTY",
      "keys": [
        {"char": "q", "x": 0.5, "y": 0.75, "width": 1.0, "height": 1.5},
        {"char": "e", "x": 2.5, "y": 0.75, "width": 1.0, "height": 1.5, "alternates": "éèêë"},
        ...
      ]
    }

``x`` and ``y`` are the key's centre and ``width`` and ``height`` its size, all in one
coordinate system of the integrator's choice (the shipped layouts use key widths, y down).
Touch points passed to ``LangDB.suggest`` are in the same system. ``char`` is the folded
(lowercase) character the key types; ``alternates`` are the characters a long press on it
offers (accented letters): typing the key's own character for one of them is an accent, not
a typo. A character belongs to at most one key. Text typed without touch points is placed
at the centres of its characters' keys, so a caller that has only characters still gets
proximity: ``r`` is next to ``t``.

Shipped layouts: ``qwerty`` (en-US), ``azerty`` (fr-FR) and ``qwertz`` (de-DE), in
``keyglide/layouts/``. ``Layout.load(path)`` reads your own.

Both engines see a layout in the same integers (``Layout.grid``): every coordinate and size
is rounded to 1/256 of a unit as ``floor(v * 256 + 0.5)``, the same operation in Python and
in C, so a touch point scores the same in both.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources

from keyglide import text as contract
from keyglide.errors import LayoutError

__all__ = [
    "GRID",
    "LAYOUT_FORMAT",
    "MAX_COORDINATE",
    "MAX_KEYS",
    "MAX_KEY_CHARS",
    "MAX_KEY_SIZE",
    "NAMED_LAYOUTS",
    "GridKey",
    "Key",
    "Layout",
    "check_touches",
    "quantize",
    "resolve",
]

LAYOUT_FORMAT = "keyglide-layout-1"
NAMED_LAYOUTS = ("qwerty", "azerty", "qwertz")

# Fixed-point grid of positions: 1/256 of a layout unit (keyglide.h: KG_LAYOUT_GRID).
GRID = 256
# The most keys a layout holds (KG_MAX_KEYS) and characters one key carries, alternates
# included (KG_MAX_KEY_CHARS).
MAX_KEYS = 128
MAX_KEY_CHARS = 16
# Coordinates lie in [-MAX_COORDINATE, MAX_COORDINATE] and sizes in (0, MAX_KEY_SIZE]: the
# bounds keep every product of the spatial score inside 64 bits (decoder.spatial_cost).
MAX_COORDINATE = 4096.0
MAX_KEY_SIZE = 64.0


def quantize(value: float) -> int:
    """A coordinate on the 1/256 grid: ``floor(value * 256 + 0.5)``."""
    return math.floor(value * GRID + 0.5)


@dataclass(frozen=True)
class Key:
    """One key: the character it types, its centre and size, and its long-press alternates."""

    char: str
    x: float
    y: float
    width: float
    height: float
    alternates: str = ""


@dataclass(frozen=True)
class GridKey:
    """A key on the integer grid, as both engines use it."""

    x: int
    y: int
    width: int
    height: int


class Layout:
    """A keyboard layout: keys with centres and sizes (see the module docstring)."""

    def __init__(self, name: str, keys: Iterable[Key]) -> None:
        self.name = name
        self.keys: tuple[Key, ...] = tuple(keys)
        if not 1 <= len(self.keys) <= MAX_KEYS:
            raise LayoutError(f"layout {name!r}: it must have 1 to {MAX_KEYS} keys")
        self._key_of: dict[str, int] = {}
        for index, key in enumerate(self.keys):
            _check_key(name, key)
            for char in key.char + key.alternates:
                if char in self._key_of:
                    raise LayoutError(f"layout {name!r}: {char!r} is on two keys")
                self._key_of[char] = index
        self.grid: tuple[GridKey, ...] = tuple(
            GridKey(quantize(k.x), quantize(k.y), quantize(k.width), quantize(k.height))
            for k in self.keys
        )

    @classmethod
    def named(cls, name: str) -> Layout:
        """One of the shipped layouts: ``"qwerty"``, ``"azerty"`` or ``"qwertz"``."""
        if name not in NAMED_LAYOUTS:
            raise LayoutError(
                f"no layout named {name!r}; choose one of {', '.join(NAMED_LAYOUTS)} "
                "or load your own with keyglide.Layout.load(path)"
            )
        data = resources.files("keyglide").joinpath("layouts", f"{name}.json").read_bytes()
        return cls.from_json(data, name)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Layout:
        """Read a layout file (format ``keyglide-layout-1``)."""
        try:
            with open(path, "rb") as f:
                data = f.read(1 << 20)
        except OSError as e:
            raise LayoutError(f"{os.fsdecode(path)}: cannot read the layout: {e}") from e
        return cls.from_json(data, os.fsdecode(path))

    @classmethod
    def from_json(cls, data: bytes | str, where: str = "<layout>") -> Layout:
        """A layout from the text of a layout file."""
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as e:
            raise LayoutError(f"{where}: not a JSON layout file: {e}") from None
        if not isinstance(doc, dict) or doc.get("format") != LAYOUT_FORMAT:
            raise LayoutError(f"{where}: not a layout file: its format must be {LAYOUT_FORMAT!r}")
        keys = doc.get("keys")
        if not isinstance(keys, list):
            raise LayoutError(f"{where}: 'keys' must be a list of keys")
        name = doc.get("name", where)
        if not isinstance(name, str):
            raise LayoutError(f"{where}: 'name' must be a string")
        return cls(name, (_key_from_json(where, i, entry) for i, entry in enumerate(keys)))

    def key_of(self, char: str) -> int | None:
        """The index of the key that types ``char`` (its own or an alternate), or None."""
        return self._key_of.get(char)

    def centre(self, char: str) -> tuple[float, float] | None:
        """Where a character-only caller's ``char`` is touched: its key's centre, or None."""
        index = self._key_of.get(char)
        if index is None:
            return None
        key = self.keys[index]
        return key.x, key.y

    def __repr__(self) -> str:
        return f"<keyglide.Layout {self.name!r}: {len(self.keys)} keys>"


def resolve(layout: Layout | str | None) -> Layout:
    """``layout`` as a ``Layout``: None is QWERTY, a string names a shipped layout."""
    if layout is None:
        return _named("qwerty")
    if isinstance(layout, Layout):
        return layout
    if isinstance(layout, str):
        return _named(layout)
    raise TypeError(
        f"layout must be a keyglide.Layout or a layout name, not {type(layout).__name__}"
    )


_NAMED: dict[str, Layout] = {}


def _named(name: str) -> Layout:
    layout = _NAMED.get(name)
    if layout is None:
        layout = _NAMED[name] = Layout.named(name)
    return layout


def check_touches(
    touches: Sequence[tuple[float, float] | None] | None, length: int
) -> list[tuple[float, float] | None]:
    """``touches`` as a list of ``length`` points (or None), checked; None means none given."""
    if touches is None:
        return [None] * length
    points = list(touches)
    if len(points) != length:
        raise ValueError(
            f"touches has {len(points)} points but the word being typed has {length} "
            "characters: give one (x, y) or None per character"
        )
    out: list[tuple[float, float] | None] = []
    for point in points:
        if point is None:
            out.append(None)
            continue
        try:
            x, y = (float(v) for v in point)
        except (TypeError, ValueError):
            raise ValueError(f"a touch point must be (x, y) or None, not {point!r}") from None
        except OverflowError:  # an int too large for a float
            raise ValueError(f"touch point {point!r} lies beyond ±{MAX_COORDINATE:g}") from None
        if not (abs(x) <= MAX_COORDINATE and abs(y) <= MAX_COORDINATE):
            raise ValueError(
                f"touch point {point!r} is not finite or lies beyond ±{MAX_COORDINATE:g}"
            )
        out.append((x, y))
    return out


def _check_key(where: str, key: Key) -> None:
    chars = key.char + key.alternates
    if len(key.char) != 1:
        raise LayoutError(f"layout {where!r}: a key's char must be one character, not {key.char!r}")
    if len(chars) > MAX_KEY_CHARS:
        raise LayoutError(f"layout {where!r}: key {key.char!r} has over {MAX_KEY_CHARS} characters")
    for char in chars:
        if contract.fold(char) != char or char in contract.SPACES or char == "\0":
            raise LayoutError(
                f"layout {where!r}: {char!r} on key {key.char!r} is not a folded character"
            )
        try:
            char.encode("utf-8")
        except UnicodeEncodeError:
            raise LayoutError(
                f"layout {where!r}: key {key.char!r} holds a lone surrogate"
            ) from None
    for what, value in (("x", key.x), ("y", key.y)):
        if not abs(value) <= MAX_COORDINATE:
            raise LayoutError(
                f"layout {where!r}: key {key.char!r}: {what} must lie in ±{MAX_COORDINATE:g}"
            )
    for what, value in (("width", key.width), ("height", key.height)):
        if not 1 / GRID <= value <= MAX_KEY_SIZE:
            raise LayoutError(
                f"layout {where!r}: key {key.char!r}: {what} must be from 1/{GRID} "
                f"to {MAX_KEY_SIZE:g}"
            )


def _key_from_json(where: str, i: int, entry: object) -> Key:
    if not isinstance(entry, dict):
        raise LayoutError(f"{where}: key {i} must be an object")
    try:
        char, alternates = entry["char"], entry.get("alternates", "")
        numbers = [entry[name] for name in ("x", "y", "width", "height")]
    except KeyError as e:
        raise LayoutError(f"{where}: key {i} lacks {e.args[0]!r}") from None
    if not isinstance(char, str) or not isinstance(alternates, str):
        raise LayoutError(f"{where}: key {i}: 'char' and 'alternates' must be strings")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers):
        raise LayoutError(f"{where}: key {i}: x, y, width and height must be numbers")
    return Key(char, *(float(v) for v in numbers), alternates=alternates)
