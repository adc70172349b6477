"""The journal through the Python API: recovery (snapshot + replay) equals a
straight replay equals the live machine, for the matching engine and the
ledger; point-in-time recovery; damage and bad input reported precisely;
the busy flag; the runner publishing only durable events; crash tests with
writer processes killed by SIGKILL."""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import resource
import signal
import struct
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shanraq_core import (
    BOOK_COMMAND_DTYPE,
    BOOK_EVENT_DTYPE,
    LEDGER_COMMAND_DTYPE,
    Closed,
    CommandKind,
    Journal,
    Ledger,
    MatchingEngine,
    Runner,
    SpscRing,
    TailReader,
)
from shanraq_core import journal as jm
from shanraq_core.errors import (
    DiskFullError,
    JournalCorruptionError,
    JournalError,
    JournalFormatError,
    JournalIOError,
    JournalKeyError,
    JournalLockedError,
    JournalPermissionError,
)
from tests.book_flows import SYMBOLS, commands, spec_command, to_array
from tests.test_ledger_machine import SEED, streams, to_commands
from tests.test_runner import make_commands

Records = npt.NDArray[np.void]
FORK = mp.get_context("fork")
# Small files so a test writes several segments and frames quickly.
SMALL = {"segment_bytes": 64 << 10, "max_write_bytes": 16 << 10, "buffer_bytes": 256 << 10}
ENGINE = {"max_orders": 8192, "max_symbols": 8, "max_levels": 1024, "id_history": 8192}
SYM = 5


def engine() -> MatchingEngine:
    return MatchingEngine(**ENGINE)


def ledger() -> Ledger:
    return Ledger(16, 1024, 1024)


def book_stream(flow: list[dict[str, int]]) -> Records:
    """The symbols' configuration then the flow: the whole sequenced stream."""
    setup = [spec_command(int(CommandKind.ADD_SYMBOL), s, tuple(v.values()), 0) for s, v in SYMBOLS.items()]  # type: ignore[arg-type]
    return to_array(setup + flow)


def ledger_stream(specs: list[dict[str, Any]]) -> Records:
    return np.concatenate([to_commands(SEED), to_commands(specs)], dtype=LEDGER_COMMAND_DTYPE)


def stamped(cmds: Records) -> Records:
    out = cmds.copy()
    out["seq"] = np.arange(1, len(out) + 1, dtype=np.uint64)
    return out


def split_points(data: st.DataObject, n: int) -> list[int]:
    cuts = sorted(set(data.draw(st.lists(st.integers(0, n), max_size=4))))
    return [0, *cuts, n]


def live_run(path: Path, machine: Any, cmds: Records, data: st.DataObject) -> tuple[Any, Records, int]:
    """Journals cmds in random batches with a snapshot at a random point;
    returns the live machine, the events and the snapshot's seq (0: none)."""
    pts = split_points(data, len(cmds))
    snap_after = data.draw(st.sampled_from(pts))
    events = []
    snap = 0
    with Journal.open(path, machine, **SMALL) as j:
        for a, b in itertools.pairwise(pts):
            if a == snap_after and a != 0:
                snap = j.snapshot()
            events.append(j.process(cmds[a:b]))
        assert j.wait_durable(j.last_seq, timeout=30)
        assert j.durable_seq == len(cmds)
    dtype = type(machine).EVENT_DTYPE
    return machine, np.concatenate(events, dtype=dtype) if events else np.zeros(0, dtype), snap


def check_equivalence(tmp: Path, new: Any, cmds: Records, data: st.DataObject) -> None:
    live, events, snap = live_run(tmp / "j", new(), cmds, data)
    direct = new()
    want = direct.process(stamped(cmds))
    assert want.tobytes() == events.tobytes()
    assert direct.state_hash() == live.state_hash()
    # Recovery: the newest snapshot, then a replay of what follows it.
    with Journal.open(tmp / "j", new(), **SMALL) as rec:
        assert rec.recovery["snapshot_seq"] == snap
        assert rec.recovery["replayed"] == len(cmds) - snap
        assert rec.machine.snapshot() == live.snapshot()
    # A straight replay from seq 1, checking every snapshot on the way.
    fresh = new()
    report = jm.verify(tmp / "j", fresh)
    assert report["last_seq"] == len(cmds)
    assert fresh.snapshot() == live.snapshot()
    if snap:
        assert snap in report["snapshots_checked"]


