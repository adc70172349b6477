# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
# distutils: language = c++
"""Bindings of the journal. Translation only: argument checks, GIL handling,
choosing the C++ machine adapter; behaviour lives in C++
(shanraq::journal) and the thin Python layer (shanraq_core.journal)."""

from cpython.exc cimport PyErr_CheckSignals
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libcpp cimport bool as cbool
from libcpp.string cimport string
from libcpp.vector cimport vector

from shanraq_core._core.book cimport MatchingEngine, MatchingEngineBase
from shanraq_core._core.exchange cimport Exchange, ExchangeBase
from shanraq_core._core.glue cimport check_idle, enter, leave, to_i64, to_u32, to_u64
from shanraq_core._core.ledger cimport LedgerBase, LedgerMachine

import os

import numpy as np

# Slices in which a wait for durability runs with the GIL released, checking
# for signals (Ctrl-C) in between.
cdef int64_t _WAIT_SLICE_NS = 50_000_000


cdef extern from "shanraq/journal/reader.hpp" namespace "shanraq::journal" nogil:
    VerifyReport c_verify "shanraq::journal::verify"(const string&, BoundMachine&, const Keyring*) \
        except +translate_exception
    RecoveryReport c_restore_to "shanraq::journal::restore_to"(const string&, const string&, PointInTime,
                                                               BoundMachine&, const JournalOptions&) \
        except +translate_exception
    BackupReport c_backup "shanraq::journal::backup"(const string&, const string&, BoundMachine&, int64_t,
                                                     const Keyring*) except +translate_exception
    VerifyReport c_verify_backup "shanraq::journal::verify_backup"(const string&, BoundMachine&, const Keyring*) \
        except +translate_exception
    void c_restore_backup "shanraq::journal::restore_backup"(const string&, const string&, BoundMachine&,
                                                            const Keyring*) except +translate_exception
    vector[string] c_prune_backups "shanraq::journal::prune_backups"(const string&, const BackupRetention&) \
        except +translate_exception
    TailReader* new_tail "new shanraq::journal::TailReader"(string, uint64_t, const Expect&, const Keyring*,
                                                           const Journal*) except +translate_exception


cdef string _path(object path) except *:
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, not {type(path).__name__}")
    return os.fsencode(path)


cdef str _str(string s):
    cdef bytes b = s
    return os.fsdecode(b)


cdef BoundMachine* _bind(object machine, cbool** busy) except NULL:
    """The journal's adapter over a Python machine (owned by the caller), and
    the machine's busy flag. One branch per machine of the contract: the
    exchange has its own."""
    cdef MatchingEngineBase book
    cdef ExchangeBase exch
    cdef LedgerBase led
    if isinstance(machine, MatchingEngineBase):
        book = <MatchingEngineBase>machine
        book._check()
        busy[0] = &book._busy
        return new_bound[MatchingEngine](book.eng[0])
    if isinstance(machine, LedgerBase):
        led = <LedgerBase>machine
        led._enter()
        busy[0] = &led._busy
        return new_bound[LedgerMachine](led.m[0])
    if isinstance(machine, ExchangeBase):
        exch = <ExchangeBase>machine
        exch._check()
        busy[0] = &exch._busy
        return new_bound[Exchange](exch.x[0])
    raise TypeError(f"machine must be a MatchingEngine, a Ledger or an Exchange, not {type(machine).__name__}")


cdef int _add_keys(JournalHandle* h, object keys) except -1:
    """keys: a mapping of key id (1..2**32-1) to 32 key bytes."""
    cdef uint32_t kid
    cdef const uint8_t[::1] raw
    if keys is None:
        return 0
    if not hasattr(keys, "items"):
        raise TypeError(f"keys must be a mapping of key id to 32 bytes, not {type(keys).__name__}")
    for k, v in keys.items():
        to_u32(k, "key id", &kid)
        if kid == 0:
            raise ValueError("key id 0 means 'not encrypted'; use ids from 1")
        if not isinstance(v, (bytes, bytearray)) or len(v) != 32:
            raise ValueError(f"key {kid} must be 32 bytes (AES-256)")
        raw = bytes(v)
        h.add_key(kid, &raw[0])
    return 0


