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


class UnsupportedVersion(LangDBError):
    """The file's format version or required features are not readable by this SDK."""


class BuildError(KeyglideError):
    """A langdb could not be built from the given corpus or recipe."""


class DefaultLangDBUnavailable(KeyglideError):
    """The default English langdb cannot be built here (its data package is missing)."""


class EngineUnavailable(KeyglideError, RuntimeError):
    """The requested prediction engine cannot run here (for example, no compiled kernel)."""
