"""The on-device langdb store (``keyglide.Store``, ``keyglide.open_store``) and ``keyglide
store``: install, activate, revert, history, list, gc, pointer validation and hot swap.

Kills, full disks and concurrent switching are in ``test_store_faults.py``.
"""

from __future__ import annotations

import errno
import json
import os
import random
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import keyglide
import pytest
from keyglide import StoreReadError, cli
from keyglide.builder import Recipe, build
from keyglide.reader import LangDBFile
from keyglide.store import MAX_REVERTS, POINTER, version_key

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()
CONTEXTS = ["alpha ", "beta gamma ", "the ", "ze", ""]


def corpus_text(seed: int, sentences: int = 300) -> str:
    rng = random.Random(seed)
    vocabulary = WORDS[: 6 + seed % 6]
    return "\n".join(
        " ".join(rng.choice(vocabulary) for _ in range(rng.randint(3, 9))) + "."
        for _ in range(sentences)
    )


def build_langdb(directory: Path, seed: int, version: str, language: str = "xx") -> Path:
    corpus = directory / f"corpus-{seed}.txt"
    corpus.write_text(corpus_text(seed), encoding="utf-8")
    out = directory / f"{seed}-{len(os.listdir(directory))}.langdb"
    recipe = Recipe.from_args(
        corpus=[corpus],
        order=2,
        language=language,
        data_version=version,
        discount_fallback=True,
    )
    build(recipe, out, progress=False, source_commit=None)
    return out


@pytest.fixture(scope="module")
def dbs(tmp_path_factory) -> dict[str, Path]:
    """Two versions of language xx from two corpora, and a few odd ones."""
    d = tmp_path_factory.mktemp("langdbs")
    return {
        "1.0.0": build_langdb(d, 1, "1.0.0"),
        "2.0.0": build_langdb(d, 2, "2.0.0"),
        "10.0.0": build_langdb(d, 3, "10.0.0"),
        "other-1.0.0": build_langdb(d, 4, "1.0.0"),  # other bytes, same version as 1.0.0
        "yy": build_langdb(d, 5, "0.1", language="YY-Test"),
        "rc-upper": build_langdb(d, 1, "3.0-RC1"),
        "rc-lower": build_langdb(d, 1, "3.0-rc1"),
        "bad-version": build_langdb(d, 1, "../../evil"),
        "bad-language": build_langdb(d, 1, "1.0.0", language="en_US"),
    }


@pytest.fixture(scope="module")
def answers(dbs) -> dict[str, list]:
    """Each version's suggestions for CONTEXTS."""
    out = {}
    for version in ("1.0.0", "2.0.0"):
        with keyglide.open(dbs[version]) as db:
            out[version] = [db.predict(c, k=5) for c in CONTEXTS]
    return out


@pytest.fixture
def store(tmp_path) -> keyglide.Store:
    return keyglide.Store(tmp_path / "store")