cdef int _options(JournalOptions* o, str durability, object segment_bytes, object max_write_bytes,
                  object buffer_bytes, object keep_snapshots, object create, str preallocation,
                  object key_id) except -1:
    if not isinstance(durability, str):
        raise TypeError("durability must be a str")
    o.durability = parse_policy(durability.encode())
    to_u64(segment_bytes, "segment_bytes", &o.segment_bytes)
    to_u32(max_write_bytes, "max_write_bytes", &o.max_write_bytes)
    to_u64(buffer_bytes, "buffer_bytes", &o.buffer_bytes)
    to_u32(keep_snapshots, "keep_snapshots", &o.keep_snapshots)
    if not isinstance(create, bool):
        raise TypeError("create must be a bool")
    o.create = create
    if preallocation == "zero_fill":
        o.preallocation = Preallocation.kZeroFill
    elif preallocation == "fallocate":
        o.preallocation = Preallocation.kFallocate
    elif preallocation == "none":
        o.preallocation = Preallocation.kNone
    else:
        raise ValueError(f"preallocation must be 'zero_fill', 'fallocate' or 'none', got {preallocation!r}")
    to_u32(key_id, "key_id", &o.key_id)
    return 0


def parse_durability(str text):
    """(mode, interval_ms) of a policy text; ValueError if it is not one."""
    cdef DurabilityPolicy p = parse_policy(text.encode())
    return (("every_batch", "interval_ms", "none")[<int>p.mode], p.interval_ms)


cdef dict _torn(const TornTail& t):
    return {"file": _str(t.file), "offset": t.offset, "seq": t.seq, "bytes": t.bytes, "why": _str(t.why)}


cdef dict _recovery(const RecoveryReport& r):
    return {
        "created": r.created,
        "snapshot_seq": r.snapshot_seq,
        "snapshot_file": _str(r.snapshot_file),
        "replayed": r.replayed,
        "last_seq": r.last_seq,
        "torn_tail": _torn(r.torn_tail) if r.torn else None,
        "notes": [_str(r.notes[i]) for i in range(r.notes.size())],
    }


cdef dict _verify(const VerifyReport& r):
    return {
        "from_seq": r.from_seq,
        "last_seq": r.last_seq,
        "base_snapshot": r.base_snapshot,
        "records": r.records,
        "frames": r.frames,
        "segments": r.segments,
        "snapshots_checked": [r.snapshots_checked[i] for i in range(r.snapshots_checked.size())],
        "torn_tail": _torn(r.torn_tail) if r.torn else None,
    }