@settings(max_examples=15)
@given(commands(n_max=40), st.data())
def test_engine_recovery_equals_straight_replay_equals_live(
    tmp_path_factory: pytest.TempPathFactory, flow: list[dict[str, int]], data: st.DataObject
) -> None:
    check_equivalence(tmp_path_factory.mktemp("e"), engine, book_stream(flow), data)


@settings(max_examples=15)
@given(streams(max_size=30), st.data())
def test_ledger_recovery_equals_straight_replay_equals_live(
    tmp_path_factory: pytest.TempPathFactory, specs: list[dict[str, Any]], data: st.DataObject
) -> None:
    check_equivalence(tmp_path_factory.mktemp("l"), ledger, ledger_stream(specs), data)


@settings(max_examples=10)
@given(commands(n_max=40), st.data())
def test_point_in_time_recovery_equals_the_prefix(
    tmp_path_factory: pytest.TempPathFactory, flow: list[dict[str, int]], data: st.DataObject
) -> None:
    tmp = tmp_path_factory.mktemp("p")
    cmds = book_stream(flow)
    live_run(tmp / "j", engine(), cmds, data)
    k = data.draw(st.integers(1, len(cmds)))
    pit = engine()
    report = jm.restore_to(tmp / "j", tmp / "pit", pit, seq=k)
    assert report["last_seq"] == k
    prefix = engine()
    prefix.process(stamped(cmds)[:k])
    assert pit.snapshot() == prefix.snapshot()
    # The new directory is a journal that continues from there.
    with Journal.open(tmp / "pit", engine(), **SMALL) as j:
        assert j.next_seq == k + 1
        assert j.machine.snapshot() == prefix.snapshot()
        j.process(cmds[k:])
        whole = engine()
        whole.process(stamped(cmds))
        assert j.machine.snapshot() == whole.snapshot()


def journal_of(tmp: Path, n_batches: int = 12, **options: Any) -> tuple[Path, Records]:
    """A closed engine journal of several frames, each synced before the
    next was written (so every frame but the last is provably durable)."""
    cmds = book_stream([])
    more = make_commands(40 * n_batches, 3)
    more["symbol"] = 1
    cmds = np.concatenate([cmds, more], dtype=BOOK_COMMAND_DTYPE)
    with Journal.open(tmp / "j", engine(), **SMALL, **options) as j:
        for part in np.array_split(cmds, n_batches):
            j.process(part)
            j.wait_durable(j.last_seq)
    return tmp / "j", cmds


def segment_files(path: Path) -> list[Path]:
    return sorted(path.glob("*.wal"))


@settings(max_examples=20)
@given(st.data())
def test_a_flipped_byte_before_the_last_frame_is_reported_with_file_offset_and_seq(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    path, _ = journal_of(tmp_path_factory.mktemp("c"))
    seg = segment_files(path)[0]
    frames = jm.inspect(path)  # headers only; the data region is the 128-byte header onward
    assert frames["segments"][0]["header_ok"]
    raw = bytearray(seg.read_bytes())
    # The first frame's header says how long the frame is: damage within the
    # first half of the written data is always before the last frame.
    body = struct.unpack_from("<I", raw, 128 + 20)[0]
    last_first_frame_byte = 128 + 96 + body - 1
    at = data.draw(st.integers(128, last_first_frame_byte))
    raw[at] ^= 1 << data.draw(st.integers(0, 7))
    seg.write_bytes(bytes(raw))
    with pytest.raises(JournalCorruptionError) as e:
        jm.verify(path, engine())
    assert e.value.path == str(seg)
    assert -1 <= e.value.offset <= at
    assert e.value.seq >= 0
    assert str(seg) in str(e.value)
    # Recovery refuses the same way and changes nothing on disk.
    before = seg.read_bytes()
    with pytest.raises(JournalCorruptionError):
        Journal.open(path, engine(), **SMALL)
    assert seg.read_bytes() == before


def test_a_torn_tail_is_cut_and_reported(tmp_path: Path) -> None:
    path, cmds = journal_of(tmp_path)
    seg = segment_files(path)[-1]
    raw = bytearray(seg.read_bytes())
    end = len(raw.rstrip(b"\0"))
    raw[end - 3] ^= 0xFF  # inside the last record of the last frame
    seg.write_bytes(bytes(raw))
    with Journal.open(path, engine(), **SMALL) as j:
        torn = j.recovery["torn_tail"]
        assert torn is not None
        assert torn["file"] == str(seg)
        assert torn["seq"] <= len(cmds)
        assert j.last_seq == torn["seq"] - 1
        prefix = engine()
        prefix.process(stamped(cmds)[: j.last_seq])
        assert j.machine.snapshot() == prefix.snapshot()


def test_deleted_and_swapped_segments_are_reported(tmp_path: Path) -> None:
    path, _ = journal_of(tmp_path, n_batches=40)
    segs = segment_files(path)
    assert len(segs) >= 3
    middle = segs[1].read_bytes()
    segs[1].unlink()
    with pytest.raises(JournalCorruptionError) as e:
        jm.verify(path, engine())
    assert e.value.seq > 0
    segs[1].write_bytes(segs[2].read_bytes())
    segs[2].write_bytes(middle)
    with pytest.raises((JournalCorruptionError, JournalFormatError)):
        jm.verify(path, engine())


# ---- bad input ---------------------------------------------------------------------------------
def test_bad_directories_and_files(tmp_path: Path) -> None:
    with pytest.raises(JournalIOError) as e:
        Journal.open(tmp_path / "missing", engine(), create=False)
    assert e.value.errno == 2
    assert e.value.filename == str(tmp_path / "missing")
    with pytest.raises(JournalIOError):
        Journal.open(tmp_path / "no" / "parent", engine())
    (tmp_path / "file").write_text("x")
    with pytest.raises(JournalIOError):
        Journal.open(tmp_path / "file", engine())
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "00000000000000000001.wal").write_bytes(b"not a journal" * 20)
    with pytest.raises(JournalFormatError) as f:
        Journal.open(foreign, engine())
    assert f.value.path == str(foreign / "00000000000000000001.wal")