@pytest.fixture
def two(store, dbs) -> keyglide.Store:
    """A store with 1.0.0 and 2.0.0 of xx installed and 1.0.0 active."""
    store.install(dbs["1.0.0"])
    store.install(dbs["2.0.0"])
    store.activate("xx", "1.0.0")
    return store


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under root and its bytes (None for a directory)."""
    out = {}
    for path in sorted(root.rglob("*")):
        out[str(path.relative_to(root))] = None if path.is_dir() else path.read_bytes()
    return out


# --- install ----------------------------------------------------------------------------------


def test_install_copies_under_language_and_version(store, dbs):
    entry = store.install(dbs["1.0.0"])
    root = Path(store.root)
    assert (entry.language, entry.version) == ("xx", "1.0.0")
    assert entry.path == str(root / "xx" / "1.0.0.langdb")
    assert Path(entry.path).read_bytes() == dbs["1.0.0"].read_bytes()
    assert entry.size == dbs["1.0.0"].stat().st_size
    import hashlib

    assert entry.sha256 == hashlib.sha256(dbs["1.0.0"].read_bytes()).hexdigest()
    assert Path(entry.path).stat().st_mode & 0o222 == 0  # installed files are read-only
    assert sorted(os.listdir(root)) == [".lock", "xx"]
    assert os.listdir(root / "xx") == ["1.0.0.langdb"]  # no temporaries, no pointer yet
    assert store.active("xx") is None and store.history("xx") == []


def test_installing_the_same_bytes_again_does_nothing(store, dbs):
    first = store.install(dbs["1.0.0"])
    before = tree(Path(store.root))
    mtime = os.stat(first.path).st_mtime_ns
    assert store.install(dbs["1.0.0"]) == first
    assert tree(Path(store.root)) == before
    assert os.stat(first.path).st_mtime_ns == mtime


def test_other_bytes_claiming_an_installed_version_are_refused(store, dbs):
    store.install(dbs["1.0.0"])
    before = tree(Path(store.root))
    with pytest.raises(keyglide.VersionConflict, match="already installed.*new data_version"):
        store.install(dbs["other-1.0.0"])
    assert tree(Path(store.root)) == before


def test_versions_differing_only_in_case_are_refused(store, dbs):
    store.install(dbs["rc-upper"])
    with pytest.raises(keyglide.VersionConflict, match="only in case"):
        store.install(dbs["rc-lower"])


@pytest.mark.parametrize("which", ["bad-version", "bad-language"])
def test_metadata_that_cannot_name_a_file_is_refused(store, dbs, which):
    with pytest.raises(keyglide.InvalidName, match="cannot name a store entry"):
        store.install(dbs[which])
    assert not Path(store.root).exists()


def test_language_tags_are_case_insensitive(store, dbs):
    entry = store.install(dbs["yy"])
    assert entry.language == "yy-test" and entry.path.endswith(
        os.path.join("yy-test", "0.1.langdb")
    )
    store.activate("YY-TEST", "0.1")
    assert store.active("yy-Test").version == "0.1"
    with keyglide.open_store(store.root, "Yy-test") as p:
        assert p.info["language"] == "YY-Test" and p.language == "yy-test"


def damaged(tmp_path: Path, source: Path, how: str) -> Path:
    data = bytearray(source.read_bytes())
    if how == "checksum":
        with LangDBFile.open(source) as f:  # a byte inside the largest section: only
            e = max(f.entries, key=lambda e: e.length)  # verify() sees it
        data[e.offset + e.length // 2] ^= 0xFF
    elif how == "truncated":
        data = data[: len(data) // 2]
    elif how == "not-a-langdb":
        data = bytearray(b"hello, world\n" * 10)
    elif how == "major-2":
        data[8:10] = (2).to_bytes(2, "little")
    elif how == "empty":
        data = bytearray()
    path = tmp_path / f"{how}.langdb"
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    "how, error",
    [
        ("checksum", keyglide.ChecksumMismatch),
        ("truncated", keyglide.TruncatedLangDB),
        ("not-a-langdb", keyglide.CorruptLangDB),
        ("major-2", keyglide.UnsupportedVersion),
        ("empty", keyglide.CorruptLangDB),
    ],
)
def test_a_file_that_does_not_verify_is_never_installed(two, dbs, tmp_path, how, error):
    bad = damaged(tmp_path, dbs["10.0.0"], how)
    before = tree(Path(two.root))
    with pytest.raises(error, match=how):  # the message names the file given
        two.install(bad)
    assert tree(Path(two.root)) == before


def test_a_missing_file(store, tmp_path):
    missing = tmp_path / "missing.langdb"
    with pytest.raises(keyglide.StoreError, match="No such file") as caught:
        store.install(missing)
    e = caught.value
    assert isinstance(e, StoreReadError) and isinstance(e, OSError)  # errno and filename kept
    assert e.errno == errno.ENOENT and e.filename == str(missing) and str(missing) in str(e)
    assert not os.path.exists(store.root)


@pytest.mark.parametrize("kind", ["directory", "symlink to a device", "fifo"])
def test_a_file_that_is_not_a_regular_file_is_refused(two, tmp_path, kind, request):
    path = tmp_path / "odd.langdb"
    if kind == "directory":
        path.mkdir()
        expected = errno.EISDIR
    elif kind == "fifo":
        os.mkfifo(path)
        # Held open for reading and writing (Linux): whatever opens it does not wait.
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        request.addfinalizer(lambda: os.close(fd))
        expected = errno.EINVAL
    else:
        if not os.path.exists("/dev/null"):
            pytest.skip("no /dev/null here")
        os.symlink("/dev/null", path)
        expected = errno.EINVAL
    before = tree(Path(two.root))
    with pytest.raises(StoreReadError) as caught:
        two.install(path)
    assert caught.value.errno == expected and str(path) in str(caught.value)
    assert tree(Path(two.root)) == before


def test_a_root_that_is_not_a_directory(tmp_path, dbs):
    root = tmp_path / "file"
    root.write_text("not a store")
    store = keyglide.Store(root)
    for use in (store.list, lambda: store.active("xx"), lambda: store.history("xx")):
        with pytest.raises(StoreReadError, match=str(root)) as caught:
            use()
        assert caught.value.errno == errno.ENOTDIR
    with pytest.raises(StoreReadError):
        keyglide.open_store(root, "xx")
    with pytest.raises(keyglide.StoreWriteError):
        store.install(dbs["1.0.0"])
    assert root.read_text() == "not a store"


def test_the_store_command_says_what_is_wrong_with_the_file(store, tmp_path, capsys):
    code = cli.main(["store", "install", str(tmp_path), "--root", store.root])
    err = capsys.readouterr().err
    assert code == 3 and err.count("\n") == 1
    assert err == f"keyglide: error: cannot install {tmp_path}: a directory, not a langdb file\n"


def test_the_compatibility_verdict_decides_when_there_is_one(store, dbs, monkeypatch):
    import types

    class Verdict:
        readable = False
        reason = "format 1.0 is no longer read by this SDK (test)"

    seen = []
    fake = types.ModuleType("keyglide.compat")
    fake.negotiate = lambda db: seen.append(db.name) or Verdict()
    monkeypatch.setitem(sys.modules, "keyglide.compat", fake)
    monkeypatch.setattr(keyglide, "compat", fake, raising=False)
    with pytest.raises(keyglide.UnsupportedVersion, match="no longer read"):
        store.install(dbs["1.0.0"])
    assert seen and not (Path(store.root) / "xx").exists()
    Verdict.readable = True
    assert store.install(dbs["1.0.0"]).version == "1.0.0"


# --- activate, revert, history, list ----------------------------------------------------------


def pointer_of(store, language="xx") -> dict:
    return json.loads((Path(store.root) / language / POINTER).read_text())


def test_activate_writes_the_pointer(store, dbs):
    entry = store.install(dbs["1.0.0"])
    record = store.activate("xx", "1.0.0")
    assert (record.version, record.sha256, record.size) == ("1.0.0", entry.sha256, entry.size)
    pointer = pointer_of(store)
    assert pointer["format"] == "keyglide-store-pointer-1" and pointer["language"] == "xx"
    assert pointer["active"]["version"] == "1.0.0"
    assert pointer["active"]["sha256"] == entry.sha256
    assert pointer["previous"] == []
    assert store.active("xx") == entry


def test_activate_and_revert_keep_a_stack(two):
    pointer_path = Path(two.root) / "xx" / POINTER
    inode = pointer_path.stat().st_ino
    two.activate("xx", "1.0.0")  # already active: nothing happens
    assert pointer_path.stat().st_ino == inode
    two.activate("xx", "2.0.0")
    assert pointer_path.stat().st_ino != inode  # replaced, never rewritten in place
    assert [a.version for a in two.history("xx")] == ["2.0.0", "1.0.0"]
    assert two.revert("xx").version == "1.0.0"
    assert [a.version for a in two.history("xx")] == ["1.0.0"]
    with pytest.raises(keyglide.NoPreviousVersion, match="no previously active"):
        two.revert("xx")
    assert two.active("xx").version == "1.0.0"


def test_the_revert_stack_is_bounded(two):
    for i in range(MAX_REVERTS + 6):
        two.activate("xx", "2.0.0" if i % 2 == 0 else "1.0.0")
    history = two.history("xx")
    assert len(history) == MAX_REVERTS + 1
    assert [a.version for a in history[:3]] == ["1.0.0", "2.0.0", "1.0.0"]
    for _ in range(MAX_REVERTS):
        two.revert("xx")
    with pytest.raises(keyglide.NoPreviousVersion):
        two.revert("xx")


def test_activating_what_is_not_installed(two):
    before = tree(Path(two.root))
    with pytest.raises(keyglide.NotInstalled, match=r"xx 9\.9 is not installed.*1\.0\.0, 2\.0\.0"):
        two.activate("xx", "9.9")
    with pytest.raises(keyglide.NotInstalled):
        two.activate("zz", "1.0.0")
    with pytest.raises(keyglide.InvalidName):
        two.activate("xx", "../1.0.0")
    with pytest.raises(keyglide.InvalidName):
        two.activate("../xx", "1.0.0")
    assert tree(Path(two.root)) == before


def test_list_orders_by_version_and_says_which_is_active(two, dbs):
    two.install(dbs["10.0.0"])
    two.install(dbs["yy"])
    two.activate("xx", "2.0.0")
    assert [(e.language, e.version, e.state) for e in two.list()] == [
        ("xx", "1.0.0", "previous"),
        ("xx", "2.0.0", "active"),
        ("xx", "10.0.0", "installed"),
        ("yy-test", "0.1", "installed"),
    ]
    assert [e.active for e in two.list()] == [False, True, False, False]
    assert keyglide.Store(Path(two.root) / "nothing-here").list() == []


def test_version_order():
    ordered = ["0.9", "1.0.0-alpha", "1.0.0-rc1", "1.0.0", "1.0.0+build2", "1.2", "1.10", "2"]
    assert sorted(reversed(ordered), key=version_key) == ordered
    assert sorted(["2026.11.0", "2026.2.1", "2025.12.9"], key=version_key) == [
        "2025.12.9",
        "2026.2.1",
        "2026.11.0",
    ]


def test_readers_ignore_temporaries_and_the_next_writer_removes_them(two, dbs):
    root = Path(two.root)
    leftovers = [
        root / ".tmp-0123-3.0.0.langdb",
        root / "xx" / ".tmp-abcd-9.0.0.langdb",
        root / "xx" / ".tmp-abcd-active.json",
        root / "zz" / ".tmp-ffff-1.0.0.langdb",  # a directory a killed install created
    ]
    (root / "zz").mkdir()
    for path in leftovers:
        path.write_bytes(b"\0" * 100)
    assert [e.version for e in two.list()] == ["1.0.0", "2.0.0"]
    assert two.active("xx").version == "1.0.0"
    two.activate("xx", "2.0.0")
    assert not any(p.exists() for p in leftovers)
    assert not (root / "zz").exists()


# --- the pointer, validated -------------------------------------------------------------------


def good_pointer(two) -> dict:
    return pointer_of(two)


BAD_POINTERS = {
    "empty": b"",
    "not json": b"{",
    "not utf-8": b'{"format": "\xff"}',
    "a list": b"[]",
    "no format": b'{"language": "xx"}',
    "too big": b" " * (2 << 20),
}


def edited(pointer: dict, path: str, value) -> bytes:
    data = json.loads(json.dumps(pointer))
    *keys, last = path.split(".")
    target = data
    for key in keys:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return json.dumps(data).encode()


EDITS = [
    ("language", "yy"),
    ("active", "1.0.0"),
    ("active.version", "../../etc/passwd"),
    ("active.version", ".hidden"),
    ("active.version", 1),
    ("active.sha256", "0" * 63),
    ("active.sha256", "Z" * 64),
    ("active.size", -1),
    ("active.size", True),
    ("active.size", 1.5),
    ("active.activated_at", None),
    ("active", KeyError),
    ("previous", {}),
    ("previous", [7]),
]


@pytest.mark.parametrize("name", sorted(BAD_POINTERS))
def test_a_damaged_pointer_is_a_typed_error_naming_it(two, name):
    check_damaged_pointer(two, BAD_POINTERS[name])


@pytest.mark.parametrize("path, value", EDITS, ids=[f"{p}={v!r}" for p, v in EDITS])
def test_a_hand_edited_pointer_is_a_typed_error_naming_it(two, path, value):
    check_damaged_pointer(two, edited(good_pointer(two), path, value))


def check_damaged_pointer(store, raw: bytes) -> None:
    pointer = Path(store.root) / "xx" / POINTER
    pointer.write_bytes(raw)
    for use in (
        lambda: store.active("xx"),
        lambda: store.history("xx"),
        lambda: store.list(),
        lambda: store.revert("xx"),
        lambda: store.gc(keep=0),
        lambda: keyglide.open_store(store.root, "xx"),
    ):
        with pytest.raises(keyglide.CorruptStore, match=str(pointer)):
            use()
    # Activating replaces a damaged pointer (its history is lost).
    store.activate("xx", "2.0.0")
    assert [a.version for a in store.history("xx")] == ["2.0.0"]


def test_a_pointer_naming_a_missing_or_changed_file(two, dbs):
    path = Path(two.root) / "xx" / "1.0.0.langdb"
    path.unlink()
    with pytest.raises(keyglide.CorruptStore, match="1.0.0 is missing"):
        two.active("xx")
    with pytest.raises(keyglide.CorruptStore, match="missing"):
        keyglide.open_store(two.root, "xx")
    path.write_bytes(dbs["10.0.0"].read_bytes()[:-8])  # another size
    with pytest.raises(keyglide.CorruptStore, match="bytes, but the pointer .* recorded"):
        keyglide.open_store(two.root, "xx")


def test_verify_reads_every_installed_file(two, dbs):
    entries = two.verify()
    assert [(e.language, e.version) for e in entries] == [("xx", "2.0.0"), ("xx", "1.0.0")]
    assert entries[1].sha256 == two.active("xx").sha256
    active = Path(two.root) / "xx" / "1.0.0.langdb"
    active.chmod(0o644)
    active.write_bytes(dbs["other-1.0.0"].read_bytes())  # valid, same version, other bytes
    with pytest.raises(keyglide.CorruptStore, match="sha256"):
        two.verify("xx")


def tamper(path: Path) -> None:
    """Change one byte of an installed file in place: the same size, a valid structure."""
    path.chmod(0o644)
    with LangDBFile.open(path) as f:  # a byte inside the largest section: only verify() sees it
        e = max(f.entries, key=lambda e: e.length)
    data = bytearray(path.read_bytes())
    data[e.offset + e.length // 2] ^= 0xFF
    with open(path, "r+b") as f:  # in place: the same inode
        f.write(data)


def test_a_file_changed_in_place_is_found_only_with_verify_on_switch(two, answers):
    path = Path(two.root) / "xx" / "1.0.0.langdb"
    tamper(path)
    # By default opening checks the size only (O(1)): the changed file is served.
    with keyglide.open_store(two.root, "xx") as p:
        assert p.info["store"]["verify_on_switch"] is False
        p.predict(CONTEXTS[0])
        with pytest.raises(keyglide.ChecksumMismatch):  # only when asked
            p.verify()
    with pytest.raises(keyglide.CorruptStore, match=f"{path}: its sha256 is not the one"):
        keyglide.open_store(two.root, "xx", verify_on_switch=True)
    two.activate("xx", "2.0.0")  # the sha256 recorded is that of 2.0.0 as installed
    with keyglide.open_store(two.root, "xx", verify_on_switch=True) as p:
        assert p.info["store"]["verify_on_switch"] is True
        assert p.predict(CONTEXTS[0], k=5) == answers["2.0.0"][0]


def test_verify_on_switch_keeps_the_version_it_has(two, answers):
    with (
        keyglide.open_store(two.root, "xx", verify_on_switch=True) as p,
        keyglide.open_store(two.root, "xx", verify_on_switch=True, check_every_call=True) as q,
    ):
        two.activate("xx", "2.0.0")
        tamper(Path(two.root) / "xx" / "2.0.0.langdb")  # after its sha256 was recorded
        with pytest.raises(keyglide.CorruptStore, match="2.0.0.langdb: its sha256"):
            p.reload()
        assert p.version == "1.0.0" and p.predict(CONTEXTS[0], k=5) == answers["1.0.0"][0]
        # check_every_call: the call is answered by the version it has, the reason kept.
        assert q.predict(CONTEXTS[0], k=5) == answers["1.0.0"][0]
        assert "2.0.0.langdb: its sha256" in q.info["store"]["reload_error"]
        assert q._open_handles == 1
        two.revert("xx")  # back to 1.0.0, intact: the reason goes away
        assert q.predict(CONTEXTS[1], k=5) == answers["1.0.0"][1]
        assert q.info["store"]["reload_error"] is None


def test_verify_on_switch_switches_to_an_intact_version(two, answers):
    with keyglide.open_store(two.root, "xx", verify_on_switch=True, check_every_call=True) as p:
        two.activate("xx", "2.0.0")
        assert p.predict(CONTEXTS[0], k=5) == answers["2.0.0"][0]
        assert p.version == "2.0.0" and p.info["store"]["reload_error"] is None


def test_the_predictor_verifies_the_sha256_the_pointer_recorded(two):
    pointer = Path(two.root) / "xx" / POINTER
    data = json.loads(pointer.read_text())
    with keyglide.open_store(two.root, "xx") as p:
        p.verify()
    data["active"]["sha256"] = "0" * 64
    pointer.write_text(json.dumps(data))
    with keyglide.open_store(two.root, "xx") as p, pytest.raises(keyglide.CorruptStore):
        p.verify()


# --- gc -------------------------------------------------------------------------------------


def test_gc_keeps_the_newest_the_active_and_the_revert_history(two, dbs):
    two.install(dbs["10.0.0"])
    result = two.gc(keep=0)  # 1.0.0 is active; 2.0.0 and 10.0.0 were never active
    assert sorted(e.version for e in result.removed) == ["10.0.0", "2.0.0"]
    assert result.in_use == ()
    assert [e.version for e in two.list()] == ["1.0.0"]

    for version in ("2.0.0", "10.0.0"):
        two.install(dbs[version])
    assert two.gc(keep=1).removed[0].version == "2.0.0"  # keeps 10.0.0, the newest
    two.install(dbs["2.0.0"])
    two.activate("xx", "2.0.0")  # 1.0.0 goes into the revert history
    assert [e.version for e in two.gc(keep=0).removed] == ["10.0.0"]
    assert [e.version for e in two.list()] == ["1.0.0", "2.0.0"]
    assert two.revert("xx").version == "1.0.0"


def test_gc_skips_a_version_open_in_a_predictor(two):
    with keyglide.open_store(two.root, "xx") as p:
        two.activate("xx", "2.0.0")
        two.revert("xx")
        two.activate("xx", "2.0.0")
        two.revert("xx")  # 1.0.0 active, 2.0.0 neither active nor in the history
        two.activate("xx", "2.0.0")
        p.reload()  # the predictor has 2.0.0 open
        two.revert("xx")
        result = two.gc(keep=0)
        assert result.removed == () and [e.version for e in result.in_use] == ["2.0.0"]
        assert p.predict("alpha ")  # still answers
    assert [e.version for e in two.gc(keep=0).removed] == ["2.0.0"]


def test_gc_skips_a_version_open_in_another_process(two):
    two.activate("xx", "2.0.0")
    script = textwrap.dedent(
        f"""
        import sys, keyglide
        p = keyglide.open_store({two.root!r}, "xx")
        print(p.version, flush=True)
        sys.stdin.read()
        p.close()
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "2.0.0"
        two.revert("xx")  # 2.0.0 is no longer active nor in the history, but still open
        result = two.gc(keep=0)
        assert [e.version for e in result.in_use] == ["2.0.0"] and result.removed == ()
    finally:
        child.communicate("", timeout=30)
    assert [e.version for e in two.gc(keep=0).removed] == ["2.0.0"]


