"""Predictors over a store: ``StorePredictor`` (from ``open_store``) answers from the active
version of one language and moves to a newly activated one between two calls.

Each open version is a handle holding a shared flock on its file, so that ``Store.gc`` never
removes a file a predictor (in any process) has open; a handle is closed when the last call
using it returns.
"""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Any

try:
    import fcntl
except ImportError:  # not a POSIX system: the store cannot lock, so it refuses to run
    fcntl = None

from keyglide.decoder import Strip
from keyglide.engines import ENGINE_NAMES, Suggestion
from keyglide.errors import CorruptStore, KeyglideError, NotInstalled
from keyglide.store.pointer import Activation, canonical_language
from keyglide.store.writer import _CHUNK, Store, _read_error

# --- the read path of predictors ----------------------------------------------------------


def _open_active(
    store: Store, language: str, engine: str, verify: bool = False
) -> tuple[tuple | None, _Handle]:
    """The pointer's signature and a handle on the active version. Retries when a
    writer changes the pointer between reading it and opening the file it names."""
    for _ in range(8):
        signature = store._pointer_signature(language)
        pointer = store._read_pointer(language)
        if pointer is None:
            raise NotInstalled(f"{language} has no active version in {store.root}")
        handle = _open_version(store, pointer.active, engine, verify)
        if handle is not None:
            return signature, handle
    raise CorruptStore(
        f"{store._pointer_path(language)}: names {pointer.active.version}, but "
        f"{store._file(language, pointer.active.version)} is missing"
    )


def _open_version(
    store: Store, activation: Activation, engine: str, verify: bool = False
) -> _Handle | None:
    """Open an installed version and hold a shared lock on it; None if the file is not
    (or no longer) the one under its name. The file must have the size the pointer
    recorded; with ``verify``, also its sha256 and pass ``verify()`` (O(size))."""
    from keyglide import LangDB

    language, version = activation.language, activation.version
    path = store._file(language, version)
    try:
        held = open(path, "rb")  # kept open: it holds the shared lock
    except FileNotFoundError:
        return None
    except OSError as e:
        raise _read_error(e, f"cannot open {language} {version} in {store.root}") from e
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
                f"{store._pointer_path(language)} recorded {activation.size}"
            )
        db = LangDB(path, engine=engine)
        meta = db.info
        names = (str(meta["language"]).lower(), meta["data_version"])
        if names != (language, version):
            raise CorruptStore(f"{path}: its metadata names {names[0]} {names[1]}")
        if verify:
            _check_held(held, activation, path, store._pointer_path(language))
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
        self._signature, self._current = _open_active(store, self._language, engine, self._verify)
        self._open_handles = 1

    # --- answers ------------------------------------------------------------------------

    def predict(self, text: str, k: int = 3) -> list[Suggestion]:
        """As ``LangDB.predict``, from the active version."""
        handle = self._acquire()
        try:
            return handle.db.predict(text, k)
        finally:
            self._release(handle)

    def suggest(self, text: str, **options: Any) -> Strip:
        """As ``LangDB.suggest`` (same keyword options), from the active version."""
        handle = self._acquire()
        try:
            return handle.db.suggest(text, **options)
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
        signature, handle = _open_active(self._store, self._language, self._engine, self._verify)
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


def _same_file(st: os.stat_result, path: str) -> bool:
    """Whether ``path`` still names the file ``st`` describes (not removed, not replaced)."""
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False
    return (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino)
