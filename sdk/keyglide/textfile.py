"""Reading the text keyglide is given: UTF-8, or a typed error that says where it is not.

Text keyglide is given to read (corpora, held-out text, a blocklist, standard input) must be
UTF-8 without NUL bytes. Anything else (Latin-1, UTF-16, binary) is refused with the name
of the file and the byte offset of the first byte that is not text, never read as something
else. (UTF-16 of ASCII text, without a byte order mark, is valid UTF-8 but for its NULs.) A
UTF-8 byte order mark is valid UTF-8 (U+FEFF): it is read, and separates words like any
symbol.
"""

from __future__ import annotations

import codecs

from keyglide.errors import InvalidText

NUL_REASON = "a NUL byte, which text never holds"


def invalid_utf8_message(name: str, head: bytes, offset: int, bad: bytes, reason: str) -> str:
    """The message of a text that is not UTF-8: ``head`` is the text's first bytes (to
    recognize UTF-16), ``bad`` the invalid bytes at ``offset``."""
    hint = ""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        hint = " (it looks like UTF-16)"
    elif b"\x00" in head[:4096]:
        hint = " (it looks like UTF-16 or a binary file)"
    shown = " ".join(f"0x{b:02x}" for b in bad[:4])
    return (
        f"{name}: not UTF-8 text{hint}: {reason} at byte offset {offset} ({shown}); keyglide "
        "reads text as UTF-8 only: convert it first (e.g. iconv -f LATIN1 -t UTF-8)"
    )


def first_invalid(data: bytes) -> tuple[int, bytes, str] | None:
    """Where ``data`` stops being UTF-8 text: ``(offset, invalid bytes, reason)``, or None."""
    nul = data.find(b"\x00")
    try:
        (data if nul < 0 else data[:nul]).decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start, data[e.start : e.end], e.reason
    return None if nul < 0 else (nul, b"\x00", NUL_REASON)


def decode_utf8(data: bytes, name: str) -> str:
    """``data`` decoded as UTF-8; ``InvalidText`` naming ``name`` and the offset if it is not
    UTF-8 text (invalid UTF-8, or a NUL byte)."""
    problem = first_invalid(data)
    if problem is not None:
        message = invalid_utf8_message(name, data[:4096], *problem)
        raise InvalidText(message, name, problem[0])
    return data.decode("utf-8")


class Utf8Check:
    """Checks that a stream of bytes, fed in chunks, is UTF-8 text (as ``first_invalid``):
    ``feed`` each chunk, then ``finish``; both return None, or where the first invalid byte
    is as ``(offset, invalid bytes, reason)``."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._seen = 0  # bytes fed before the current chunk

    def feed(self, chunk: bytes, final: bool = False) -> tuple[int, bytes, str] | None:
        pending = len(self._decoder.getstate()[0])
        nul = chunk.find(b"\x00")
        try:
            self._decoder.decode(chunk if nul < 0 else chunk[:nul], final or nul >= 0)
        except UnicodeDecodeError as e:
            # e.object is the bytes held back from the last chunk followed by this one.
            return self._seen - pending + e.start, e.object[e.start : e.end], e.reason
        finally:
            self._seen += len(chunk)
        if nul >= 0:
            return self._seen - len(chunk) + nul, b"\x00", NUL_REASON
        return None

    def finish(self) -> tuple[int, bytes, str] | None:
        return self.feed(b"", final=True)
