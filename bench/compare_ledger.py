"""One-process figures for the ledger (docs/perf_ledger.md), each a median of
REPEATS runs, with the pure-Python reference ledger as the in-process
baseline:

  python bench/compare_ledger.py [--transfers N] [--repeats R] [--rss]

- batch: create_transfers from numpy in TigerBeetle-sized batches (8190), on
  1M accounts, uniformly random pairs, ~10% of payments two-phase (hold, then
  post); and the same transfers as commands through process() (events out);
- per call: Ledger.transfer(...) in a Python loop, and its latency
  distribution recorded with shanraq_core.LatencyHistogram (P50/P99/P99.9,
  including the timer's own cost);
- baseline: the reference ledger on a smaller slice of the same stream;
- --rss: peak RSS of a process holding 1M accounts and 10M transfers, the
  workload's holds given a timeout (so ~9% are timed holds, in the expiry
  heap while pending);
- --rss-holds: the same with every transfer a pending hold with a timeout
  (the worst case per stored transfer): bytes per stored transfer from the
  RSS growth while the transfers are applied.
- --window: 10M transfers through a ledger with room for 2M and an
  idempotency window of 1M transfers' time: eviction runs by itself, stored
  transfers stay bounded; the rate and the per-batch times are reported,
  without and with an archive drained after every batch;
- --evict-cost: ns per evicted transfer (a full window against one that
  evicts nothing, same process);
- --ab OTHER_LEDGER_SO: per-call transfer() and batch create_transfers()
  (also with user data on every transfer) against another build of the
  ledger extension (e.g. the previous commit's, or main's) loaded side by
  side in this process (runs alternating, CPU time);
- --statement: get_account_transfers pages of an account with 10k, 100k
  and 1M transfers (time and its growth with history);
- --query-user-data: query_transfers by user data over 10M transfers.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from enum import IntEnum
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import numpy.typing as npt
from tests.ledger_reference import ReferenceLedger

from bench import ledger_data as data
from shanraq_core import TRANSFER_DTYPE, LatencyHistogram


def batch_rate(n: int) -> tuple[float, float]:
    """Transfers per second of wall time and of this thread's CPU time (the
    batch runs on the calling thread with the GIL released, so thread time
    counts it all, and not the time other processes on a shared machine take)."""
    stream = data.transfers(n)
    led = data.loaded_ledger(max_transfers=n)
    led.prefault()
    t0, c0 = time.perf_counter(), time.thread_time()
    for i in range(0, n, data.BATCH):
        res = led.create_transfers(stream[i : i + data.BATCH])
    dt, dc = time.perf_counter() - t0, time.thread_time() - c0
    assert data.all_created(res)
    assert led.transfer_count == n
    return n / dt, n / dc


def process_rate(n: int) -> float:
    """The same workload as CREATE_TRANSFER commands through process()
    (events out), per second of this thread's CPU time."""
    cmds = data.transfer_commands(data.transfers(n))
    led = data.loaded_ledger(max_transfers=n)
    led.prefault()
    c0 = time.thread_time()
    for i in range(0, n, data.BATCH):
        ev = led.process(cmds[i : i + data.BATCH])
    dc = time.thread_time() - c0
    assert (ev["result"] == 0xFFFFFFFF).all()
    assert led.transfer_count == n
    return n / dc


