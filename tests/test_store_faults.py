"""The store under faults: a writer killed with SIGKILL before file-system calls chosen at
random and before every file-system call of a fixed scenario, predictors racing activations
and reverts, several writer processes at once, and full disks or unwritable directories.

The killed writers are forked by one helper process spawned at the start (this file run as
a script), so that each kill costs milliseconds and hundreds fit in a run. A writer kills
itself just before the call it was told (``WatchedOS``), never after a delay: every run
kills at the same places, however loaded the machine. The number of random kills is
``KEYGLIDE_FAULT_RUNS`` (default 30; ``nox -s faults`` runs 500), and of
version switches under predicting threads ``KEYGLIDE_FAULT_SWITCHES`` (default 200).
After every kill the store must open, its pointer must name a complete langdb that passes
``verify()`` with the sha256 the pointer records, and every file under a real name must be
byte for byte one of the langdbs installed.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import traceback
from collections import Counter
from pathlib import Path

import keyglide
import pytest
from keyglide.builder import Recipe, build
from keyglide.reader import LangDBFile
from keyglide.store import POINTER, TEMP_PREFIX
from keyglide.store import writer as store_module

RUNS = int(os.environ.get("KEYGLIDE_FAULT_RUNS", "30"))
# How many times the active version switches under predicting threads (each switch is an
# activate or a revert: two fsyncs).
SWITCHES = int(os.environ.get("KEYGLIDE_FAULT_SWITCHES", "200"))
VERSIONS = ("1.0.0", "2.0.0", "3.0.0")
WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()
CONTEXTS = ["alpha ", "beta gamma ", "the ", "ze", "", "delta eta "]


def corpus_text(seed: int, sentences: int = 300) -> str:
    rng = random.Random(seed)
    vocabulary = WORDS[: 6 + seed % 6]
    return "\n".join(
        " ".join(rng.choice(vocabulary) for _ in range(rng.randint(3, 9))) + "."
        for _ in range(sentences)
    )


def build_versions(directory: Path) -> dict[str, str]:
    """Three versions of language xx, from three corpora."""
    out = {}
    for seed, version in enumerate(VERSIONS, start=1):
        corpus = directory / f"corpus-{seed}.txt"
        corpus.write_text(corpus_text(seed), encoding="utf-8")
        recipe = Recipe.from_args(
            corpus=[corpus], order=2, language="xx", data_version=version, discount_fallback=True
        )
        path = directory / f"xx-{version}.langdb"
        build(recipe, path, progress=False, source_commit=None)
        out[version] = str(path)
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    return build_versions(tmp_path_factory.mktemp("langdbs"))


@pytest.fixture(scope="module")
def known(files) -> dict[str, str]:
    """The sha256 of each version."""
    return {v: sha256(p) for v, p in files.items()}


@pytest.fixture(scope="module")
def answers(files) -> dict[str, list]:
    """Each version's suggestions and log probability for each context; the contexts are
    chosen so that no two versions give the same answer."""
    out = {}
    for version, path in files.items():
        with keyglide.open(path, engine="reference") as db:
            out[version] = [(db.predict(c, k=5), db.logprob(scored(c))) for c in CONTEXTS]
    for i in range(len(CONTEXTS)):
        assert len({repr(out[v][i][0]) for v in VERSIONS}) == len(VERSIONS), CONTEXTS[i]
        assert len({out[v][i][1] for v in VERSIONS}) == len(VERSIONS), CONTEXTS[i]
    return out


def scored(context: str) -> str:
    """The text whose log probability is asked along with the suggestions for ``context``."""
    return context + "gamma delta."


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tree(root: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(root)): None if p.is_dir() else p.read_bytes()
        for p in sorted(root.rglob("*"))
    }


def check_store(root: str, known: dict[str, str]) -> tuple | None:
    """Everything a reader relies on after any fault; the pointer's (active, previous)."""
    store = keyglide.Store(root)
    store.list()
    top = Path(root)
    if not top.exists():
        return None
    for name in os.listdir(top):
        assert name in (".lock", "xx") or name.startswith(TEMP_PREFIX), name
    xx = top / "xx"
    names = os.listdir(xx) if xx.exists() else []
    for name in names:
        if name.startswith(TEMP_PREFIX) or name == POINTER:
            continue
        assert name.endswith(".langdb"), name
        # Under a real name: complete, and exactly the bytes of the version it is named for.
        assert sha256(xx / name) == known[name[: -len(".langdb")]], name
    active = store.active("xx")
    if active is None:
        assert POINTER not in names
        return None
    assert sha256(active.path) == active.sha256 == known[active.version]
    with LangDBFile.open(active.path) as f:
        f.verify()
    history = store.history("xx")
    for a in history:  # everything revert may go back to is there
        assert sha256(xx / f"{a.version}.langdb") == a.sha256 == known[a.version]
    with keyglide.open_store(root, "xx") as p:
        assert p.version == active.version
        p.predict("alpha ")
    return (history[0].version, tuple(a.version for a in history[1:]))