cdef class JournalBase:
    """An open journal and the machine it recovered; use shanraq_core.Journal."""

    def __cinit__(self, *args, **kwargs):
        self.h = NULL
        self._busy = False
        self._machine_busy = NULL
        self._pins = 0

    def _open(self, path, machine, *, str durability="every_batch", segment_bytes=64 << 20,
              max_write_bytes=1 << 20, buffer_bytes=16 << 20, keep_snapshots=2, create=True,
              str preallocation="zero_fill", keys=None, key_id=0):
        if self.h != NULL:
            raise RuntimeError("Journal is already open")
        cdef string dir_ = _path(path)
        cdef JournalOptions opts
        _options(&opts, durability, segment_bytes, max_write_bytes, buffer_bytes, keep_snapshots, create,
                 preallocation, key_id)
        cdef cbool* mbusy = NULL
        cdef JournalHandle* h = new JournalHandle(_bind(machine, &mbusy))
        try:
            _add_keys(h, keys)
            # Recovery replays into the machine: it is held like a runner holds it.
            enter(mbusy, type(machine).__name__.encode())
            try:
                with nogil:
                    h.open(dir_, opts)
            finally:
                leave(mbusy)
        except BaseException:
            del h
            raise
        self.h = h
        self._machine = machine
        self._machine_busy = mbusy
        self._report = _recovery(h.report())

    def __dealloc__(self):
        if self.h != NULL:
            # Closing writes and syncs what was staged; an error cannot be
            # reported from here (call close() to see it).
            try:
                with nogil:
                    self.h.close()
            except BaseException:
                pass
            self.h.release()
            del self.h
            self.h = NULL

    cdef int _check(self) except -1:
        if self.h == NULL or not self.h.is_open():
            raise RuntimeError("Journal is closed")
        return check_idle(self._busy, b"Journal")

    cdef int _open_check(self) except -1:
        if self.h == NULL or not self.h.is_open():
            raise RuntimeError("Journal is closed")
        return 0

    # ---- writing -----------------------------------------------------------------------------
    def process(self, commands):
        """Stamps the commands' seq (continuing next_seq), journals them and
        applies them to the machine; returns their events. The batch is
        durable once durable_seq reaches last_seq (wait_durable)."""
        self._check()
        dtype = type(self._machine).COMMAND_DTYPE
        if not isinstance(commands, np.ndarray):
            raise TypeError(f"commands must be a numpy array of {type(self._machine).__name__}.COMMAND_DTYPE, "
                            f"not {type(commands).__name__}")
        if commands.dtype != dtype:
            # The packed copy numpy's concatenate makes of a dtype with alias
            # fields has the same fields in another layout: converted once.
            if commands.dtype.names != dtype.names or any(
                    commands.dtype.fields[n][0] != dtype.fields[n][0] for n in dtype.names):
                raise TypeError(f"commands must have dtype {type(self._machine).__name__}.COMMAND_DTYPE, "
                                f"got {commands.dtype}")
            commands = commands.astype(dtype)
        if commands.ndim != 1:
            raise ValueError(f"commands must be one-dimensional, got shape {commands.shape}")
        # A private copy: the seq fields are stamped in place.
        arr = np.array(commands, dtype=dtype, copy=True, order="C")
        cdef size_t n = arr.shape[0]
        cdef uint8_t[::1] raw
        cdef uint8_t* p = NULL
        if n:
            raw = arr.view(np.uint8).reshape(-1)
            p = &raw[0]
        cdef string events
        check_idle(self._machine_busy[0], type(self._machine).__name__.encode())
        enter(&self._busy, b"Journal")
        self._machine_busy[0] = True
        try:
            with nogil:
                self.h.process(p, n, events)
        finally:
            self._machine_busy[0] = False
            leave(&self._busy)
        out = np.frombuffer(events, dtype=type(self._machine).EVENT_DTYPE).copy() if events.size() else \
            np.zeros(0, dtype=type(self._machine).EVENT_DTYPE)
        return out

    def wait_durable(self, seq, timeout=None):
        """Waits until durable_seq >= seq; True, or False if `timeout`
        seconds passed first (None: no limit)."""
        self._check()
        cdef uint64_t s
        to_u64(seq, "seq", &s)
        cdef int64_t limit = -1
        cdef double t
        if timeout is not None:
            t = float(timeout)
            if not (t >= 0.0):
                raise ValueError(f"timeout must be >= 0 seconds or None, got {timeout!r}")
            limit = <int64_t>(t * 1e9) if t < 9e9 else <int64_t>9e18
        cdef Journal* j = &self.h.journal()
        cdef cbool ok = False
        cdef int64_t slice_ns
        enter(&self._busy, b"Journal")
        try:
            while True:
                slice_ns = _WAIT_SLICE_NS if limit < 0 or limit > _WAIT_SLICE_NS else limit
                with nogil:
                    ok = j.wait_durable(s, jnanoseconds(slice_ns))
                if ok:
                    return True
                if limit >= 0:
                    limit -= slice_ns
                    if limit <= 0:
                        return False
                PyErr_CheckSignals()
        finally:
            leave(&self._busy)

    def sync(self):
        """Writes and fdatasyncs everything journaled, whatever the policy."""
        self._check()
        cdef Journal* j = &self.h.journal()
        enter(&self._busy, b"Journal")
        try:
            with nogil:
                j.sync()
        finally:
            leave(&self._busy)

    def snapshot(self):
        """Writes a snapshot of the machine at last_seq (syncing first);
        returns its seq. Old snapshots and segments go per keep_snapshots."""
        self._check()
        cdef uint64_t seq = 0
        check_idle(self._machine_busy[0], type(self._machine).__name__.encode())
        enter(&self._busy, b"Journal")
        self._machine_busy[0] = True
        try:
            with nogil:
                seq = self.h.snapshot()
        finally:
            self._machine_busy[0] = False
            leave(&self._busy)
        return seq

    def rotate_key(self, key_id):
        """New segments (from now) and snapshots use key `key_id` (0:
        plaintext); it must be among the keys the journal was opened with."""
        self._check()
        cdef uint32_t kid
        to_u32(key_id, "key_id", &kid)
        cdef Journal* j = &self.h.journal()
        enter(&self._busy, b"Journal")
        try:
            with nogil:
                j.rotate_key(kid)
        finally:
            leave(&self._busy)

    def close(self):
        """Writes and syncs what was journaled and releases the directory.
        Idempotent; raises the writer's error if it failed."""
        if self.h == NULL or not self.h.is_open():
            return
        if self._pins:
            raise RuntimeError("Journal is being read by a TailReader (live=) in another thread")
        enter(&self._busy, b"Journal")
        try:
            with nogil:
                self.h.close()
        finally:
            # With the GIL: no thread is reading a watermark meanwhile.
            self.h.release()
            leave(&self._busy)

    # ---- watermarks (any thread, also while a runner journals through it) ---------------------
    @property
    def durable_seq(self):
        self._open_check()
        return self.h.journal().durable_seq()

    @property
    def synced_seq(self):
        self._open_check()
        return self.h.journal().synced_seq()

    @property
    def written_seq(self):
        self._open_check()
        return self.h.journal().written_seq()

    @property
    def next_seq(self):
        self._open_check()
        return self.h.journal().next_seq()

    @property
    def last_seq(self):
        self._open_check()
        return self.h.journal().next_seq() - 1

    def is_durable(self, seq):
        self._open_check()
        cdef uint64_t s
        to_u64(seq, "seq", &s)
        return self.h.journal().is_durable(s)

    @property
    def closed(self):
        return self.h == NULL or not self.h.is_open()

    @property
    def failed(self):
        self._open_check()
        return self.h.journal().failed()

    @property
    def path(self):
        self._open_check()
        return _str(self.h.journal().dir())

    @property
    def journal_id(self):
        self._open_check()
        return self.h.journal().journal_id()

    @property
    def durability(self):
        self._open_check()
        return _str(self.h.journal().options().durability.to_string())

    @property
    def machine(self):
        return self._machine

    @property
    def recovery(self):
        """What opening recovered (dict: created, snapshot_seq, snapshot_file,
        replayed, last_seq, torn_tail, notes)."""
        return dict(self._report)

    def stats(self):
        self._open_check()
        cdef JournalStats s = self.h.journal().stats()
        return {"records": s.records, "frames": s.frames, "groups": s.groups, "syncs": s.syncs,
                "bytes": s.bytes, "segments": s.segments, "max_group_records": s.max_group_records}