def test_another_machine_or_format_version_is_refused(tmp_path: Path) -> None:
    path, _ = journal_of(tmp_path, n_batches=2)
    with pytest.raises(JournalFormatError):
        Journal.open(path, ledger(), **SMALL)
    seg = segment_files(path)[0]
    raw = bytearray(seg.read_bytes())
    raw[8] = 99  # the format version
    seg.write_bytes(bytes(raw))
    with pytest.raises(JournalFormatError) as e:
        Journal.open(path, engine(), **SMALL)
    assert e.value.path == str(seg)


def test_a_second_writer_is_refused(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j", engine(), **SMALL), pytest.raises(JournalLockedError):
        Journal.open(tmp_path / "j", engine(), **SMALL)


def test_bad_arguments_raise_typed_errors_and_change_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="durability"):
        Journal.open(tmp_path / "a", engine(), durability="sometimes")
    with pytest.raises(ValueError, match="segment"):
        Journal.open(tmp_path / "b", engine(), segment_bytes=100)
    with pytest.raises(ValueError, match="32 bytes"):
        Journal.open(tmp_path / "c", engine(), keys={1: b"short"})
    with pytest.raises(ValueError, match="key id 0"):
        Journal.open(tmp_path / "d", engine(), keys={0: bytes(32)})
    with pytest.raises(TypeError):
        Journal.open(tmp_path / "e", object())
    with Journal.open(tmp_path / "j", engine(), **SMALL) as j:
        with pytest.raises(TypeError, match="COMMAND_DTYPE"):
            j.process(np.zeros(2, dtype=BOOK_EVENT_DTYPE))
        with pytest.raises(TypeError):
            j.process([1, 2])  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="seq"):
            j.wait_durable(-1)
        with pytest.raises(ValueError, match="timeout"):
            j.wait_durable(1, timeout=-1)
        assert j.last_seq == 0
        # Commands applied behind the journal's back are refused before anything is journaled.
        j.machine.add_symbol(1)
        with pytest.raises(RuntimeError, match="without the journal"):
            j.process(np.zeros(1, dtype=BOOK_COMMAND_DTYPE))
        assert j.last_seq == 0


def test_keys_wrong_missing_and_rotation(tmp_path: Path) -> None:
    k1, k2 = os.urandom(32), os.urandom(32)
    cmds = book_stream([])
    with Journal.open(tmp_path / "j", engine(), keys={1: k1, 2: k2}, key_id=1, **SMALL) as j:
        j.process(cmds[:2])
        j.wait_durable(j.last_seq)  # written under key 1 before the rotation
        j.rotate_key(2)
        j.process(cmds[2:])
    with pytest.raises(JournalKeyError) as e:
        Journal.open(tmp_path / "j", engine(), keys={1: k1, 2: os.urandom(32)}, **SMALL)
    assert e.value.key_id == 2
    with pytest.raises(JournalKeyError):
        jm.verify(tmp_path / "j", engine())
    with pytest.raises(JournalKeyError):
        jm.verify(tmp_path / "j", engine(), keys={2: k2})  # key 1 is still named by the first segment
    report = jm.verify(tmp_path / "j", engine(), keys={1: k1, 2: k2})
    assert report["last_seq"] == len(cmds)
    assert [s["key_id"] for s in jm.inspect(tmp_path / "j")["segments"]][:2] == [1, 2]