def temporaries(root: str | Path) -> list[str]:
    return [
        name
        for directory in (Path(root), Path(root) / "xx")
        if directory.exists()
        for name in os.listdir(directory)
        if name.startswith(TEMP_PREFIX)
    ]


def assert_clean_after_next_writer(root: str, known: dict[str, str]) -> None:
    """The next writer removes what the killed one left; the store is still sound."""
    store = keyglide.Store(root)
    store.gc(keep=len(VERSIONS))  # a writer that removes nothing else
    assert temporaries(root) == []
    check_store(root, known)


# --- the file-system calls of keyglide.store, watched ---------------------------------------


class WatchedOS:
    """Stands in for the ``os`` module inside ``keyglide.store``: counts the calls that
    change the file system (or prepare to) and lets ``hook(name, count_of_name, count, args)``
    act before each one: raise an error, kill the process, or return a replacement result."""

    WATCHED = frozenset({"open", "write", "fsync", "rename", "replace", "unlink", "mkdir", "rmdir"})

    def __init__(self, hook=None) -> None:
        self._hook = hook
        self.calls = 0
        self.by_name: Counter[str] = Counter()

    def __getattr__(self, name: str):
        value = getattr(os, name)
        if name not in self.WATCHED:
            return value

        def watched(*args, **kwargs):
            self.calls += 1
            self.by_name[name] += 1
            if self._hook is not None:
                result = self._hook(name, self.by_name[name], self.calls, args)
                if result is not None:
                    return result
            return value(*args, **kwargs)

        return watched


# The crash-point scenario, from an empty store: every kind of write, in order.
SCENARIO = [
    ("install", "1.0.0"),  # creates the store and xx/
    ("activate", "1.0.0"),  # the first pointer
    ("install", "2.0.0"),
    ("activate", "2.0.0"),  # replaces the pointer; 1.0.0 goes on the revert stack
    ("install", "3.0.0"),
    ("revert", None),
    ("gc", 0),  # removes 2.0.0 and 3.0.0
    ("install", "3.0.0"),
    ("activate", "3.0.0"),
    ("install", "2.0.0"),
    ("gc", 1),  # removes 2.0.0
    ("revert", None),
]


def run_step(root: str, files: dict[str, str], step: int) -> None:
    """Step ``step`` of SCENARIO."""
    store = keyglide.Store(root)
    op, arg = SCENARIO[step]
    if op == "install":
        store.install(files[arg])
    elif op == "activate":
        store.activate("xx", arg)
    elif op == "revert":
        store.revert("xx")
    else:
        store.gc(keep=arg)


# The kinds of call a writer makes once the store exists, which the random kills take in
# turn; mkdir and rmdir happen only at the store's first moments (see kill_plan).
STEADY_CALLS = ("open", "write", "fsync", "rename", "replace", "unlink")
# A writer killed before one of these always leaves a temporary behind: it is writing one.
WRITING_CALLS = frozenset({"write", "rename", "replace"})
# How many calls a writer may make before the call it is to be killed at: past this, the
# call never came and the writer fails (instead of running on).
MAX_CALLS_BEFORE_THE_KILL = 50_000


def kill_plan(runs: int, seed: int) -> list[tuple[str, int]]:
    """Where each of ``runs`` random writers is killed: just before the ``nth`` call of a
    kind. The first three kills are the store's first moments, from no store at all: before
    the first install creates xx/, then before its first write (xx/ holds only a
    temporary), then before the next writer removes that directory. Then each kind of
    STEADY_CALLS in turn, at a random one of its first four calls."""
    rng = random.Random(seed)
    plan = [("mkdir", 1), ("write", 1), ("rmdir", 1)]
    while len(plan) < runs:
        plan.append((STEADY_CALLS[len(plan) % len(STEADY_CALLS)], rng.randint(1, 4)))
    return plan[:runs]