# ---- tools over a closed (or another process's) journal -------------------------------------------
cdef class _Tool:
    """A machine adapter and keyring for one tool call; holds the machine."""
    cdef JournalHandle* h
    cdef cbool* busy
    cdef object machine

    def __cinit__(self, machine, keys):
        self.h = NULL
        self.busy = NULL
        cdef cbool* b = NULL
        self.h = new JournalHandle(_bind(machine, &b))
        _add_keys(self.h, keys)
        self.busy = b
        self.machine = machine

    def __dealloc__(self):
        del self.h

    cdef int hold(self) except -1:
        return enter(self.busy, type(self.machine).__name__.encode())

    cdef void release(self) noexcept:
        leave(self.busy)


def verify(path, machine, *, keys=None):
    """Replays the journal at `path` into `machine` (fresh) from the start,
    checking every checksum, the hash chain and every snapshot; read-only.
    Returns a dict (from_seq, last_seq, base_snapshot, records, frames,
    segments, snapshots_checked, torn_tail)."""
    cdef string d = _path(path)
    cdef _Tool t = _Tool(machine, keys)
    cdef VerifyReport r
    t.hold()
    try:
        with nogil:
            r = c_verify(d, t.h.machine(), t.h.keyring())
    finally:
        t.release()
    return _verify(r)