@pytest.mark.parametrize("keep", [-1, 1.5, "2", None])
def test_gc_keep_must_be_a_count(two, keep):
    with pytest.raises((ValueError, TypeError)):
        two.gc(keep=keep)


# --- writers in several threads -----------------------------------------------------------------


def test_writers_in_threads_take_turns(two):
    errors = []

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        store = keyglide.Store(two.root)  # each its own object: the lock is the file's
        for _ in range(25):
            try:
                if rng.random() < 0.5:
                    store.activate("xx", rng.choice(["1.0.0", "2.0.0"]))
                else:
                    store.revert("xx")
            except keyglide.NoPreviousVersion:
                pass
            except Exception as e:  # noqa: BLE001 - collected and reported below
                errors.append(e)

    threads = [threading.Thread(target=writer, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    history = two.history("xx")
    assert 1 <= len(history) <= MAX_REVERTS + 1
    # Consecutive entries of the stack differ: each activation pushed a different version.
    assert all(a.version != b.version for a, b in zip(history, history[1:], strict=False))
    two.verify()


# --- the predictor --------------------------------------------------------------------------


def test_the_predictor_answers_like_the_langdb(two, dbs):
    with keyglide.open_store(two.root, "xx") as p, keyglide.open(dbs["1.0.0"]) as db:
        assert isinstance(p, keyglide.StorePredictor)
        for context in CONTEXTS:
            assert p.predict(context) == db.predict(context)
            assert p.predict(context, k=7) == db.predict(context, k=7)
        text = "alpha beta. gamma delta"
        assert p.logprob(text) == db.logprob(text)
        assert p.perplexity(text) == db.perplexity(text)
        p.verify()
        info = p.info
        expected = dict(db.info, path=info["path"])
        assert {k: v for k, v in info.items() if k != "store"} == expected
        assert info["path"] == str(Path(two.root) / "xx" / "1.0.0.langdb") == p.path
        store_info = info["store"]
        assert store_info["version"] == "1.0.0" == p.version
        assert store_info["sha256"] == two.active("xx").sha256 == p.sha256
        assert store_info["root"] == two.root and store_info["reload_error"] is None
        assert p.engine == db.engine
        assert "1.0.0" in repr(p)
    assert p.closed and "closed" in repr(p)
    p.close()  # idempotent
    for use in (
        lambda: p.predict("a"),
        lambda: p.logprob("a"),
        lambda: p.perplexity("a"),
        lambda: p.info,
        lambda: p.version,
        lambda: p.reload(),
        lambda: p.verify(),
    ):
        with pytest.raises(ValueError, match="closed"):
            use()
    assert p._open_handles == 0


def test_the_predictor_checks_its_arguments_like_the_langdb(two):
    with keyglide.open_store(two.root, "xx") as p:
        with pytest.raises(ValueError, match="k must be"):
            p.predict("a", k=-1)
        with pytest.raises(TypeError, match="str"):
            p.predict(b"a")
        with pytest.raises(ValueError, match="no tokens"):
            p.perplexity("")


def test_opening_a_language_without_an_active_version(store, dbs):
    with pytest.raises(keyglide.NotInstalled, match="no active version"):
        keyglide.open_store(store.root, "xx")
    store.install(dbs["1.0.0"])
    with pytest.raises(keyglide.NotInstalled, match="no active version"):
        keyglide.open_store(store.root, "xx")
    with pytest.raises(ValueError, match="engine"):
        keyglide.open_store(store.root, "xx", engine="fast")
    with pytest.raises(keyglide.InvalidName):
        keyglide.open_store(store.root, "x/y")


def test_reload_switches_when_told(two, answers):
    with keyglide.open_store(two.root, "xx") as p:
        assert p.reload() is False
        two.activate("xx", "2.0.0")
        assert p.predict(CONTEXTS[0], k=5) == answers["1.0.0"][0]  # not checking by itself
        assert p.reload() is True
        assert p.version == "2.0.0" and p.predict(CONTEXTS[0], k=5) == answers["2.0.0"][0]
        assert p.info["store"]["sha256"] == two.active("xx").sha256
        assert p._open_handles == 1  # the old version was closed


def test_check_every_call_follows_activate_and_revert(two, answers):
    with keyglide.open_store(two.root, "xx", check_every_call=True) as p:
        for version in ("2.0.0", "1.0.0", "2.0.0"):
            if version == "1.0.0":
                two.revert("xx")
            else:
                two.activate("xx", version)
            assert p.predict(CONTEXTS[1], k=5) == answers[version][1]
            assert p.version == version
        assert p._open_handles == 1


def test_a_failed_reload_keeps_the_current_version(two, answers):
    pointer = Path(two.root) / "xx" / POINTER
    with keyglide.open_store(two.root, "xx", check_every_call=True) as p:
        with keyglide.open_store(two.root, "xx") as q:
            pointer.write_text("{}")
            with pytest.raises(keyglide.CorruptStore, match=str(pointer)):
                q.reload()
            assert q.predict(CONTEXTS[0], k=5) == answers["1.0.0"][0]
        # check_every_call: the call is answered, and the reason is kept in info.
        assert p.predict(CONTEXTS[0], k=5) == answers["1.0.0"][0]
        assert str(pointer) in p.info["store"]["reload_error"]
        two.activate("xx", "2.0.0")  # the pointer changes again: it is retried
        assert p.predict(CONTEXTS[0], k=5) == answers["2.0.0"][0]
        assert p.info["store"]["reload_error"] is None


def test_a_call_in_flight_finishes_on_its_version(two, answers, monkeypatch):
    """reload() while a call is running: the call finishes on the old database, which is
    closed only when it returns; new calls go to the new version meanwhile."""
    p = keyglide.open_store(two.root, "xx", engine="reference")
    old = p._current
    entered, release = threading.Event(), threading.Event()
    original = old.db.predict

    def slow_predict(text, k=3):
        entered.set()
        assert release.wait(30)
        return original(text, k)

    monkeypatch.setattr(old.db, "predict", slow_predict)
    result = []
    caller = threading.Thread(target=lambda: result.append(p.predict(CONTEXTS[0], k=5)))
    caller.start()
    assert entered.wait(30)
    two.activate("xx", "2.0.0")
    assert p.reload() is True
    assert not old.db.closed and p._open_handles == 2
    assert p.predict(CONTEXTS[0], k=5) == answers["2.0.0"][0]
    release.set()
    caller.join(30)
    assert result == [answers["1.0.0"][0]]
    assert old.db.closed and p._open_handles == 1
    p.close()
    assert p._open_handles == 0


def test_close_while_a_call_is_in_flight(two, answers, monkeypatch):
    p = keyglide.open_store(two.root, "xx", engine="reference")
    handle = p._current
    entered, release = threading.Event(), threading.Event()
    original = handle.db.logprob

    def slow_logprob(text):
        entered.set()
        assert release.wait(30)
        return original(text)

    monkeypatch.setattr(handle.db, "logprob", slow_logprob)
    result = []
    caller = threading.Thread(target=lambda: result.append(p.logprob("alpha beta")))
    caller.start()
    assert entered.wait(30)
    p.close()
    assert not handle.db.closed
    with pytest.raises(ValueError, match="closed"):
        p.predict("a")
    release.set()
    caller.join(30)
    assert len(result) == 1 and handle.db.closed and p._open_handles == 0


# --- the command --------------------------------------------------------------------------------


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_store_command(tmp_path, dbs, capsys, monkeypatch):
    root = tmp_path / "store"
    code, out, err = run(capsys, "store", "install", dbs["1.0.0"], "--root", root)
    assert code == 0 and err == ""
    language, version, sha, path = out.strip().split("\t")
    assert (language, version, path) == ("xx", "1.0.0", str(root / "xx" / "1.0.0.langdb"))
    monkeypatch.setenv("KEYGLIDE_STORE", str(root))
    assert run(capsys, "store", "install", dbs["2.0.0"])[0] == 0
    code, out, _ = run(capsys, "store", "activate", "xx", "1.0.0")
    assert (code, out) == (0, f"xx\t1.0.0\t{sha}\n")
    run(capsys, "store", "activate", "xx", "2.0.0")
    code, out, _ = run(capsys, "store", "history", "xx")
    rows = [line.split("\t") for line in out.splitlines()]
    assert [(r[0], r[3]) for r in rows] == [("2.0.0", "active"), ("1.0.0", "previous")]
    code, out, _ = run(capsys, "store", "list")
    assert out == "".join(
        f"xx\t{v}\t{dbs[v].stat().st_size}\t{s}\n"
        for v, s in (("1.0.0", "previous"), ("2.0.0", "active"))
    )
    code, out, _ = run(capsys, "store", "active", "xx")
    assert out.split("\t")[0] == "2.0.0"
    code, out, _ = run(capsys, "store", "revert", "xx")
    assert (code, out) == (0, f"xx\t1.0.0\t{sha}\n")
    code, out, _ = run(capsys, "store", "gc", "--keep", "0")
    assert (code, out) == (0, "removed\txx\t2.0.0\n")
    assert run(capsys, "predict", "--db", root / "xx" / "1.0.0.langdb", "alpha ")[0] == 0


@pytest.mark.parametrize(
    "argv, message, status",
    [
        (["revert", "xx"], "no previously active version", 1),
        (["activate", "xx", "9"], "xx 9 is not installed", 1),
        (["activate", "x/y", "1"], "is not a language tag", 1),
        (["history", "zz"], "zz was never activated", 2),
        (["active", "zz"], "zz has no active version", 2),
        (["install", "missing.langdb"], "cannot install missing.langdb: No such file", 3),
        (["gc", "--keep", "-1"], "--keep must be at least 0", 2),
    ],
)
def test_store_command_errors_are_one_line(two, capsys, argv, message, status):
    code, out, err = run(capsys, "store", *argv, "--root", two.root)
    assert code == status and out == ""
    assert err.startswith("keyglide: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_store_command_conflicts_and_damage_are_one_line(two, dbs, capsys):
    code, _, err = run(capsys, "store", "install", dbs["other-1.0.0"], "--root", two.root)
    assert code == 1 and "already installed" in err and err.count("\n") == 1
    (Path(two.root) / "xx" / POINTER).write_text("[]")
    code, _, err = run(capsys, "store", "list", "--root", two.root)
    assert code == 1 and POINTER in err and err.count("\n") == 1


def test_store_command_needs_a_root(capsys, monkeypatch):
    monkeypatch.delenv("KEYGLIDE_STORE", raising=False)
    code, _, err = run(capsys, "store", "list")
    assert code == 2 and "--root DIR" in err
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["store"])
    assert exit_info.value.code == 2
    capsys.readouterr()


def test_the_store_command_runs_as_a_program(two):
    done = subprocess.run(
        [sys.executable, "-m", "keyglide.cli", "store", "list", "--root", two.root],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stdout.startswith("xx\t1.0.0\t")


def test_pointer_is_replaced_not_rewritten_while_read(two):
    """A reader polling the pointer during activations never sees a partial one."""
    stop = time.monotonic() + 1.0
    seen = set()
    errors = []

    def read() -> None:
        while time.monotonic() < stop:
            try:
                seen.add(two.active("xx").version)
            except Exception as e:  # noqa: BLE001 - collected and reported below
                errors.append(e)

    reader = threading.Thread(target=read)
    reader.start()
    while time.monotonic() < stop:
        two.activate("xx", "2.0.0")
        two.revert("xx")
    reader.join()
    assert errors == [] and seen <= {"1.0.0", "2.0.0"}
    with LangDBFile.open(two.active("xx").path) as f:
        f.verify()