def kill_at(kind: str, nth: int):
    """A ``WatchedOS`` hook that kills the process just before its ``nth`` call of ``kind``."""

    def hook(name, count_of_name, count, call_args):
        if name == kind and count_of_name == nth:
            os.kill(os.getpid(), signal.SIGKILL)
        if count > MAX_CALLS_BEFORE_THE_KILL:
            raise AssertionError(f"{count} file-system calls and no call number {nth} to {kind}")

    return hook


def random_writer(root: str, files: dict[str, str], seed: int, iterations: int) -> None:
    rng = random.Random(seed)
    store = keyglide.Store(root)
    for _ in range(iterations):
        op = rng.random()
        try:
            if op < 0.3:
                store.install(files[rng.choice(VERSIONS)])
            elif op < 0.6:
                store.activate("xx", rng.choice(VERSIONS))
            elif op < 0.8:
                store.revert("xx")
            else:
                store.gc(keep=rng.choice([0, 1]))
        except (keyglide.NotInstalled, keyglide.NoPreviousVersion):
            pass


# --- the helper process -------------------------------------------------------------------------


def helper_main(root: str, files_json: str, errors: str) -> None:
    """Run as a script: fork a writer for each ``run MODE ...`` line on stdin and print its
    pid; ``wait`` reaps it and prints how it ended. A writer that fails (rather than being
    killed) appends its traceback to the file ``errors``."""
    files = json.loads(files_json)
    print("ready", flush=True)
    pid = 0
    for line in sys.stdin:
        command, *args = line.split()
        if command == "run":
            pid = os.fork()
            if pid == 0:
                try:
                    mode, number = args[0], int(args[1])
                    if mode == "random":  # "random SEED KIND NTH": killed before that call
                        store_module.os = WatchedOS(kill_at(args[2], int(args[3])))
                        random_writer(root, files, number, iterations=1_000_000)
                    else:  # "step N AT": SCENARIO[N], killed before its call number AT

                        def kill_before(name, nth, count, call_args, at=int(args[2])):
                            if count == at:
                                os.kill(os.getpid(), signal.SIGKILL)

                        store_module.os = WatchedOS(kill_before)
                        run_step(root, files, number)
                    os._exit(0)
                except BaseException:
                    with open(errors, "a") as f:
                        f.write(traceback.format_exc())
                    os._exit(3)
            print(pid, flush=True)
        elif command == "wait":
            _, status = os.waitpid(pid, 0)
            ended = (
                f"signal {os.WTERMSIG(status)}"
                if os.WIFSIGNALED(status)
                else f"exit {os.WEXITSTATUS(status)}"
            )
            print(ended, flush=True)


class Helper:
    def __init__(self, root: Path, files: dict[str, str], errors: Path) -> None:
        self.errors = errors
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "helper", str(root), json.dumps(files), str(errors)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._line() == "ready"

    def _line(self) -> str:
        line = self.proc.stdout.readline()
        assert line, "the helper process died"
        return line.strip()

    def start(self, mode: str, *arguments: int | str) -> int:
        self.proc.stdin.write(f"run {mode} {' '.join(map(str, arguments))}\n")
        self.proc.stdin.flush()
        return int(self._line())

    def wait(self) -> str:
        self.proc.stdin.write("wait\n")
        self.proc.stdin.flush()
        ended = self._line()
        assert not self.errors.exists(), self.errors.read_text()
        return ended

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(30)


@pytest.fixture
def helper_for(tmp_path, files):
    helpers = []

    def start(root: Path) -> Helper:
        helpers.append(Helper(root, files, tmp_path / "writer-errors.txt"))
        return helpers[-1]

    yield start
    for h in helpers:
        h.close()


# --- killed writers -----------------------------------------------------------------------------


