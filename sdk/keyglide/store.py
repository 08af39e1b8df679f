"""The on-device langdb store: versions side by side, one active per language, atomic
activate and revert, and predictors that move to a newly activated version between two calls.

Layout under the store's root directory::

    root/
      .lock                       writers hold an exclusive flock on it
      <language>/                 the BCP 47 tag, in lower case: en, pt-br, und
        <data_version>.langdb     the installed versions: complete, verified, never modified
        active.json               the pointer: the active version, its sha256 and size, and
                                  the stack of previously active versions (for revert)
        .tmp-*                    a writer's temporary files (readers never look at them)

How it stays consistent when a writer is killed, the disk fills up or several processes
share the store:

- A file appears under a real name only by renaming a complete, fsynced temporary file of
  the same directory; the directory is fsynced after. Nothing is ever written in place.
- Writers (``install``, ``activate``, ``revert``, ``gc``) hold an exclusive ``fcntl.flock``
  on ``root/.lock``, and the first thing each does is delete the temporaries a killed writer
  left. Readers take no store lock: the pointer they read is always complete (it is
  replaced by rename) and the file it names is never modified.
- A predictor holds a shared flock on every langdb it has open; ``gc`` removes a file only
  while it holds an exclusive lock on it, so it never removes one a predictor (in any
  process) has open.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import mmap
import operator
import os
import re
import secrets
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

try:
    import fcntl
except ImportError:  # not a POSIX system: the store cannot lock, so it refuses to run
    fcntl = None

from keyglide.engines import ENGINE_NAMES, Suggestion
from keyglide.errors import (
    CorruptStore,
    InvalidName,
    KeyglideError,
    NoPreviousVersion,
    NotInstalled,
    StoreError,
    StoreReadError,
    StoreWriteError,
    UnsupportedVersion,
    VersionConflict,
)
from keyglide.neural.rerank import check_sections as check_reranker
from keyglide.reader import LangDBFile

POINTER = "active.json"
POINTER_FORMAT = "keyglide-store-pointer-1"
LOCK = ".lock"
TEMP_PREFIX = ".tmp-"
SUFFIX = ".langdb"
# How many previously active versions the pointer remembers (revert goes back that far;
# gc keeps them all).
MAX_REVERTS = 8
# gc's default: how many of each language's newest versions it keeps in any case.
DEFAULT_KEEP = 2

_CHUNK = 1 << 20
_MAX_POINTER_BYTES = 1 << 20
_LANGUAGE = re.compile(r"[a-z0-9]{1,8}(?:-[a-z0-9]{1,8})*\Z")
_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z._+-]{0,63}\Z")
_SHA256 = re.compile(r"[0-9a-f]{64}\Z")
_VERSION_PIECE = re.compile(r"\d+|[^\d.]+")


def _read_error(e: OSError, what: str) -> StoreReadError:
    named = e.filename and os.fsdecode(e.filename) not in what
    where = f" ({os.fsdecode(e.filename)})" if named else ""
    return StoreReadError(e.errno, f"{what}: {e.strerror or e}{where}", e.filename)


# --- names ----------------------------------------------------------------------------------


def canonical_language(tag: object) -> str:
    """The directory name of a language tag: the BCP 47 tag in lower case (tags are
    case-insensitive). Raises ``InvalidName`` for anything else."""
    if not isinstance(tag, str) or not _LANGUAGE.match(tag.lower()):
        raise InvalidName(
            f"{tag!r} is not a language tag the store accepts (BCP 47: letters and digits, "
            "subtags of 1 to 8 separated by '-', e.g. en, pt-BR, und)"
        )
    return tag.lower()


def check_version(version: object) -> str:
    """A data version usable as a file name: 1 to 64 of letters, digits and ``. _ + -``,
    starting with a letter or digit. Raises ``InvalidName`` for anything else."""
    if not isinstance(version, str) or not _VERSION.match(version):
        raise InvalidName(
            f"{version!r} is not a data version the store accepts (1 to 64 letters, digits, "
            "'.', '_', '+' or '-', starting with a letter or digit, e.g. 2026.11.0)"
        )
    return version


def version_key(version: str) -> tuple:
    """Order of data versions, oldest first: dot-separated parts compared as numbers when
    they are digits (``1.10.0`` after ``1.9.0``), a ``-pre-release`` before its release,
    ``+build`` metadata last; the string itself breaks ties."""
    release, _, build = version.partition("+")
    release, dash, pre = release.partition("-")

    def parts(s: str) -> tuple:
        return tuple(
            (0, int(p), "") if p.isdigit() else (1, 0, p) for p in _VERSION_PIECE.findall(s)
        )

    return (parts(release), 0 if dash else 1, parts(pre), parts(build), version)


# --- what the store returns -----------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """An installed langdb: its language (directory name), data version, sha256 of its
    bytes, absolute path and size in bytes."""

    language: str
    version: str
    sha256: str
    path: str
    size: int


@dataclass(frozen=True)
class Installed:
    """One installed version, as ``Store.list()`` gives it. ``state`` is ``"active"``,
    ``"previous"`` (in the revert history) or ``"installed"``."""

    language: str
    version: str
    path: str
    size: int
    state: str

    @property
    def active(self) -> bool:
        return self.state == "active"


@dataclass(frozen=True)
class Activation:
    """A version as the pointer records it: active now, or once (``Store.history``)."""

    language: str
    version: str
    sha256: str
    size: int
    activated_at: str  # UTC, ISO 8601 to the second

    def _json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "sha256": self.sha256,
            "size": self.size,
            "activated_at": self.activated_at,
        }


@dataclass(frozen=True)
class GcResult:
    """What ``Store.gc`` removed, and what it kept only because a predictor has it open."""

    removed: tuple[Installed, ...]
    in_use: tuple[Installed, ...]


@dataclass(frozen=True)
class _Pointer:
    language: str
    active: Activation
    previous: tuple[Activation, ...]  # oldest first: revert goes to the last

    def to_bytes(self) -> bytes:
        data = {
            "format": POINTER_FORMAT,
            "language": self.language,
            "active": self.active._json(),
            "previous": [p._json() for p in self.previous],
        }
        return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")


# --- the store ----------------------------------------------------------------------------


class Store:
    """A directory of langdbs installed side by side, one version of each language active.

    Writers (``install``, ``activate``, ``revert``, ``gc``) may run in several threads and
    processes at once: they take turns on an exclusive lock. Reading (``list``, ``active``,
    ``history``, predictors from ``open_store``) takes no store lock and always sees a
    complete state, before or after any write.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self._root = os.path.abspath(os.fsdecode(root))

    @property
    def root(self) -> str:
        return self._root

    def __repr__(self) -> str:
        return f"<keyglide.Store {self._root!r}>"

    # --- writing ------------------------------------------------------------------------

    def install(self, file: str | os.PathLike) -> Entry:
        """Install a langdb under the language and data version its metadata names.

        Before anything appears in the store, the copy must open with this SDK, be readable
        by it (format version and required features), pass ``verify()`` (every checksum and
        invariant) and have the sha256 of ``file``. Installing a version again with the same
        bytes does nothing and returns the installed entry; different bytes claiming an
        installed language and version raise ``VersionConflict``. A full disk or an
        unwritable directory raises ``StoreWriteError`` and leaves the store as it was; a
        file that is not a valid langdb raises the reader's ``LangDBError``; a missing file,
        a directory or anything else that is not a regular file, or one that cannot be read,
        raises ``StoreReadError``.
        """
        source = os.fsdecode(file)
        _check_source(source)
        try:
            opened = LangDBFile.open(source)
        except OSError as e:
            raise _read_error(e, f"cannot install {source}") from e
        with opened as db:  # O(1): say early what is wrong with the file
            language, version = _names_of(db)
            _check_readable(db)
            check_reranker(db.neural)  # format 1.3: a reranker no engine would open
        directory, final = self._dir(language), self._file(language, version)
        action = f"cannot install {language} {version} from {source} into {self._root}"
        with self._writing(action):
            if os.path.exists(final):
                installed, incoming = _sha256_path(final), _sha256_path(source)
                if installed != incoming:
                    raise VersionConflict(
                        f"{source}: {language} {version} is already installed in {self._root} "
                        f"with other bytes (sha256 {installed[:12]}…, this file "
                        f"{incoming[:12]}…): give new language data a new data_version"
                    )
                return Entry(language, version, installed, final, os.stat(final).st_size)
            self._refuse_case_twin(language, version, source)
            return self._install_locked(source, language, version, directory, final, action)

    def activate(self, language: str, version: str) -> Activation:
        """Make an installed version the active one, in one atomic step (the pointer is
        replaced by rename). The version active until now goes on the revert stack (which
        remembers ``MAX_REVERTS`` versions). Activating the active version does nothing; a
        damaged pointer is replaced, and its revert history lost."""
        language, version = canonical_language(language), check_version(version)
        action = f"cannot activate {language} {version} in {self._root}"
        with self._writing(action):
            try:
                pointer = self._read_pointer(language)
            except CorruptStore:
                pointer = None  # a damaged pointer is replaced (its revert history is lost)
            if pointer is not None and pointer.active.version == version:
                return pointer.active
            record = self._record(language, version)
            previous = () if pointer is None else (*pointer.previous, pointer.active)
            self._write_pointer(_Pointer(language, record, previous[-MAX_REVERTS:]), action)
            return record

    def revert(self, language: str) -> Activation:
        """Go back to the previously active version (atomically, as ``activate``). Raises
        ``NoPreviousVersion`` when there is none."""
        language = canonical_language(language)
        with self._writing(f"cannot revert {language} in {self._root}"):
            pointer = self._read_pointer(language)
            if pointer is None or not pointer.previous:
                raise NoPreviousVersion(
                    f"{language} has no previously active version to revert to in {self._root}"
                )
            back = pointer.previous[-1]
            path = self._file(language, back.version)
            try:
                sha, size = _sha256_path(path), os.stat(path).st_size
            except FileNotFoundError:
                raise CorruptStore(
                    f"{self._pointer_path(language)}: the previous version {back.version} "
                    f"is missing ({path})"
                ) from None
            if (sha, size) != (back.sha256, back.size):
                raise CorruptStore(
                    f"{path}: its sha256 is not the one the pointer recorded when it was "
                    f"active ({back.sha256[:12]}…): the file was changed"
                )
            record = Activation(language, back.version, back.sha256, back.size, _now())
            action = f"cannot revert {language} to {back.version} in {self._root}"
            self._write_pointer(_Pointer(language, record, pointer.previous[:-1]), action)
            return record

    def gc(self, keep: int = DEFAULT_KEEP) -> GcResult:
        """Remove the installed versions beyond each language's ``keep`` newest (by data
        version) that are not active, not in the revert history and not open in a
        predictor of any process (those are reported in ``in_use`` and kept)."""
        keep = operator.index(keep)
        if keep < 0:
            raise ValueError(f"keep must be at least 0, not {keep}")
        removed: list[Installed] = []
        in_use: list[Installed] = []
        with self._writing(f"cannot collect garbage in {self._root}"):
            for language in self._languages():
                pointer = self._read_pointer(language)
                protected = set()
                if pointer is not None:
                    protected = {pointer.active.version, *(p.version for p in pointer.previous)}
                gone = False
                for i, (version, path, size) in enumerate(self._installed(language)):
                    if i < keep or version in protected:
                        continue
                    entry = Installed(language, version, path, size, "installed")
                    if self._remove_if_unused(path):
                        removed.append(entry)
                        gone = True
                    else:
                        in_use.append(entry)
                if gone:
                    self._fsync_dir(self._dir(language), f"cannot collect garbage in {self._root}")
        return GcResult(tuple(removed), tuple(in_use))

    # --- reading ------------------------------------------------------------------------

    def active(self, language: str) -> Entry | None:
        """The active version of ``language``, or None if none was ever activated."""
        language = canonical_language(language)
        pointer = self._read_pointer(language)
        if pointer is None:
            return None
        a = pointer.active
        path = self._file(language, a.version)
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            raise CorruptStore(
                f"{self._pointer_path(language)}: the active version {a.version} is missing "
                f"({path})"
            ) from None
        if size != a.size:
            raise CorruptStore(
                f"{path}: {size} bytes, but the pointer recorded {a.size}: the file was changed"
            )
        return Entry(language, a.version, a.sha256, path, size)

    def history(self, language: str) -> list[Activation]:
        """The activations the pointer remembers, newest (the active version) first."""
        pointer = self._read_pointer(canonical_language(language))
        if pointer is None:
            return []
        return [pointer.active, *reversed(pointer.previous)]

    def list(self) -> list[Installed]:
        """Every installed version: by language, then by data version (oldest first)."""
        out = []
        for language in self._languages():
            pointer = self._read_pointer(language)
            active = pointer.active.version if pointer else None
            previous = {p.version for p in pointer.previous} if pointer else set()
            for version, path, size in reversed(self._installed(language)):
                state = (
                    "active"
                    if version == active
                    else "previous"
                    if version in previous
                    else "installed"
                )
                out.append(Installed(language, version, path, size, state))
        return out

    def verify(self, language: str | None = None) -> list[Entry]:
        """Read every installed file (of one language, or all): each must pass the
        langdb's ``verify()`` and name its own language and version in its metadata, and
        the active one must have the sha256 its pointer recorded. O(size of the store)."""
        languages = self._languages() if language is None else [canonical_language(language)]
        entries = []
        for lang in languages:
            pointer = self._read_pointer(lang)
            for version, path, size in self._installed(lang):
                with _open_installed(path) as db:
                    db.verify()
                    if _names_of(db) != (lang, version):
                        raise CorruptStore(f"{path}: its metadata names {_names_of(db)}")
                sha = _sha256_path(path)
                if pointer is not None and pointer.active.version == version:
                    if sha != pointer.active.sha256:
                        raise CorruptStore(
                            f"{path}: its sha256 is not the one the pointer "
                            f"{self._pointer_path(lang)} recorded: the file was changed"
                        )
                entries.append(Entry(lang, version, sha, path, size))
        return entries

    # --- paths and pointer --------------------------------------------------------------

    def _dir(self, language: str) -> str:
        return os.path.join(self._root, language)

    def _file(self, language: str, version: str) -> str:
        return os.path.join(self._root, language, version + SUFFIX)

    def _pointer_path(self, language: str) -> str:
        return os.path.join(self._root, language, POINTER)

    def _languages(self) -> list[str]:
        try:
            with os.scandir(self._root) as it:
                names = [e.name for e in it if e.is_dir() and _LANGUAGE.match(e.name)]
        except FileNotFoundError:
            return []
        except OSError as e:
            raise _read_error(e, f"cannot read the store {self._root}") from e
        return sorted(names)

    def _installed(self, language: str) -> list[tuple[str, str, int]]:
        """(version, path, size) of each installed version, newest first."""
        found = []
        try:
            with os.scandir(self._dir(language)) as it:
                for e in it:
                    version = e.name[: -len(SUFFIX)]
                    if e.name.endswith(SUFFIX) and _VERSION.match(version) and e.is_file():
                        found.append((version, e.path, e.stat().st_size))
        except FileNotFoundError:
            return []
        except OSError as e:
            raise _read_error(e, f"cannot read the store {self._root}") from e
        return sorted(found, key=lambda f: version_key(f[0]), reverse=True)

    def _pointer_signature(self, language: str) -> tuple[int, ...] | None:
        """What changes whenever the pointer is replaced: a cheap ``stat``."""
        try:
            st = os.stat(self._pointer_path(language))
        except FileNotFoundError:
            return None
        except OSError as e:
            raise _read_error(e, f"cannot read the store {self._root}") from e
        return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)

    def _read_pointer(self, language: str) -> _Pointer | None:
        """The pointer of ``language``, validated; None if there is none."""
        path = self._pointer_path(language)
        try:
            with open(path, "rb") as f:
                raw = f.read(_MAX_POINTER_BYTES + 1)
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            raise CorruptStore(f"{path}: a directory, not a store pointer") from None
        except OSError as e:
            raise _read_error(e, f"cannot read the store {self._root}") from e
        return _parse_pointer(path, language, raw)

    def _record(self, language: str, version: str) -> Activation:
        """The activation record of an installed version: checks that the file opens and
        names that language and version, and hashes it."""
        path = self._file(language, version)
        if not os.path.isfile(path):
            installed = [v for v, _, _ in self._installed(language)]
            raise NotInstalled(
                f"{language} {version} is not installed in {self._root} (installed: "
                f"{', '.join(reversed(installed)) or 'none'})"
            )
        with _open_installed(path) as db:
            if _names_of(db) != (language, version):
                raise CorruptStore(f"{path}: its metadata names {' '.join(_names_of(db))}")
        return Activation(language, version, _sha256_path(path), os.stat(path).st_size, _now())

    # --- the write path -----------------------------------------------------------------

    @contextlib.contextmanager
    def _writing(self, action: str) -> Iterator[None]:
        """Hold the writers' lock (blocking), after removing what killed writers left."""
        if fcntl is None:
            raise StoreError("the langdb store needs POSIX file locks (fcntl), absent here")
        try:
            os.makedirs(self._root, exist_ok=True)
            fd = os.open(
                os.path.join(self._root, LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644
            )
        except OSError as e:
            raise _write_error(e, action) from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._clean()
            yield
        finally:
            os.close(fd)  # releases the lock

    def _clean(self) -> None:
        """Delete the temporaries of killed writers, and language directories a killed
        install left empty. Best effort: what cannot be deleted now is tried next time."""
        directories = [self._root, *(self._dir(lang) for lang in self._languages())]
        for directory in directories:
            try:
                names = os.listdir(directory)
                for name in names:
                    if name.startswith(TEMP_PREFIX):
                        os.unlink(os.path.join(directory, name))
                if directory != self._root and not any(
                    not n.startswith(TEMP_PREFIX) for n in names
                ):
                    os.rmdir(directory)
            except OSError:
                pass

    def _refuse_case_twin(self, language: str, version: str, source: str) -> None:
        # On a case-insensitive file system 1.0-RC1 and 1.0-rc1 would be the same file.
        for other, _, _ in self._installed(language):
            if other.lower() == version.lower():
                raise VersionConflict(
                    f"{source}: {language} {version} differs only in case from the installed "
                    f"version {other}: give it another data_version"
                )

    def _install_locked(
        self, source: str, language: str, version: str, directory: str, final: str, action: str
    ) -> Entry:
        created = False
        temp = os.path.join(directory, f"{TEMP_PREFIX}{secrets.token_hex(8)}-{version}{SUFFIX}")
        renamed = False
        try:
            if not os.path.isdir(directory):
                _call(action, os.mkdir, directory, 0o755)
                created = True
                self._fsync_dir(self._root, action)
            sha = _copy(source, temp, action)
            size = _check_copy(temp, source, sha, language, version)
            _call(action, os.rename, temp, final)
            renamed = True
            self._fsync_dir(directory, action)
        except BaseException:
            # Put the store back as it was: no temporary, no new file, no new directory.
            for path in (final,) if renamed else (temp,):
                with contextlib.suppress(OSError):
                    os.unlink(path)
            if created:
                with contextlib.suppress(OSError):
                    os.rmdir(directory)
            raise
        return Entry(language, version, sha, final, size)

    def _write_pointer(self, pointer: _Pointer, action: str) -> None:
        """Replace a language's pointer atomically: temporary, fsync, rename, fsync dir."""
        language = pointer.language
        a = pointer.active
        directory = self._dir(language)
        temp = os.path.join(directory, f"{TEMP_PREFIX}{secrets.token_hex(8)}-{POINTER}")
        try:
            fd = _call(
                action, os.open, temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644
            )
            try:
                _write_all(fd, pointer.to_bytes(), action)
                _call(action, os.fsync, fd)
            finally:
                os.close(fd)
            _call(action, os.replace, temp, self._pointer_path(language))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        self._fsync_dir(
            directory,
            f"{language} {a.version} is active, but the directory {directory} could not be "
            "synced: the change may not survive a power loss",
        )

    def _fsync_dir(self, directory: str, action: str) -> None:
        fd = _call(action, os.open, directory, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _call(action, os.fsync, fd)
        finally:
            os.close(fd)

    def _remove_if_unused(self, path: str) -> bool:
        """Delete ``path`` unless a predictor holds it (a shared flock). True if deleted."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            _call(f"cannot remove {path}", os.unlink, path)
            return True
        finally:
            os.close(fd)

    # --- the read path of predictors ----------------------------------------------------

    def _open_active(
        self, language: str, engine: str, verify: bool = False
    ) -> tuple[tuple | None, _Handle]:
        """The pointer's signature and a handle on the active version. Retries when a
        writer changes the pointer between reading it and opening the file it names."""
        for _ in range(8):
            signature = self._pointer_signature(language)
            pointer = self._read_pointer(language)
            if pointer is None:
                raise NotInstalled(f"{language} has no active version in {self._root}")
            handle = self._open_version(pointer.active, engine, verify)
            if handle is not None:
                return signature, handle
        raise CorruptStore(
            f"{self._pointer_path(language)}: names {pointer.active.version}, but "
            f"{self._file(language, pointer.active.version)} is missing"
        )

    def _open_version(
        self, activation: Activation, engine: str, verify: bool = False
    ) -> _Handle | None:
        """Open an installed version and hold a shared lock on it; None if the file is not
        (or no longer) the one under its name. The file must have the size the pointer
        recorded; with ``verify``, also its sha256 and pass ``verify()`` (O(size))."""
        from keyglide import LangDB

        language, version = activation.language, activation.version
        path = self._file(language, version)
        try:
            held = open(path, "rb")  # kept open: it holds the shared lock
        except FileNotFoundError:
            return None
        except OSError as e:
            raise _read_error(e, f"cannot open {language} {version} in {self._root}") from e
        db = None
        try:
            if fcntl is not None:
                fcntl.flock(held.fileno(), fcntl.LOCK_SH)
            st = os.fstat(held.fileno())
            if not _same_file(st, path):
                held.close()
                return None
            if st.st_size != activation.size:
                raise CorruptStore(
                    f"{path}: {st.st_size} bytes, but the pointer "
                    f"{self._pointer_path(language)} recorded {activation.size}"
                )
            db = LangDB(path, engine=engine)
            meta = db.info
            names = (str(meta["language"]).lower(), meta["data_version"])
            if names != (language, version):
                raise CorruptStore(f"{path}: its metadata names {names[0]} {names[1]}")
            if verify:
                _check_held(held, activation, path, self._pointer_path(language))
                db.verify()
            if not _same_file(st, path):
                db.close()
                held.close()
                return None
        except BaseException:
            if db is not None:
                db.close()
            held.close()
            raise
        return _Handle(db, held, activation, path)


# --- predictors that follow the store -----------------------------------------------------


class _Handle:
    """One open version: the LangDB, the file object holding its shared lock, and the calls
    in flight on it (under the predictor's lock)."""

    __slots__ = ("db", "held", "activation", "path", "refs", "retired")

    def __init__(self, db, held, activation: Activation, path: str) -> None:
        self.db = db
        self.held = held
        self.activation = activation
        self.path = path
        self.refs = 0
        self.retired = False

    def close(self) -> None:
        try:
            self.db.close()
        finally:
            self.held.close()


class StorePredictor:
    """A predictor over the active version of one language of a store (``open_store``).

    It answers like ``keyglide.LangDB`` (``predict``, ``logprob``, ``perplexity``,
    ``verify``, ``info``, ``close``, context manager) and moves to a newly activated version
    with ``reload()`` — or by itself with ``check_every_call=True`` — between two calls,
    without dropping one: a call finishes on the database it started with, and a database is
    closed when the last call using it returns. Safe to share between threads.
    """

    def __init__(
        self,
        store: Store,
        language: str,
        *,
        engine: str = "auto",
        check_every_call: bool = False,
        verify_on_switch: bool = False,
    ) -> None:
        if engine not in ENGINE_NAMES:
            raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINE_NAMES)}")
        self._store = store
        self._language = canonical_language(language)
        self._engine = engine
        self._check = bool(check_every_call)
        self._verify = bool(verify_on_switch)
        self._lock = threading.Lock()  # the current handle, reference counts, closing
        self._reload_lock = threading.Lock()  # one switch at a time
        self._closed = False
        self._open_handles = 0
        self._reload_error: str | None = None
        self._signature, self._current = store._open_active(self._language, engine, self._verify)
        self._open_handles = 1

    # --- answers ------------------------------------------------------------------------

    def predict(self, text: str, k: int = 3) -> list[Suggestion]:
        """As ``LangDB.predict``, from the active version."""
        handle = self._acquire()
        try:
            return handle.db.predict(text, k)
        finally:
            self._release(handle)

    def logprob(self, text: str) -> float:
        handle = self._acquire()
        try:
            return handle.db.logprob(text)
        finally:
            self._release(handle)

    def perplexity(self, text: str) -> float:
        handle = self._acquire()
        try:
            return handle.db.perplexity(text)
        finally:
            self._release(handle)

    def verify(self) -> None:
        """``LangDB.verify()`` of the version in use, and its sha256 against the pointer's."""
        handle = self._acquire()
        try:
            handle.db.verify()
            _check_held(handle.held, handle.activation, handle.path)
        finally:
            self._release(handle)

    @property
    def info(self) -> dict[str, Any]:
        """``LangDB.info`` of the version in use, and ``store``: the root, language, version,
        sha256 and activation time from the pointer, and ``reload_error`` (why the last
        automatic reload failed, or None)."""
        handle = self._acquire()
        try:
            info = handle.db.info
        finally:
            self._release(handle)
        a = handle.activation
        info["store"] = {
            "root": self._store.root,
            "language": a.language,
            "version": a.version,
            "sha256": a.sha256,
            "activated_at": a.activated_at,
            "check_every_call": self._check,
            "verify_on_switch": self._verify,
            "reload_error": self._reload_error,
        }
        return info

    @property
    def version(self) -> str:
        """The data version in use."""
        return self._live().activation.version

    @property
    def sha256(self) -> str:
        return self._live().activation.sha256

    @property
    def path(self) -> str:
        return self._live().path

    @property
    def language(self) -> str:
        return self._language

    @property
    def engine(self) -> str:
        """The name of the engine answering (``"auto"`` resolved)."""
        handle = self._acquire(check=False)
        try:
            return handle.db.engine
        finally:
            self._release(handle)

    @property
    def closed(self) -> bool:
        return self._closed

    # --- switching ----------------------------------------------------------------------

    def reload(self) -> bool:
        """Switch to the store's active version if it changed: True if it switched. Calls in
        progress finish on the old version, which closes when the last of them returns.
        On failure (a damaged pointer or file) the predictor keeps its version and raises."""
        with self._reload_lock:
            return self._reload_locked()

    def _reload_locked(self) -> bool:
        current = self._live()
        signature = self._store._pointer_signature(self._language)
        pointer = self._store._read_pointer(self._language)
        if pointer is None:
            raise NotInstalled(f"{self._language} has no active version in {self._store.root}")
        a = pointer.active
        if (a.version, a.sha256) == (current.activation.version, current.activation.sha256):
            self._signature, self._reload_error = signature, None
            return False
        signature, handle = self._store._open_active(self._language, self._engine, self._verify)
        with self._lock:
            if self._closed:
                old, close_old = handle, True
            else:
                old, self._current = self._current, handle
                old.retired = True
                close_old = old.refs == 0
                self._open_handles += 1
        if old is handle:
            handle.close()
            raise ValueError(f"{self._store.root}: this predictor of {self._language} is closed")
        self._signature, self._reload_error = signature, None
        if close_old:
            self._close_handle(old)
        return True

    def _maybe_reload(self) -> None:
        """With ``check_every_call``: reload if the pointer changed (one ``stat``). Another
        thread already switching, or a failure, leaves this call on the current version;
        a failure is kept in ``info`` and retried when the pointer changes again."""
        try:
            signature = self._store._pointer_signature(self._language)
        except OSError:
            return
        if signature == self._signature or not self._reload_lock.acquire(blocking=False):
            return
        try:
            if signature != self._signature:
                self._reload_locked()
        except (KeyglideError, OSError) as e:
            self._signature, self._reload_error = signature, str(e)
        finally:
            self._reload_lock.release()

    # --- lifetime -----------------------------------------------------------------------

    def close(self) -> None:
        """Release the database; idempotent. Calls in progress on other threads finish
        first. Any other use afterwards raises ValueError."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            handle, self._current = self._current, None
            handle.retired = True
            done = handle.refs == 0
        if done:
            self._close_handle(handle)

    def __enter__(self) -> StorePredictor:
        self._live()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        handle = self._current
        state = "closed" if handle is None else f"version {handle.activation.version!r}"
        return f"<keyglide.StorePredictor {self._store.root!r} {self._language!r} {state}>"

    def _live(self) -> _Handle:
        handle = self._current
        if handle is None:
            raise ValueError(f"{self._store.root}: this predictor of {self._language} is closed")
        return handle

    def _acquire(self, check: bool = True) -> _Handle:
        if check and self._check and not self._closed:
            self._maybe_reload()
        with self._lock:
            handle = self._current
            if handle is None:
                raise ValueError(
                    f"{self._store.root}: this predictor of {self._language} is closed"
                )
            handle.refs += 1
            return handle

    def _release(self, handle: _Handle) -> None:
        with self._lock:
            handle.refs -= 1
            done = handle.retired and handle.refs == 0
        if done:
            self._close_handle(handle)

    def _close_handle(self, handle: _Handle) -> None:
        try:
            handle.close()
        finally:
            with self._lock:
                self._open_handles -= 1


def open_store(
    root: str | os.PathLike,
    language: str,
    *,
    engine: str = "auto",
    check_every_call: bool = False,
    verify_on_switch: bool = False,
) -> StorePredictor:
    """A predictor over the active version of ``language`` in the store at ``root``.

    ``engine`` as for ``keyglide.open``. ``reload()`` moves it to a newly activated
    version; with ``check_every_call=True`` every call first checks (one ``stat`` of the
    pointer) and reloads by itself. Raises ``NotInstalled`` when the language has no active
    version, ``CorruptStore`` when its pointer or file is damaged.

    Opening a version checks its structure and that it has the size the pointer recorded,
    in O(1): a file changed in place to other bytes of the same size is not noticed. With
    ``verify_on_switch=True`` every file the predictor opens (at first, and at each switch)
    must also have the sha256 the pointer recorded and pass ``verify()``, which reads the
    whole file (O(size), in the thread that switches); a file that does not is refused
    with ``CorruptStore`` (or the reader's ``LangDBError``), and after a switch the
    predictor keeps answering from the version it had, as for any failed switch.
    """
    return StorePredictor(
        Store(root),
        language,
        engine=engine,
        check_every_call=check_every_call,
        verify_on_switch=verify_on_switch,
    )


# --- helpers --------------------------------------------------------------------------------


def _names_of(db: LangDBFile) -> tuple[str, str]:
    """The (store directory name of the) language and the data version a langdb names."""
    language, version = db.meta.get("language"), db.meta.get("data_version")
    try:
        return canonical_language(language), check_version(version)
    except InvalidName as e:
        raise InvalidName(f"{db.name}: its metadata cannot name a store entry: {e}") from None


def _open_installed(path: str) -> LangDBFile:
    """``LangDBFile.open`` of a file in the store; ``StoreReadError`` if it cannot be read."""
    try:
        return LangDBFile.open(path)
    except OSError as e:
        raise _read_error(e, f"cannot read {path}") from e


def _check_source(source: str) -> None:
    """That the file to install exists and is a regular file (``StoreReadError``): not a
    directory, a device or a FIFO, which install cannot read twice as it must."""
    try:
        mode = os.stat(source).st_mode
    except OSError as e:
        raise _read_error(e, f"cannot install {source}") from e
    if stat.S_ISDIR(mode):
        raise StoreReadError(
            errno.EISDIR, f"cannot install {source}: a directory, not a langdb file", source
        )
    if not stat.S_ISREG(mode):
        raise StoreReadError(
            errno.EINVAL,
            f"cannot install {source}: not a regular file (a device or a FIFO)",
            source,
        )


def _check_readable(db: LangDBFile) -> None:
    """That this SDK can read the file, beyond the reader's own checks at open (which
    raise ``UnsupportedVersion`` for another major format version or an unknown required
    feature): a compatibility verdict attached to the file, or the compatibility module's
    ``negotiate``, when this installation has one."""
    verdict = getattr(db, "compat", None)
    if verdict is None:
        try:
            from keyglide import compat
        except ImportError:
            return
        negotiate = getattr(compat, "negotiate", None)
        if negotiate is None:
            return
        verdict = negotiate(db)
    if verdict is False or getattr(verdict, "readable", True) is False:
        reason = getattr(verdict, "reason", None) or "its format is not readable by this SDK"
        raise UnsupportedVersion(f"{db.name}: {reason}")


def _parse_pointer(path: str, language: str, raw: bytes) -> _Pointer:
    def bad(problem: str) -> CorruptStore:
        return CorruptStore(
            f"{path}: {problem}; activating a version replaces it (and forgets its revert history)"
        )

    if len(raw) > _MAX_POINTER_BYTES:
        raise bad(f"larger than {_MAX_POINTER_BYTES} bytes: not a store pointer")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise bad(f"not a UTF-8 JSON store pointer ({e})") from None
    if not isinstance(data, dict) or data.get("format") != POINTER_FORMAT:
        raise bad(f'not a store pointer (no "format": "{POINTER_FORMAT}")')
    if data.get("language") != language:
        raise bad(f"names the language {data.get('language')!r}, not {language!r}")

    def record(value: object, where: str) -> Activation:
        if not isinstance(value, dict):
            raise bad(f"{where} is not an object")
        version, sha, size, when = (
            value.get("version"),
            value.get("sha256"),
            value.get("size"),
            value.get("activated_at"),
        )
        if not isinstance(version, str) or not _VERSION.match(version):
            raise bad(f"{where} has no valid version ({version!r})")
        if not isinstance(sha, str) or not _SHA256.match(sha):
            raise bad(f"{where} has no valid sha256")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise bad(f"{where} has no valid size")
        if not isinstance(when, str):
            raise bad(f"{where} has no valid activated_at")
        return Activation(language, version, sha, size, when)

    previous = data.get("previous")
    if not isinstance(previous, list):
        raise bad('"previous" is not a list')
    return _Pointer(
        language,
        record(data.get("active"), '"active"'),
        tuple(record(p, f'"previous"[{i}]') for i, p in enumerate(previous)),
    )


def _call(action: str, function, *args):
    """``function(*args)``; an OSError becomes ``StoreWriteError`` saying what failed."""
    try:
        return function(*args)
    except OSError as e:
        raise _write_error(e, action) from e


def _write_error(e: OSError, action: str) -> StoreWriteError:
    reason = e.strerror or str(e)
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        reason += " (the disk is full)"
    elif e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        reason += " (the store's directory cannot be written)"
    where = f" ({e.filename})" if e.filename else ""
    return StoreWriteError(e.errno, f"{action}: {reason}{where}")


def _write_all(fd: int, data: bytes | memoryview, action: str) -> None:
    view = memoryview(data)
    while view:
        written = _call(action, os.write, fd, view)
        view = view[written:]


def _copy(source: str, temp: str, action: str) -> str:
    """Copy ``source`` to the new file ``temp`` and fsync it; the sha256 of what was read."""
    digest = hashlib.sha256()
    fd = _call(action, os.open, temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
    try:
        with open(source, "rb") as src:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                _write_all(fd, chunk, action)
        _call(action, os.fsync, fd)
    finally:
        os.close(fd)
    return digest.hexdigest()


def _check_copy(temp: str, source: str, sha: str, language: str, version: str) -> int:
    """That the copy reads back with the source's sha256, opens, is readable, passes
    ``verify()`` and still names ``language`` and ``version``. Errors name the source."""
    copied = _sha256_path(temp)
    if copied != sha:
        raise StoreError(
            f"{source}: the copy written to the store reads back with sha256 {copied[:12]}…, "
            f"not the file's {sha[:12]}…: the storage is failing"
        )
    with open(temp, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
    with LangDBFile.from_buffer(data, source) as db:
        if _names_of(db) != (language, version):
            raise StoreError(f"{source}: the file changed while it was being installed")
        _check_readable(db)
        db.verify()
    return size


def _check_held(held, activation: Activation, path: str, pointer: str = "") -> None:
    """That the open file ``held`` has the sha256 the pointer recorded (``CorruptStore``)."""
    digest = hashlib.sha256()
    fd, offset = held.fileno(), 0
    while chunk := os.pread(fd, _CHUNK, offset):
        digest.update(chunk)
        offset += len(chunk)
    if digest.hexdigest() != activation.sha256:
        where = f" {pointer}" if pointer else ""
        raise CorruptStore(
            f"{path}: its sha256 is not the one the pointer{where} recorded "
            f"({activation.sha256[:12]}…): the file was changed"
        )


def _sha256_path(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _same_file(st: os.stat_result, path: str) -> bool:
    """Whether ``path`` still names the file ``st`` describes (not removed, not replaced)."""
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False
    return (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
