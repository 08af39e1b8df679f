"""The store's writer: ``Store`` installs, activates, reverts, collects garbage and
verifies, under the writers' exclusive lock, and reads what is installed and active.

Every file appears under its real name by renaming a complete, fsynced temporary file of
the same directory, and the directory is fsynced after (see ``keyglide.store``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import mmap
import operator
import os
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass

try:
    import fcntl
except ImportError:  # not a POSIX system: the store cannot lock, so it refuses to run
    fcntl = None

from keyglide.errors import (
    CorruptStore,
    InvalidName,
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
from keyglide.store.pointer import (
    _LANGUAGE,
    _MAX_POINTER_BYTES,
    _VERSION,
    MAX_REVERTS,
    POINTER,
    Activation,
    _now,
    _parse_pointer,
    _Pointer,
    canonical_language,
    check_version,
    version_key,
)

LOCK = ".lock"
TEMP_PREFIX = ".tmp-"
SUFFIX = ".langdb"
# gc's default: how many of each language's newest versions it keeps in any case.
DEFAULT_KEEP = 2

_CHUNK = 1 << 20


def _read_error(e: OSError, what: str) -> StoreReadError:
    named = e.filename and os.fsdecode(e.filename) not in what
    where = f" ({os.fsdecode(e.filename)})" if named else ""
    return StoreReadError(e.errno, f"{what}: {e.strerror or e}{where}", e.filename)


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
class GcResult:
    """What ``Store.gc`` removed, and what it kept only because a predictor has it open."""

    removed: tuple[Installed, ...]
    in_use: tuple[Installed, ...]


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


def _sha256_path(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