def test_a_writer_killed_at_random_file_system_calls(tmp_path, files, known, helper_for):
    """A writer doing random installs, activations, reverts and gcs, killed with SIGKILL
    RUNS times, each time just before a call of kill_plan: from the creation of the store,
    then before every kind of call it makes in turn. The store is checked after each kill,
    and the next writer picks up from whatever the last one left."""
    root = tmp_path / "store"
    helper = helper_for(root)
    plan = kill_plan(RUNS, seed=20261126)
    states = Counter()
    mid_write = 0  # kills that left a temporary file: in the middle of writing one
    for run, (kind, nth) in enumerate(plan):
        helper.start("random", run, kind, nth)
        assert helper.wait() == "signal 9", (run, kind, nth)
        states[check_store(str(root), known)] += 1
        left = temporaries(root)
        mid_write += bool(left)
        if kind in WRITING_CALLS:
            assert left, (run, kind, nth)
    assert_clean_after_next_writer(str(root), known)
    if RUNS >= 30:  # the kills landed before every kind of call, and in different states
        assert {kind for kind, _ in plan} == WatchedOS.WATCHED
        assert len(states) > 2 and mid_write > RUNS // 4, (states, mid_write)


@pytest.mark.slow
def test_a_writer_killed_before_each_of_its_file_system_calls(tmp_path, files, known, helper_for):
    """Each step of SCENARIO run once per file-system call it makes, from the state the
    steps before it leave, and killed just before that call: every on-disk state a kill can
    leave. The pointer is always the one before the step or the one after it, and the next
    writer cleans up."""
    root = tmp_path / "store"
    snapshots = tmp_path / "snapshots"
    states = [None]  # the pointer's state before each step, and after the last
    calls = []  # the file-system calls each step makes
    original = store_module.os
    try:
        for step in range(len(SCENARIO)):
            if root.exists():
                shutil.copytree(root, snapshots / str(step), symlinks=True)
            store_module.os = watched = WatchedOS()
            run_step(str(root), files, step)
            store_module.os = original
            calls.append(watched.by_name)
            states.append(check_store(str(root), known))
    finally:
        store_module.os = original
    total = sum(calls, Counter())
    assert total["rename"] == 5 and total["replace"] == 5 and total["unlink"] == 3, total

    helper = helper_for(root)
    for step in range(len(SCENARIO)):
        for at in range(1, sum(calls[step].values()) + 2):
            shutil.rmtree(root, ignore_errors=True)
            if (snapshots / str(step)).exists():
                shutil.copytree(snapshots / str(step), root, symlinks=True)
            helper.start("step", step, at)
            ended = helper.wait()
            if at > sum(calls[step].values()):  # past its last call: the step completes
                assert ended == "exit 0", (SCENARIO[step], at)
                continue
            assert ended == "signal 9", (SCENARIO[step], at)
            state = check_store(str(root), known)
            assert state in (states[step], states[step + 1]), (SCENARIO[step], at, state)
            assert_clean_after_next_writer(str(root), known)


