"""Typed errors. Every failure a user can cause or meet has its own class here."""

from __future__ import annotations


class KeyglideError(Exception):
    """Base class of every error keyglide raises on purpose."""


class LangDBError(KeyglideError):
    """A langdb file cannot be used."""


class CorruptLangDB(LangDBError, ValueError):
    """The file is not a valid langdb: bad magic, inconsistent header or section, bad data."""


class TruncatedLangDB(CorruptLangDB):
    """The file is shorter than its header says: an interrupted copy or download."""


class ChecksumMismatch(CorruptLangDB):
    """A section's bytes do not match the checksum recorded in the section table."""


class NeuralModelError(CorruptLangDB):
    """The neural reranker's ONNX model cannot be used: its bytes do not decode, its graph
    leaves keyglide's operator set or is not well formed, or running it failed (a feed of
    the wrong type or shape, an index out of range). The message says which."""


class UnsupportedVersion(LangDBError):
    """The file's format version or required features are not readable by this SDK."""


class BuildError(KeyglideError):
    """A langdb could not be built from the given corpus or recipe."""


class FeatureDropRefused(BuildError):
    """``keyglide.convert``: the requested format cannot hold a feature the file marks as
    required (pass ``allow_drop=True`` to drop it anyway). ``dropped``: the feature names."""

    def __init__(self, message: str, dropped: list[str] | None = None) -> None:
        super().__init__(message)
        self.dropped = list(dropped or [])


class DefaultLangDBUnavailable(KeyglideError):
    """The default English langdb cannot be built here (its data package is missing)."""


class LayoutError(KeyglideError, ValueError):
    """A keyboard layout cannot be used: the file is not a layout, or a key is malformed."""


class EngineUnavailable(KeyglideError, RuntimeError):
    """The requested prediction engine cannot run here (for example, no compiled kernel)."""


class StoreError(KeyglideError):
    """The on-device langdb store (``keyglide.Store``) cannot do what was asked."""


class InvalidName(StoreError, ValueError):
    """A language tag or data version that cannot name a langdb in the store."""


class NotInstalled(StoreError, LookupError):
    """The version is not installed in the store, or the language has no active version."""


class NoPreviousVersion(StoreError):
    """``revert``: the language has no previously active version to go back to."""


class VersionConflict(StoreError):
    """``install``: other bytes claim a language and data version already installed."""


class CorruptStore(StoreError):
    """A store's pointer is damaged or was edited by hand, or names a missing or changed file."""


class StoreWriteError(StoreError, OSError):
    """Writing to the store failed (a full disk, an unwritable or read-only directory); an
    install leaves the store as it was. ``errno`` is the system's error number."""

    def __str__(self) -> str:
        return self.strerror or super().__str__()


class InvalidText(KeyglideError, ValueError):
    """A text given to keyglide is not UTF-8 text. ``name``: the file (or ``<stdin>``);
    ``offset``: the byte offset of the first byte that is not (invalid UTF-8, or a NUL)."""

    def __init__(self, message: str, name: str = "", offset: int = 0) -> None:
        super().__init__(message)
        self.name = name
        self.offset = offset


class StoreReadError(StoreError, OSError):
    """A file or directory the store was given or keeps cannot be read: the file to install
    is missing, a directory or not a regular file; the root is not a directory; permission
    is denied. ``errno`` and ``filename`` are the system's (None when there is none)."""

    def __str__(self) -> str:
        return self.strerror or super().__str__()


class IncompatibleLangDB(UnsupportedVersion):
    """This SDK release cannot read the file: another major format version, or a required
    feature it does not know. The message names the file's format and features, the running
    SDK and the first release that reads the file (from the compatibility matrix);
    ``outcome`` is the ``keyglide.compat.Outcome`` of the negotiation."""

    def __init__(self, message: str, outcome: object = None) -> None:
        super().__init__(message)
        self.outcome = outcome