def restore_to(src, dst, machine, *, seq=None, time_ns=None, keys=None, key_id=0):
    """Point-in-time recovery: the state as of `seq` (every command <= seq)
    or `time_ns` into `machine` (fresh), written to the new journal
    directory `dst`. `src` is never written. Returns the recovery dict."""
    cdef string s = _path(src)
    cdef string d = _path(dst)
    cdef PointInTime pit
    pit.seq = <uint64_t>-1
    pit.time_ns = 0x7FFFFFFFFFFFFFFF
    if (seq is None) == (time_ns is None):
        raise ValueError("restore_to needs exactly one of seq= and time_ns=")
    if seq is not None:
        to_u64(seq, "seq", &pit.seq)
    else:
        to_i64(time_ns, "time_ns", &pit.time_ns)
    cdef _Tool t = _Tool(machine, keys)
    cdef JournalOptions opts
    to_u32(key_id, "key_id", &opts.key_id)
    cdef RecoveryReport r
    t.hold()
    try:
        with nogil:
            r = c_restore_to(s, d, pit, t.h.machine(), opts)
    finally:
        t.release()
    return _recovery(r)


def backup(path, root, machine, *, created_unix_s=None, keys=None):
    """A verified backup set of the journal at `path` under `root`; returns a
    dict (path, snapshot_seq, last_seq, files, bytes)."""
    import time

    cdef string s = _path(path)
    cdef string r_ = _path(root)
    cdef int64_t created
    to_i64(int(time.time()) if created_unix_s is None else created_unix_s, "created_unix_s", &created)
    cdef _Tool t = _Tool(machine, keys)
    cdef BackupReport r
    t.hold()
    try:
        with nogil:
            r = c_backup(s, r_, t.h.machine(), created, t.h.keyring())
    finally:
        t.release()
    return {"path": _str(r.path), "snapshot_seq": r.snapshot_seq, "last_seq": r.last_seq, "files": r.files,
            "bytes": r.bytes}


def verify_backup(set_dir, machine, *, keys=None):
    cdef string s = _path(set_dir)
    cdef _Tool t = _Tool(machine, keys)
    cdef VerifyReport r
    t.hold()
    try:
        with nogil:
            r = c_verify_backup(s, t.h.machine(), t.h.keyring())
    finally:
        t.release()
    return _verify(r)


def restore_backup(set_dir, dst, machine, *, keys=None):
    cdef string s = _path(set_dir)
    cdef string d = _path(dst)
    cdef _Tool t = _Tool(machine, keys)
    t.hold()
    try:
        with nogil:
            c_restore_backup(s, d, t.h.machine(), t.h.keyring())
    finally:
        t.release()


def prune_backups(root, *, daily=7, weekly=4, monthly=12):
    cdef string r_ = _path(root)
    cdef BackupRetention p
    to_u32(daily, "daily", &p.daily)
    to_u32(weekly, "weekly", &p.weekly)
    to_u32(monthly, "monthly", &p.monthly)
    cdef vector[string] removed
    with nogil:
        removed = c_prune_backups(r_, p)
    return [_str(removed[i]) for i in range(removed.size())]