def test_writer_processes_and_a_predictor_at_once(tmp_path, files, known, answers):
    """Two writer processes doing random operations on one store while this process predicts
    with check_every_call: no writer fails, and every answer is one version's."""
    root = tmp_path / "store"
    store = keyglide.Store(root)
    store.install(files["1.0.0"])
    store.activate("xx", "1.0.0")
    writers = [
        subprocess.Popen(
            [sys.executable, __file__, "writer", str(root), json.dumps(files), str(seed), "60"],
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in (1, 2)
    ]
    seen = Counter()
    with keyglide.open_store(root, "xx", check_every_call=True) as p:
        i = 0
        while any(w.poll() is None for w in writers):
            i = (i + 1) % len(CONTEXTS)
            got = (p.predict(CONTEXTS[i], k=5), p.logprob(scored(CONTEXTS[i])))
            # Two calls may straddle a switch: each must still be one version's answer.
            prediction = [v for v in VERSIONS if answers[v][i][0] == got[0]]
            logprob = [v for v in VERSIONS if answers[v][i][1] == got[1]]
            assert len(prediction) == 1 and len(logprob) == 1, (CONTEXTS[i], got)
            seen[prediction[0]] += 1
        assert p._open_handles <= 2
    for w in writers:
        _, err = w.communicate(timeout=60)
        assert w.returncode == 0, err
    check_store(str(root), known)
    assert_clean_after_next_writer(str(root), known)


# --- predictors racing activations ------------------------------------------------------------


def native_available() -> bool:
    try:
        from keyglide.engines import native
    except ImportError:
        return False
    return native.available()[0]


@pytest.mark.parametrize(
    "engine, check_every_call, switches",
    [
        pytest.param(
            "native",
            True,
            SWITCHES,
            marks=[
                pytest.mark.skipif(not native_available(), reason="no native engine here"),
                pytest.mark.slow,
            ],
        ),
        pytest.param(
            "native",
            False,
            SWITCHES // 4,
            marks=pytest.mark.skipif(not native_available(), reason="no native engine here"),
        ),
        ("reference", True, SWITCHES // 4),
    ],
)
def test_predicting_threads_while_versions_switch(
    tmp_path, files, answers, engine, check_every_call, switches
):
    """Three threads predict without pause while another activates and reverts between
    two versions: every answer is exactly one version's, no call fails, and each old
    version is closed once its last call is done."""
    store = keyglide.Store(tmp_path / "store")
    for version in ("1.0.0", "2.0.0"):
        store.install(files[version])
    store.activate("xx", "1.0.0")
    p = keyglide.open_store(store.root, "xx", engine=engine, check_every_call=check_every_call)
    # Hand the GIL over more often than every 5 ms: the switching thread's file-system calls
    # each release it, and would otherwise wait for it behind the predicting threads.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0002)
    stop = threading.Event()
    errors: list[BaseException] = []
    seen: Counter[str] = Counter()

    def predict(seed: int) -> None:
        rng = random.Random(seed)
        try:
            while not stop.is_set():
                i = rng.randrange(len(CONTEXTS))
                if rng.random() < 0.8:
                    got, which = p.predict(CONTEXTS[i], k=5), 0
                else:
                    got, which = p.logprob(scored(CONTEXTS[i])), 1
                matches = [v for v in ("1.0.0", "2.0.0") if answers[v][i][which] == got]
                assert len(matches) == 1, (CONTEXTS[i], got)
                seen[matches[0]] += 1
        except BaseException as e:  # noqa: BLE001 - reported by the test
            errors.append(e)
            stop.set()

    threads = [threading.Thread(target=predict, args=(seed,)) for seed in range(2)]
    for t in threads:
        t.start()
    try:
        for n in range(switches):
            if stop.is_set():
                break
            if n % 2 == 0:
                store.activate("xx", "2.0.0")
            else:
                store.revert("xx")
            if not check_every_call:
                p.reload()
    finally:
        stop.set()
        for t in threads:
            t.join(60)
        sys.setswitchinterval(interval)
    assert errors == []
    assert seen["1.0.0"] > 0 and seen["2.0.0"] > 0, seen
    p.reload()
    assert p.version == store.active("xx").version == "1.0.0"
    assert p._open_handles == 1  # every version switched away from was closed
    p.close()
    assert p._open_handles == 0


# --- full disks and unwritable directories ------------------------------------------------------


def fail_at(name: str, nth: int, error: OSError, partial: bool = False):
    """A hook failing the ``nth`` call of ``name`` with ``error``; with ``partial``, the
    calls to write before it write only part of what they are given."""

    def hook(called, count, _, args):
        if called == name and count == nth:
            raise error
        if partial and called == "write":
            return os.write(args[0], bytes(args[1][:1000]))
        return None

    return hook


def enospc() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def eacces() -> OSError:
    return PermissionError(errno.EACCES, os.strerror(errno.EACCES))


def eio() -> OSError:
    return OSError(errno.EIO, os.strerror(errno.EIO))


# install 3.0.0 into a store holding xx: open .lock, open the temporary, write, fsync it,
# rename, open the directory, fsync it.
INSTALL_FAULTS = {
    "the lock cannot be opened": ("open", 1, eacces),
    "the temporary cannot be created": ("open", 2, eacces),
    "no room for the temporary": ("open", 2, enospc),
    "the disk fills while copying": ("write", 1, enospc),
    "the disk fills after a partial write": ("write", 2, enospc),
    "fsync finds the disk full": ("fsync", 1, enospc),
    "fsync fails": ("fsync", 1, eio),
    "rename is refused": ("rename", 1, eacces),
    "the directory cannot be synced after the rename": ("fsync", 2, eio),
}


@pytest.fixture
def populated(tmp_path, files) -> keyglide.Store:
    store = keyglide.Store(tmp_path / "store")
    store.install(files["1.0.0"])
    store.install(files["2.0.0"])
    store.activate("xx", "1.0.0")
    store.activate("xx", "2.0.0")
    return store


@pytest.mark.parametrize("case", sorted(INSTALL_FAULTS))
def test_a_failing_install_leaves_the_store_as_it_was(populated, files, known, monkeypatch, case):
    name, nth, error = INSTALL_FAULTS[case]
    root = Path(populated.root)
    before = tree(root)
    failure = error()
    hook = fail_at(name, nth, failure, partial=case.endswith("partial write"))
    monkeypatch.setattr(store_module, "os", WatchedOS(hook))
    with pytest.raises(keyglide.StoreWriteError) as caught:
        populated.install(files["3.0.0"])
    monkeypatch.undo()
    e = caught.value
    assert isinstance(e, OSError) and e.errno == failure.errno
    message = str(e)
    assert message.startswith(f"cannot install xx 3.0.0 from {files['3.0.0']} into {root}")
    assert failure.strerror in message
    if failure.errno == errno.ENOSPC:
        assert "the disk is full" in message
    if failure.errno == errno.EACCES:
        assert "cannot be written" in message
    assert tree(root) == before
    check_store(str(root), known)
    assert populated.install(files["3.0.0"]).version == "3.0.0"  # and it works once it can


def test_a_failing_install_of_a_new_language_leaves_no_directory(tmp_path, files, monkeypatch):
    corpus = tmp_path / "yy.txt"
    corpus.write_text(corpus_text(9), encoding="utf-8")
    recipe = Recipe.from_args(
        corpus=[corpus], order=2, language="yy", data_version="1", discount_fallback=True
    )
    yy = tmp_path / "yy.langdb"
    build(recipe, yy, progress=False, source_commit=None)
    store = keyglide.Store(tmp_path / "store")
    store.install(files["1.0.0"])
    root = Path(store.root)
    before = tree(root)
    for name, nth, error in [("mkdir", 1, eacces), ("fsync", 1, eio), ("write", 1, enospc)]:
        monkeypatch.setattr(store_module, "os", WatchedOS(fail_at(name, nth, error())))
        with pytest.raises(keyglide.StoreWriteError):
            store.install(yy)
        monkeypatch.undo()
        assert tree(root) == before, name


# activate: open .lock, open the pointer's temporary, write, fsync, replace, open the
# directory, fsync it.
ACTIVATE_FAULTS = {
    "no room for the new pointer": ("open", 2, enospc),
    "the disk fills writing it": ("write", 1, enospc),
    "fsync fails": ("fsync", 1, eio),
    "replace is refused": ("replace", 1, eacces),
}


@pytest.mark.parametrize("case", sorted(ACTIVATE_FAULTS))
def test_a_failing_activate_or_revert_keeps_the_old_pointer(populated, known, monkeypatch, case):
    name, nth, error = ACTIVATE_FAULTS[case]
    root = Path(populated.root)
    before = tree(root)
    for change in (lambda: populated.activate("xx", "1.0.0"), lambda: populated.revert("xx")):
        monkeypatch.setattr(store_module, "os", WatchedOS(fail_at(name, nth, error())))
        with pytest.raises(keyglide.StoreWriteError, match=r"cannot (activate|revert) xx"):
            change()
        monkeypatch.undo()
        assert tree(root) == before
    assert check_store(str(root), known) == ("2.0.0", ("1.0.0",))


def test_activated_but_not_synced_says_so(populated, monkeypatch):
    monkeypatch.setattr(store_module, "os", WatchedOS(fail_at("fsync", 2, eio())))
    with pytest.raises(keyglide.StoreWriteError, match="is active, but .* power loss"):
        populated.revert("xx")
    monkeypatch.undo()
    assert populated.active("xx").version == "1.0.0"


def test_gc_that_cannot_remove_says_so(populated, files, monkeypatch):
    populated.install(files["3.0.0"])
    monkeypatch.setattr(store_module, "os", WatchedOS(fail_at("unlink", 1, eacces())))
    with pytest.raises(keyglide.StoreWriteError, match="cannot remove .*3.0.0.langdb"):
        populated.gc(keep=0)
    monkeypatch.undo()
    assert [e.version for e in populated.gc(keep=0).removed] == ["3.0.0"]


# --- run as a script: the helper process and the writer processes ------------------------------

if __name__ == "__main__":
    if sys.argv[1] == "helper":
        helper_main(*sys.argv[2:5])
    elif sys.argv[1] == "writer":
        root, files_json, seed, iterations = sys.argv[2:6]
        random_writer(root, json.loads(files_json), int(seed), int(iterations))