def _child_open_as_nobody(path: str, w: int) -> None:
    if os.geteuid() == 0:  # root ignores permission bits: become nobody
        os.setgid(65534)
        os.setuid(65534)
    try:
        Journal.open(path, engine())
        os.write(w, b"opened")
    except JournalPermissionError as e:
        os.write(w, f"perm {e.errno} {isinstance(e, PermissionError)}".encode())
    except BaseException as e:
        os.write(w, type(e).__name__.encode())
    os._exit(0)


def _child_until_disk_full(path: str, w: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200 << 10, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    try:
        # Segments larger than the file size limit: preparing or filling one fails.
        j = Journal.open(path, engine(), **{**SMALL, "segment_bytes": 1 << 20})
        for _ in range(1000):
            j.process(np.zeros(50, dtype=BOOK_COMMAND_DTYPE))
            j.wait_durable(j.last_seq)
        os.write(w, b"never full")
    except DiskFullError as e:
        os.write(w, f"full {e.errno}".encode())
    except BaseException as e:
        os.write(w, f"{type(e).__name__} {e}".encode())
    os._exit(0)


def run_child(target: Any, *args: Any) -> str:
    r, w = os.pipe()
    p = FORK.Process(target=target, args=(*args, w))
    p.start()
    os.close(w)
    p.join(60)
    out = os.read(r, 4096).decode()
    os.close(r)
    return out


def test_no_permission_is_a_journal_permission_error(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j", engine(), **SMALL):
        pass
    os.chmod(tmp_path, 0o755)
    # Owner-only for root (the child becomes nobody); no access at all otherwise.
    os.chmod(tmp_path / "j", 0o700 if os.geteuid() == 0 else 0o000)
    try:
        assert run_child(_child_open_as_nobody, str(tmp_path / "j")) == "perm 13 True"
    finally:
        os.chmod(tmp_path / "j", 0o755)


def test_a_full_disk_is_a_disk_full_error(tmp_path: Path) -> None:
    out = run_child(_child_until_disk_full, str(tmp_path / "j"))
    assert out == "full 27", out  # EFBIG: RLIMIT_FSIZE stands in for a full file system


# ---- threads -------------------------------------------------------------------------------------
def test_a_second_thread_is_refused_while_a_call_runs_without_the_gil(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j", engine(), **SMALL) as j:
        waiting = threading.Thread(target=j.wait_durable, args=(10**9, 1.0))
        waiting.start()
        refused = None
        deadline = time.monotonic() + 3.0
        while refused is None and time.monotonic() < deadline:
            try:
                j.sync()
            except RuntimeError as e:
                refused = e
        waiting.join()
        assert refused is not None
        assert "in use by another thread" in str(refused)
        # Only the call's own duration: afterwards the journal works.
        j.process(book_stream([]))
        assert j.wait_durable(j.last_seq, timeout=30)


def test_runner_publishes_only_durable_events_and_holds_the_journal(tmp_path: Path) -> None:
    for depth in (1, 4):
        path = tmp_path / f"j{depth}"
        j = Journal.open(path, engine(), **SMALL)
        j.process(book_stream([]))
        cmds = make_commands(2000, 5)
        cmds["symbol"] = 1
        cmds["price"] = np.where(cmds["price"] != 0, 100, 0)
        cmd_ring, ev_ring = SpscRing(256, BOOK_COMMAND_DTYPE), SpscRing(256, BOOK_EVENT_DTYPE)
        r = Runner(
            j.machine, cmd_ring, ev_ring, journal=j, snapshot_every=500, batch=32, pipeline_depth=depth
        )
        r.start()
        with pytest.raises(RuntimeError):
            j.process(cmds[:1])
        with pytest.raises(RuntimeError):
            j.close()

        def feed(cmds: Records = cmds, cmd_ring: SpscRing = cmd_ring) -> None:
            for c in cmds:
                cmd_ring.push(c)
            cmd_ring.close()  # the end of the stream: the runner drains, then closes the event ring

        feeder = threading.Thread(target=feed)
        feeder.start()
        got = 0
        while True:
            try:
                ev = ev_ring.pop_many(128, timeout=10.0)
            except Closed:
                break
            if len(ev):
                # Read after the pop: published only once durable.
                assert int(ev["seq"].max()) <= j.durable_seq
            got += len(ev)
        feeder.join()
        r.join()
        assert got == r.events_published
        assert j.durable_seq == len(cmds) + len(SYMBOLS)
        live = j.machine.snapshot()
        j.close()
        assert len(jm.inspect(path)["snapshots"]) >= 1
        fresh = engine()
        report = jm.verify(path, fresh)
        assert report["snapshots_checked"]
        assert fresh.snapshot() == live


def test_tail_reader_follows_a_live_journal_gap_free(tmp_path: Path) -> None:
    cmds = book_stream([])
    with Journal.open(tmp_path / "j", engine(), **SMALL) as j:
        tail = TailReader(tmp_path / "j", engine(), live=j)
        assert len(tail.read()) == 0
        j.process(cmds[:2])
        j.wait_durable(j.last_seq)
        first = tail.read()
        j.process(cmds[2:])
        j.wait_durable(j.last_seq)
        rest = tail.read()
    with pytest.raises(RuntimeError, match="was closed"):
        tail.read()  # it followed the live journal's watermark, which is gone
    both = np.concatenate([first, rest], dtype=BOOK_COMMAND_DTYPE)
    assert both["seq"].tolist() == list(range(1, len(cmds) + 1))
    assert tail.position == len(cmds) + 1
    again = TailReader(tmp_path / "j", engine(), from_seq=2)
    assert again.read()["seq"].tolist() == list(range(2, len(cmds) + 1))


# ---- crash tests: writer processes killed by SIGKILL ------------------------------------------------
CRASH_STREAM_SEED = 11


def crash_stream() -> Records:
    more = make_commands(6000, CRASH_STREAM_SEED)
    more["symbol"] = 1
    return np.concatenate([book_stream([]), more], dtype=BOOK_COMMAND_DTYPE)


def _crash_writer(path: str, seed: int, w: int) -> None:
    """Recovers, then journals the stream on from where it stopped in random
    batches, acknowledging each durable batch's last seq through the pipe."""
    rng = np.random.default_rng(seed)
    stream = crash_stream()
    j = Journal.open(path, engine(), **SMALL)
    while j.next_seq <= len(stream):
        a = j.next_seq - 1
        b = min(len(stream), a + int(rng.integers(1, 60)))
        j.process(stream[a:b])
        if rng.integers(0, 10) == 0:
            j.snapshot()
        j.wait_durable(j.last_seq)
        os.write(w, struct.pack("<Q", j.last_seq))
    os.write(w, struct.pack("<Q", 0))
    os._exit(0)


def test_sigkilled_writers_lose_no_acknowledged_command(tmp_path: Path) -> None:
    """20 kills here (the C++ suite runs 200, scripts/soak_journal.sh more):
    after each, recovery holds every acknowledged command, exactly the
    stream's prefix, in a state equal to a fresh replay of that prefix."""
    stream = stamped(crash_stream())
    rng = np.random.default_rng(2024)
    path = tmp_path / "j"
    acked = 0
    for kill in range(20):
        r, w = os.pipe()
        p = FORK.Process(target=_crash_writer, args=(str(path), kill, w))
        p.start()
        os.close(w)
        want = int(rng.integers(1, 12))
        seen = 0
        with os.fdopen(r, "rb") as pipe:
            while seen < want:
                raw = pipe.read(8)
                if len(raw) < 8:
                    break
                (seq,) = struct.unpack("<Q", raw)
                if seq == 0:
                    break
                acked = max(acked, seq)
                seen += 1
            os.kill(p.pid, signal.SIGKILL)
            p.join(30)
        assert p.exitcode == -signal.SIGKILL or p.exitcode == 0
        with Journal.open(path, engine(), **SMALL) as j:
            assert j.last_seq >= acked
            assert j.last_seq <= len(stream)
            expected = engine()
            expected.process(stream[: j.last_seq])
            assert j.machine.snapshot() == expected.snapshot()
            acked = j.last_seq
    tail = TailReader(path, engine(), from_seq=jm.inspect(path)["segments"][0]["first_seq"])
    recs = tail.read(len(stream))
    assert recs.tobytes() == stream[int(recs["seq"][0]) - 1 : acked].tobytes()


# ---- the command line ---------------------------------------------------------------------------
def cli(*args: str) -> tuple[int, str, str]:
    import io

    from shanraq_core.cli_journal import main

    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


CAP = [f"--capacity={k}={int(v)}" for k, v in ENGINE.items()]


def test_cli_commands_and_exit_codes(tmp_path: Path) -> None:
    import json

    path, cmds = journal_of(tmp_path)
    code, out, _ = cli("inspect", str(path), "--json")
    assert code == 0
    view = json.loads(out)
    assert view["segments"][0]["machine"] == "BOOK"
    code, out, _ = cli("verify", str(path), *CAP)
    assert code == 0
    assert f"..{len(cmds)}" in out
    code, out, _ = cli("verify", str(path), "--json", *CAP)
    assert json.loads(out)["last_seq"] == len(cmds)
    code, out, _ = cli("replay", str(path), "--out", str(tmp_path / "pit"), "--seq", "7", "--json", *CAP)
    assert code == 0
    assert json.loads(out)["last_seq"] == 7
    code, out, _ = cli("recover", str(tmp_path / "pit"), "--json", *CAP)
    assert code == 0
    assert json.loads(out)["last_seq"] == 7
    code, out, _ = cli("backup", str(path), str(tmp_path / "bk"), "--json", "--prune", "7,4,12", *CAP)
    assert code == 0
    backup_set = json.loads(out)["path"]
    code, _, _ = cli("restore", backup_set, str(tmp_path / "restored"), *CAP)
    assert code == 0
    code, out, _ = cli("tail", str(path), "--from", "3", "--count", "4", "--json", *CAP)
    assert code == 0
    assert [json.loads(line)["seq"] for line in out.splitlines()] == [3, 4, 5, 6]
    # Usage errors: 2.
    assert cli("frobnicate", str(path))[0] == 2
    assert cli("verify")[0] == 2
    assert cli("verify", str(tmp_path / "missing"))[0] == 2
    assert cli("replay", str(path), "--out", str(tmp_path / "x"), *CAP)[0] == 2
    assert cli("verify", str(path), "--capacity", "bogus")[0] == 2
    # A damaged journal: 1, with the place.
    seg = segment_files(path)[0]
    raw = bytearray(seg.read_bytes())
    raw[128 + 96 + 30] ^= 4
    seg.write_bytes(bytes(raw))
    code, out, err = cli("verify", str(path), "--json", *CAP)
    assert code == 1
    report = json.loads(out)
    assert report["error"] == "corruption"
    assert report["path"] == str(seg)
    assert str(seg) in err


def test_cli_key_errors_and_locked_journals(tmp_path: Path) -> None:
    key = os.urandom(32)
    with Journal.open(tmp_path / "j", engine(), keys={3: key}, key_id=3, **SMALL) as j:
        j.process(book_stream([]))
        assert cli("recover", str(tmp_path / "j"), *CAP)[0] == 4  # the live writer holds it
    (tmp_path / "k").write_bytes(key)
    (tmp_path / "hex").write_text(os.urandom(32).hex())
    assert cli("verify", str(tmp_path / "j"), *CAP)[0] == 3
    assert cli("verify", str(tmp_path / "j"), "--key", f"3={tmp_path / 'hex'}", *CAP)[0] == 3
    assert cli("verify", str(tmp_path / "j"), "--key", f"3={tmp_path / 'k'}", *CAP)[0] == 0
    assert cli("verify", str(tmp_path / "j"), "--key", f"0={tmp_path / 'k'}", *CAP)[0] == 2


def test_python_dash_m_dispatches_the_journal_command(tmp_path: Path) -> None:
    import subprocess
    import sys

    path, _ = journal_of(tmp_path, n_batches=2)
    done = subprocess.run(
        [sys.executable, "-m", "shanraq_core", "journal", "inspect", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "machine BOOK" in done.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "shanraq_core", "journal", "nope"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2


def test_errors_are_journal_errors() -> None:
    for cls in (
        JournalCorruptionError,
        JournalFormatError,
        JournalKeyError,
        JournalLockedError,
        DiskFullError,
    ):
        assert issubclass(cls, JournalError)
    assert issubclass(JournalPermissionError, PermissionError)
    assert issubclass(DiskFullError, OSError)
    assert not issubclass(JournalKeyError, KeyError)