def inspect(path):
    """The files of a journal directory and their decoded headers (nothing
    is verified: see verify)."""
    cdef string d = _path(path)
    cdef JournalView v
    with nogil:
        v = c_inspect(d)
    segments = []
    cdef SegmentView s
    cdef SnapshotView p
    for i in range(v.segments.size()):
        s = v.segments[i]
        segments.append({"path": _str(s.path), "first_seq": s.first_seq, "bytes": s.bytes,
                         "header_ok": s.header_ok, "version": s.version, "machine_tag": s.machine_tag,
                         "wire_version": s.wire_version, "record_size": s.record_size, "key_id": s.key_id,
                         "journal_id": s.journal_id})
    snapshots = []
    for i in range(v.snapshots.size()):
        p = v.snapshots[i]
        snapshots.append({"path": _str(p.path), "seq": p.seq, "bytes": p.bytes, "header_ok": p.header_ok,
                          "machine_tag": p.machine_tag, "wire_version": p.wire_version, "key_id": p.key_id,
                          "time_ns": p.time_ns, "state_hash": p.state_hash, "journal_id": p.journal_id})
    return {"segments": segments, "snapshots": snapshots,
            "temporary": [_str(v.temporary[i]) for i in range(v.temporary.size())],
            "other": [_str(v.other[i]) for i in range(v.other.size())]}


cdef extern from "journal_glue.hpp" namespace "shq" nogil:
    JournalView c_inspect "shq::inspect"(const string&) except +translate_exception


cdef class TailReaderBase:
    """Follows a journal from a position; use shanraq_core.TailReader."""
    cdef TailReader* r
    cdef _Tool tool
    cdef JournalBase live
    cdef object dtype
    cdef uint32_t record_size
    cdef cbool _busy

    def __cinit__(self, path, machine, *, from_seq=1, keys=None, JournalBase live=None):
        self.r = NULL
        self._busy = False
        cdef string d = _path(path)
        cdef uint64_t pos
        to_u64(from_seq, "from_seq", &pos)
        if pos == 0:
            raise ValueError("from_seq must be >= 1")
        self.tool = _Tool(machine, keys)
        self.dtype = type(machine).COMMAND_DTYPE
        self.record_size = self.tool.h.machine().record_size()
        cdef const Journal* lj = NULL
        if live is not None:
            live._open_check()
            if live._machine is not machine and type(live._machine) is not type(machine):
                raise TypeError("live must journal the same kind of machine")
            lj = &live.h.journal()
            self.live = live
        cdef Expect e = expect_of(self.tool.h.machine())
        self.r = new_tail(d, pos, e, self.tool.h.keyring(), lj)

    def __dealloc__(self):
        del self.r

    def read(self, max_records=65536):
        """Up to max_records commands from position on (an array of the
        machine's COMMAND_DTYPE; empty when nothing new is durable yet)."""
        cdef uint64_t m
        to_u64(max_records, "max_records", &m, 1 << 24)
        if m == 0:
            raise ValueError("max_records must be >= 1")
        out = np.zeros(m, dtype=self.dtype)
        cdef uint8_t[::1] raw = out.view(np.uint8).reshape(-1)
        cdef size_t got = 0
        if self.live is not None and self.live.closed:
            raise RuntimeError("the live journal this TailReader follows was closed")
        enter(&self._busy, b"TailReader")
        if self.live is not None:
            self.live._pins += 1  # close() refuses while a read runs
        try:
            with nogil:
                got = self.r.read(&raw[0], m)
        finally:
            if self.live is not None:
                self.live._pins -= 1
            leave(&self._busy)
        return out[:got].copy() if got < m else out

    @property
    def position(self):
        """The seq the next read starts at (a new reader there continues
        exactly)."""
        return self.r.position()