def per_call(n: int) -> tuple[float, float, LatencyHistogram, float, float, float]:
    """Per-call transfers, plus two baselines of the same loop in the same
    process: the binding's whole cost without ledger work (id 0: every
    argument converted, rejected by C++ at its first check, no ledger memory
    touched), and the Python loop alone (the same eight tuple reads, no call).
    Rates are per second of this thread's CPU time except the first."""
    stream = data.transfers(n).tolist()
    # One spare slot: the id-0 baseline must pass the capacity check.
    led = data.loaded_ledger(max_transfers=n + 1)
    led.prefault()
    tr = led.transfer
    # Plain loop for throughput, positional fields as a caller would pass them.
    t0, c0 = time.perf_counter(), time.thread_time()
    for t in stream[: n // 2]:
        tr(t[0], t[1], t[2], t[3], t[9], t[10], flags=t[11], pending_id=t[4])
    rate = (n // 2) / (time.perf_counter() - t0)
    cpu_rate = (n // 2) / (time.thread_time() - c0)
    hist = LatencyHistogram()
    clock = time.perf_counter_ns
    for t in stream[n // 2 :]:
        start = clock()
        tr(t[0], t[1], t[2], t[3], t[9], t[10], flags=t[11], pending_id=t[4])
        hist.record(clock() - start)
    base = stream[: n // 4]
    c0 = time.thread_time()
    for t in base:
        tr(0, t[1], t[2], t[3], t[9], t[10], flags=t[11], pending_id=t[4])
    no_work = len(base) / (time.thread_time() - c0)
    c0 = time.thread_time()
    for t in base:
        (t[0], t[1], t[2], t[3], t[9], t[10], t[11], t[4])
    loop_only = len(base) / (time.thread_time() - c0)
    # A near-empty Cython method call (one argument, a few instructions of
    # work) in the same loop: the floor any binding call sits on.
    rec = LatencyHistogram().record
    c0 = time.thread_time()
    for t in base:
        (t[0], t[1], t[2], t[9], t[10], t[11], t[4])
        rec(t[3])
    cython_call = len(base) / (time.thread_time() - c0)
    return rate, cpu_rate, hist, no_work, loop_only, cython_call


def reference_rate(n: int) -> float:
    # Small account set: the reference's cost is per transfer, not per account.
    stream = data.transfers(n, n_accounts=10_000, seed=7).tolist()
    ref = ReferenceLedger()
    for aid in range(1, 10_001):
        ref.create_account(id=aid, ledger=1, code=1)
    names = TRANSFER_DTYPE.names
    assert names is not None
    rows = [dict(zip(names, t, strict=True)) for t in stream]
    t0 = time.perf_counter()
    for i in range(0, n, data.BATCH):
        ref.create_transfers(rows[i : i + data.BATCH])
    return n / (time.perf_counter() - t0)


def window_run(n: int = 10_000_000, room: int = 2_000_000, per_ms: int = 1000, archive: bool = False) -> None:
    """The workload's transfers re-stamped with time-ordered ids (per_ms
    transfers per millisecond of command time) through a ledger that can hold
    only `room` of them at once: eviction runs by itself inside the batches.
    With `archive`, evicted transfers go to an archive drained after every
    batch (as a service would, to its own store)."""
    from shanraq_core import Ledger, make_transfer_id

    window_ms = 1_000_000 // per_ms
    led = Ledger(
        data.N_ACCOUNTS,
        room,
        1,
        idempotency_window_ns=window_ms * 1_000_000,
        max_archived=4 * data.BATCH if archive else 0,
    )
    assert data.all_created(led.create_accounts(data.accounts()))
    led.prefault()
    stream = data.transfers(n).copy()
    ms = 1_000_000 + np.arange(n, dtype=np.uint64) // per_ms
    seq = np.arange(n, dtype=np.uint64) % per_ms
    ids = (ms << np.uint64(22)) | seq
    old_to_new = ids  # transfer k (id k + 1) becomes ids[k]
    stream["id"] = ids
    posts = stream["pending_id"] != 0
    stream["pending_id"][posts] = old_to_new[stream["pending_id"][posts].astype(np.int64) - 1]
    assert make_transfer_id(int(ms[0]), int(seq[0])) == int(ids[0])
    batch_s: list[float] = []
    drained = peak = 0
    t0 = time.thread_time()
    for i in range(0, n, data.BATCH):
        j = min(i + data.BATCH, n)
        c0 = time.thread_time()
        res = led.create_transfers(stream[i:j], now_ns=int(ms[j - 1]) * 1_000_000)
        if archive:
            drained += len(led.drain_evicted())
        batch_s.append(time.thread_time() - c0)
        assert data.all_created(res)
        peak = max(peak, led.transfer_count)
    total = time.thread_time() - t0
    evicted = n - led.transfer_count
    assert not archive or drained == evicted
    per_batch = [b * 1e3 for b in batch_s[len(batch_s) // 10 :]]  # steady state: eviction running
    print(
        f"window{' + archive' if archive else ''}: {n:,} transfers through room for {room:,}; window "
        f"{window_ms} ms = {window_ms * per_ms:,} transfers; evicted by itself {evicted:,}"
        f"{f' (all {drained:,} drained to numpy)' if archive else ''}; peak stored {peak:,}; "
        f"{n / total / 1e6:.2f} M transfers/s CPU overall; per {data.BATCH}-transfer batch (steady state) "
        f"median {statistics.median(per_batch):.2f} ms, max {max(per_batch):.2f} ms; the ledger's memory "
        f"stays at its {led.memory_bytes / 2**20:.0f} MiB"
    )


def evict_cost(n: int = 1_000_000, repeats: int = 3) -> None:
    """The cost of automatic eviction, in one process: n time-ordered
    transfers into a ledger whose window (n transfers' time) is full, so
    every transfer also evicts one, against the same with a window three
    times longer, so nothing is evicted (same ledger size, same ids)."""
    from shanraq_core import Ledger

    stream, ms = _time_ordered(2 * n)

    def run(window_factor: int) -> float:
        led = Ledger(data.N_ACCOUNTS, 2 * n, 1, idempotency_window_ns=n // 1000 * 1_000_000 * window_factor)
        assert data.all_created(led.create_accounts(data.accounts()))
        led.prefault()
        for i in range(0, n, data.BATCH):
            j = min(i + data.BATCH, n)
            led.create_transfers(stream[i:j], now_ns=int(ms[j - 1]) * 1_000_000)
        c0 = time.thread_time()
        for i in range(n, 2 * n, data.BATCH):
            j = min(i + data.BATCH, 2 * n)
            assert data.all_created(led.create_transfers(stream[i:j], now_ns=int(ms[j - 1]) * 1_000_000))
        return time.thread_time() - c0

    evicting = statistics.median(run(1) for _ in range(repeats))
    keeping = statistics.median(run(3) for _ in range(repeats))
    print(
        f"eviction cost: {n:,} transfers into a full window {evicting * 1e3:.0f} ms CPU "
        f"({n / evicting / 1e6:.2f} M/s), with nothing to evict {keeping * 1e3:.0f} ms "
        f"({n / keeping / 1e6:.2f} M/s): {(evicting - keeping) / n * 1e9:.0f} ns per evicted transfer "
        f"(medians of {repeats})"
    )


def _time_ordered(n: int, per_ms: int = 1000) -> tuple[npt.NDArray[np.void], npt.NDArray[np.uint64]]:
    """The workload with time-ordered ids, per_ms transfers per ms of command
    time starting at 1,000,000 ms; returns the records and each one's ms."""
    stream = data.transfers(n).copy()
    ms = 1_000_000 + np.arange(n, dtype=np.uint64) // per_ms
    ids = (ms << np.uint64(22)) | (np.arange(n, dtype=np.uint64) % per_ms)
    posts = stream["pending_id"] != 0
    stream["pending_id"][posts] = ids[stream["pending_id"][posts].astype(np.int64) - 1]
    stream["id"] = ids
    return stream, ms


def _load_other(old_so: str) -> Any:
    """Another build of the ledger extension, loaded beside this one."""
    import importlib.machinery
    import importlib.util

    from shanraq_core import ledger as new

    loader = importlib.machinery.ExtensionFileLoader("ab_other.ledger", old_so)
    spec = importlib.util.spec_from_file_location("ab_other.ledger", old_so, loader=loader)
    assert spec is not None
    other = importlib.util.module_from_spec(spec)
    loader.exec_module(other)
    if hasattr(other, "_register"):
        # Its own enum values (a build before TigerBeetle 0.17's CREATED = 2**32 - 1
        # answers CREATED = 0), as IntEnums built from the tables it exports.
        # Its C++ enum tables are template data, which the dynamic linker
        # unifies across the two extensions (GNU unique symbols): they read as
        # this build's. A build without CREATE_RESULT_DTYPE answers CREATED = 0.
        tables = dict(other.enum_tables())
        created = 0xFFFFFFFF if hasattr(other, "CREATE_RESULT_DTYPE") else 0
        enums = [
            IntEnum(name, {k: (created if v == 0xFFFFFFFF else v) for k, v in tables[name]})  # type: ignore[misc]
            for name in ("CreateAccountResult", "CreateTransferResult", "SetLimitResult")
        ]
        other._register(*enums, new.Account, new.Transfer)
    return other


def _other_ledger(other: Any, n: int) -> Any:
    """A ledger of the other build with the workload's accounts: the build
    before the state machine took (accounts, transfers, history) capacities
    positionally, as this one does."""
    cls = other.Ledger if hasattr(other, "Ledger") else other.LedgerBase
    return cls(data.N_ACCOUNTS, n, 1)


def ab(old_so: str, per_call_n: int = 1_000_000, batch_n: int = 4_000_000, repeats: int = 5) -> None:
    """This build against another build of the ledger extension (e.g. the
    previous commit's: build it in a scratch directory with
    `git archive REV | tar -x -C DIR && pip wheel DIR --no-deps`) loaded side
    by side in this process, runs alternating so both see the same machine
    state: per-call transfer() and batch create_transfers() on the same
    workload, rates per second of this thread's CPU time, medians."""
    from shanraq_core import Ledger

    other = _load_other(old_so)
    calls = data.transfers(per_call_n).tolist()
    stream = data.transfers(batch_n)
    # The other build's TRANSFER_DTYPE may name fields differently (timeout
    # before timeout_ns): the same bytes, viewed through its dtype.
    other_stream = stream.view(other.TRANSFER_DTYPE)

    def per_call(make: Any) -> float:
        led = make(per_call_n + 1)
        assert data.all_created(led.create_accounts(data.accounts()))
        led.prefault()
        tr = led.transfer
        c0 = time.thread_time()
        for t in calls:
            tr(t[0], t[1], t[2], t[3], t[9], t[10], flags=t[11], pending_id=t[4])
        rate = per_call_n / (time.thread_time() - c0)
        assert led.transfer_count == per_call_n
        return rate

    def batch(make: Any, arr: Any) -> float:
        led = make(batch_n)
        assert data.all_created(led.create_accounts(data.accounts()))
        led.prefault()
        c0 = time.thread_time()
        for i in range(0, batch_n, data.BATCH):
            res = led.create_transfers(arr[i : i + data.BATCH])
        rate = batch_n / (time.thread_time() - c0)
        assert data.all_created(res)
        assert led.transfer_count == batch_n
        return rate

    # The same batches with user data on every transfer (random 128- and
    # 64-bit values, a 32-bit one from a small set): this build indexes the
    # first two (docs/ledger.md).
    ud_stream = stream.copy()
    rng = np.random.default_rng(11)
    for name in ("user_data_128_lo", "user_data_128_hi", "user_data_64"):
        ud_stream[name] = rng.integers(1, 2**63, size=batch_n, dtype=np.uint64)
    ud_stream["user_data_32"] = rng.integers(1, 16, size=batch_n, dtype=np.uint32)
    other_ud_stream = ud_stream.view(other.TRANSFER_DTYPE)

    # Batches with eviction running: time-ordered ids into a full window
    # (1M transfers' time), so every transfer also evicts one.
    evict_n = 1_000_000
    timed, ms = _time_ordered(2 * evict_n)
    other_timed = timed.view(other.TRANSFER_DTYPE)

    def evicting(cls: Any, arr: Any) -> float:
        # Positional arguments: (accounts, transfers, history, window ns) in both builds.
        led = cls(data.N_ACCOUNTS, 2 * evict_n, 1, evict_n // 1000 * 1_000_000)
        assert data.all_created(led.create_accounts(data.accounts()))
        led.prefault()
        for i in range(0, evict_n, data.BATCH):
            j = min(i + data.BATCH, evict_n)
            led.create_transfers(arr[i:j], int(ms[j - 1]) * 1_000_000)
        c0 = time.thread_time()
        for i in range(evict_n, 2 * evict_n, data.BATCH):
            j = min(i + data.BATCH, 2 * evict_n)
            assert data.all_created(led.create_transfers(arr[i:j], int(ms[j - 1]) * 1_000_000))
        return evict_n / (time.thread_time() - c0)

    other_cls = other.Ledger if hasattr(other, "Ledger") else other.LedgerBase
    builds = {
        "other": (lambda n: _other_ledger(other, n), other_stream, other_cls, other_timed, other_ud_stream),
        "this": (lambda n: Ledger(data.N_ACCOUNTS, n, 1), stream, Ledger, timed, ud_stream),
    }
    rates: dict[tuple[str, str], list[float]] = {}
    for k in range(repeats):
        order = ["other", "this"] if k % 2 == 0 else ["this", "other"]
        for name in order:
            make, arr, cls, arr_timed, arr_ud = builds[name]
            rates.setdefault((name, "per call"), []).append(per_call(make))
            rates.setdefault((name, "batch"), []).append(batch(make, arr))
            rates.setdefault((name, "batch, user data"), []).append(batch(make, arr_ud))
            rates.setdefault((name, "evicting batch"), []).append(evicting(cls, arr_timed))
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for what in ("per call", "batch", "batch, user data", "evicting batch"):
        a = statistics.median(rates[("other", what)])
        b = statistics.median(rates[("this", what)])
        runs = {n: ", ".join(f"{r / 1e6:.2f}" for r in rates[(n, what)]) for n in ("other", "this")}
        print(
            f"{what} A/B, same process, alternating: other build {a / 1e6:.2f} M/s ({runs['other']}), "
            f"this build {b / 1e6:.2f} M/s ({runs['this']}): {b / a:.3f}x (CPU time)"
        )


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def rss_run(all_holds: bool, n: int = 10_000_000, user_data: bool = False) -> None:
    """1M accounts and n transfers; holds get a timeout they never reach
    (command time advances 1 ns per event), so every hold is in the expiry
    heap until it is posted. RSS growth while applying = the transfers'
    memory, indexes included (the input stream exists before)."""
    from shanraq_core import TransferFlags

    led = data.loaded_ledger(max_transfers=n)
    stream = data.transfers(n)  # modified in place: this process only measures RSS
    if all_holds:
        stream["flags"] = TransferFlags.PENDING
        stream["pending_id"] = 0
        posts = stream["debit_account_id"] == 0  # the workload's posts become holds too
        rng = np.random.default_rng(1)
        stream["debit_account_id"][posts] = rng.integers(1, data.N_ACCOUNTS // 2, size=int(posts.sum()))
        stream["credit_account_id"][posts] = stream["debit_account_id"][posts] + data.N_ACCOUNTS // 2
        stream["amount"][posts] = 1
        stream["ledger"][posts] = 1
        stream["code"][posts] = 1
    holds = (stream["flags"] & TransferFlags.PENDING) != 0
    stream["timeout_ns"][holds] = 10**15
    if user_data:
        rng = np.random.default_rng(3)
        for name in ("user_data_128_lo", "user_data_64"):
            stream[name] = rng.integers(1, 2**63, size=n, dtype=np.uint64)
    base = _rss_kib()
    for i in range(0, n, data.BATCH):
        res = led.create_transfers(stream[i : i + data.BATCH])
        assert data.all_created(res)
    grown = _rss_kib() - base
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kind = ("all timed holds" if all_holds else "workload, holds timed") + (
        ", user data" if user_data else ""
    )
    print(
        f"{kind}: {led.transfer_count:,} transfers stored "
        f"({int(holds.sum()):,} timed holds); RSS grew {grown / 1024:.0f} MiB while applying them = "
        f"{grown * 1024 / n:.1f} B per stored transfer (record, id map, expiry heap, query indexes); "
        f"peak RSS {peak / 1024:.0f} MiB (the numpy input stream is ~{stream.nbytes / 2**20:.0f} MiB of it)"
    )


def statement(histories: tuple[int, ...] = (10_000, 100_000, 1_000_000), repeats: int = 21) -> None:
    """An account statement: one account takes part in h transfers (every
    fourth transfer of the stream, among 1M accounts), and
    get_account_transfers returns the first page (8,190, oldest first), the
    newest page (REVERSED) and a page from the middle (timestamp_min); median
    wall time of `repeats` calls each, for each history length h, so the
    growth with history shows (the account's transfers are spread over the
    whole store, so every result is a cache miss)."""
    from shanraq_core import AccountFilterFlags

    for h in histories:
        n = 4 * h
        led = data.loaded_ledger(max_transfers=n)
        stream = data.transfers(n).copy()
        plain = stream["flags"] == 0
        mine = np.zeros(n, dtype=bool)
        mine[::4] = True
        mine &= plain
        stream["debit_account_id"][mine] = data.N_ACCOUNTS  # the statement's account
        stream["credit_account_id"][mine & (stream["credit_account_id"] == data.N_ACCOUNTS)] = 1
        for i in range(0, n, data.BATCH):
            assert data.all_created(led.create_transfers(stream[i : i + data.BATCH]))
        acct = data.N_ACCOUNTS
        count = int((stream["debit_account_id"] == acct).sum() + (stream["credit_account_id"] == acct).sum())
        first_end = int(led.get_account_transfers(acct)["timestamp"][-1])
        both = AccountFilterFlags.DEBITS | AccountFilterFlags.CREDITS
        cases: dict[str, dict[str, int]] = {
            "first page": {},
            "newest page (REVERSED)": {"flags": both | AccountFilterFlags.REVERSED},
            "second page": {"timestamp_min": first_end + 1},
        }
        out = []
        for what, kw in cases.items():
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                got = led.get_account_transfers(acct, **kw)
                times.append(time.perf_counter() - t0)
            assert len(got) == min(8190, count if what != "second page" else count - 8190)
            out.append(f"{what} {statistics.median(times) * 1e3:.2f} ms")
        print(
            f"statement, account with {count:,} transfers in a store of {n:,}: "
            + ", ".join(out)
            + f" (median of {repeats}, 8,190 transfers a page)"
        )
        del led


def query_user_data(n: int = 10_000_000, lookups: int = 2000) -> None:
    """query_transfers by user data over n stored transfers: user_data_128 a
    correlation id shared by 4 transfers, user_data_64 by 16, user_data_32 one
    of 1,000 values (not indexed: the query reads the time range); median
    wall time per query over `lookups` random values (32-bit: 5)."""
    led = data.loaded_ledger(max_transfers=n)
    stream = data.transfers(n).copy()
    rng = np.random.default_rng(5)
    k = np.arange(n, dtype=np.uint64)
    perm = rng.permutation(n).astype(np.uint64)
    stream["user_data_128_lo"] = 1 + perm // 4
    stream["user_data_128_hi"] = 7
    stream["user_data_64"] = 1 + (perm // 16)
    stream["user_data_32"] = 1 + (k % 1000).astype(np.uint32)
    c0 = time.thread_time()
    for i in range(0, n, data.BATCH):
        assert data.all_created(led.create_transfers(stream[i : i + data.BATCH]))
    load = time.thread_time() - c0
    rows: list[str] = []
    for field, values, want in (
        ("user_data_128", [(7 << 64) | int(v) for v in rng.integers(1, n // 4 + 1, size=lookups)], 4),
        ("user_data_64", [int(v) for v in rng.integers(1, n // 16 + 1, size=lookups)], 16),
        ("user_data_32", [int(v) for v in rng.integers(1, 1001, size=5)], min(8190, n // 1000)),
    ):
        for order, flags in (("oldest first", 0), ("newest first", 1)):
            times = []
            for v in values:
                t0 = time.perf_counter()
                got = led.query_transfers(**{field: v, "flags": flags})
                times.append(time.perf_counter() - t0)
                assert len(got) == want, (field, v, len(got))
            rows.append(f"{field} ({want} per value, {order}) {statistics.median(times) * 1e6:.1f} us")
    print(
        f"query_transfers over {n:,} transfers (loaded at {n / load / 1e6:.2f} M/s CPU, user data and "
        f"indexes on): " + "; ".join(rows) + " (medians)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--transfers", type=int, default=4_000_000)
    ap.add_argument("--per-call", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rss", action="store_true")
    ap.add_argument("--rss-holds", action="store_true")
    ap.add_argument("--rss-user-data", action="store_true")
    ap.add_argument("--window", action="store_true")
    ap.add_argument("--evict-cost", action="store_true")
    ap.add_argument("--ab", metavar="OTHER_LEDGER_SO", help="per-call A/B against another build's extension")
    ap.add_argument("--statement", action="store_true")
    ap.add_argument("--query-user-data", action="store_true")
    args = ap.parse_args()
    if args.statement:
        statement()
        return
    if args.query_user_data:
        query_user_data()
        return
    if args.ab:
        ab(args.ab, per_call_n=args.per_call, batch_n=args.transfers, repeats=args.repeats)
        return
    if args.evict_cost:
        evict_cost()
        return
    if args.window:
        window_run()
        window_run(archive=True)
        return
    if args.rss or args.rss_holds or args.rss_user_data:
        rss_run(all_holds=args.rss_holds, user_data=args.rss_user_data)
        return
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    runs = [batch_rate(args.transfers) for _ in range(args.repeats)]
    rates = [r[0] for r in runs]
    cpu_rates = [r[1] for r in runs]
    print(
        f"batch create_transfers: median {statistics.median(cpu_rates) / 1e6:.2f} M transfers/s of CPU "
        f"time (runs: {', '.join(f'{r / 1e6:.2f}' for r in cpu_rates)}); "
        f"wall: median {statistics.median(rates) / 1e6:.2f} M/s "
        f"(runs: {', '.join(f'{r / 1e6:.2f}' for r in rates)})"
    )
    commands = [process_rate(args.transfers) for _ in range(args.repeats)]
    print(
        f"batch process(commands), events out: median {statistics.median(commands) / 1e6:.2f} M/s of "
        f"CPU time (runs: {', '.join(f'{r / 1e6:.2f}' for r in commands)}); "
        f"{statistics.median(commands) / statistics.median(cpu_rates):.2f}x create_transfers"
    )
    calls = [per_call(args.per_call) for _ in range(args.repeats)]
    best = statistics.median(c[0] for c in calls)
    best_cpu = statistics.median(c[1] for c in calls)
    no_work = statistics.median(c[3] for c in calls)
    loop_only = statistics.median(c[4] for c in calls)
    cython_call = statistics.median(c[5] for c in calls)
    hist = calls[len(calls) // 2][2]
    p50, p99, p999 = (hist.value_at_percentile(p) for p in (50.0, 99.0, 99.9))
    ns = 1e9 / best_cpu
    print(
        f"per-call transfer: median {best_cpu / 1e6:.2f} M calls/s of CPU time "
        f"(runs: {', '.join(f'{c[1] / 1e6:.2f}' for c in calls)}), {best / 1e6:.2f} M/s wall; "
        f"latency (timed loop, wall) P50 {p50} ns, P99 {p99} ns, P99.9 {p999} ns"
    )
    print(
        f"  same loop, same process: {ns:.0f} ns per transfer = loop alone {1e9 / loop_only:.0f} ns "
        f"+ binding without ledger work (id 0) {1e9 / no_work - 1e9 / loop_only:.0f} ns "
        f"+ ledger work {ns - 1e9 / no_work:.0f} ns; transfer / id-0 call = {no_work / best_cpu:.2f}x; "
        f"transfer / loop with an empty Cython call (LatencyHistogram.record, {1e9 / cython_call:.0f} ns) "
        f"= {cython_call / best_cpu:.2f}x"
    )
    ref = statistics.median(reference_rate(20_000) for _ in range(3))
    print(
        f"reference ledger (pure Python): {ref / 1e3:.1f} k transfers/s (wall); "
        f"batch speed-up {statistics.median(rates) / ref:.0f}x (wall to wall)"
    )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
