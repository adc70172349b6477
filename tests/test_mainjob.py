"""The main job, ``python -m shanraq_core bench``: a quick run's JSON fields
and sane values (never its speed), usage errors, the correctness proof's
teeth, the workload's determinism and the open-loop accounting."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import shanraq_core
from shanraq_core.harness import cli, stages
from shanraq_core.harness.components import detect
from shanraq_core.harness.market import MarketSpec, generate

STAGE_KEYS = [
    "exchange_batch",
    "exchange_per_call",
    "exchange_ring",
    "exchange_durable_ack",
    "engine_batch",
    "engine_per_call",
    "engine_ring",
    "durable_ack",
    "ledger_batch",
    "ledger_per_call",
    "ledger_ring",
]
PCTS = ["p50", "p90", "p95", "p99", "p99_9", "p99_99", "max"]


def _bench(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # From outside the source tree, so the installed package runs.
    return subprocess.run(
        [sys.executable, "-m", "shanraq_core", "bench", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def quick(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, Any], Path, subprocess.CompletedProcess[str]]:
    tmp = tmp_path_factory.mktemp("bench")
    png = tmp / "latency.png"
    proc = _bench("--quick", "--json", "--no-progress", "--seed", "7", "--plot", str(png), cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), png, proc


def test_quick_run_reports_every_stage_with_sane_values(quick: Any) -> None:
    doc, _png, _proc = quick
    assert doc["ok"] is True
    assert doc["version"] == shanraq_core.__version__
    assert doc["config"]["quick"] is True
    assert doc["config"]["seed"] == 7
    assert [s["key"] for s in doc["stages"]] == STAGE_KEYS
    n = doc["workload"]["commands"]
    assert n == int(doc["config"]["rate"] * doc["config"]["duration"])
    assert doc["workload"]["exchange_commands"] == n
    users, symbols = doc["config"]["users"], doc["config"]["symbols"]
    # Assets (quote + one base per symbol), symbols, users, a deposit per user and asset.
    assets = symbols + 1
    assert doc["workload"]["exchange_setup_commands"] == assets + symbols + users + users * assets
    assert sum(v for k, v in doc["workload"]["counts"].items() if k != "cancel_fallback") == n
    for s in doc["stages"]:
        if s["key"].endswith("durable_ack") and not detect().runner_journal:
            assert s["available"] is False
            assert "not available in this build" in s["note"]
            continue
        assert s["available"] is True, s
        assert s["commands"] == s["completed"] > 0
        assert s["offered_rate"] == doc["config"]["rate"]
        assert s["elapsed_s"] > 0
        assert s["throughput_tps"] > 0
        lat = s["latency_ns"]
        values = [lat[p] for p in PCTS]
        assert all(v > 0 for v in values)
        assert values == sorted(values), lat
        assert lat["mean"] <= lat["max"]
        assert set(s["verdicts"]) == {"p50", "p95", "p99", "tps"}
        assert s["verdicts"]["p50"] == (lat["p50"] < cli.TARGETS["p50_ns"])
        assert s["verdicts"]["p99"] == (lat["p99"] < cli.TARGETS["p99_ns"])
        assert len(s["state_hash"]) == 16
        # The histogram is a standard HdrHistogram V2 encoding of every command.
        assert shanraq_core.LatencyHistogram.decode(s["hdr_histogram"]).total_count == s["commands"]
        # Closed-loop capacity: every stage, the ring stages through a second
        # runner process.
        assert s["capacity_tps"] > 0
    hashes = {s["component"]: s["state_hash"] for s in doc["stages"] if s["available"]}
    for s in doc["stages"]:
        if s["available"]:
            assert s["state_hash"] == hashes[s["component"]]


def test_quick_run_proves_and_recovers(quick: Any) -> None:
    doc, _png, _proc = quick
    proof = doc["proof"]
    assert proof["ok"] is True
    names = [c["name"] for c in proof["checks"]]
    assert all(c["ok"] for c in proof["checks"])
    for comp in ("exchange", "engine", "ledger"):
        assert f"{comp}: replay" in names
        assert f"{comp}/{comp}_batch: snapshot/restore" in names
        assert f"{comp}/{comp}_per_call: snapshot/restore" in names
        assert f"{comp}/{comp}_ring: replay of the recorded (stamped) commands" in names
        assert f"{comp}: recovery from disk" in names
    assert "exchange: balance invariants after the run" in names
    if detect().runner_journal:
        # The durable stages' records are read back from their journals.
        assert "exchange/exchange_durable_ack: replay of the recorded (stamped) commands" in names
        assert "engine/durable_ack: replay of the recorded (stamped) commands" in names
    assert [r["component"] for r in doc["recovery"]] == ["exchange", "engine", "ledger"]
    n = doc["workload"]["commands"]
    for r in doc["recovery"]:
        assert r["matches_run"] is True
        assert r["rto_s"] > 0
        assert r["snapshot_bytes"] > 0
        assert r["replayed_commands"] == n - n // 2 or r["component"] == "ledger"
    assert doc["targets_total"] == sum(
        1 for s in doc["stages"] if s["available"] for v in s["verdicts"].values() if v is not None
    ) + len(doc["recovery"])


def test_quick_run_writes_the_plot(quick: Any) -> None:
    _doc, png, _proc = quick
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_table_output_names_targets_and_proof(tmp_path: Path) -> None:
    proc = _bench("--quick", "--no-progress", "--stages", "engine_batch,durable_ack", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "engine: in the engine (batch)" in out
    assert "P50 < 0.1 ms, P95 < 0.5 ms, P99 < 1 ms" in out
    assert "RTO < 60 s" in out
    assert "all correctness checks passed" in out
    if not detect().runner_journal:
        assert "to durable ack (journal)" in out
        assert "not available in this build" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        (["--rate", "-5"], "rate must be in (0, 50m]"),
        (["--rate", "fast"], "not a rate"),
        (["--duration", "0"], "must be in (0, 3600]"),
        (["--seed", "x"], "not an integer"),
        (["--stages", "engine_batch,warp"], "unknown stage(s)"),
        (["--sweep", "10k,zero"], "--sweep: not a rate"),
    ],
)
def test_bad_flag_is_a_usage_error(tmp_path: Path, args: list[str], message: str) -> None:
    proc = _bench(*args, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("usage:")
    assert message in proc.stderr
    assert proc.stdout == ""


def test_unknown_command_is_a_usage_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "shanraq_core", "benchmark"], capture_output=True, text=True, cwd=tmp_path,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "usage: python -m shanraq_core {bench,journal,cluster,service,demo}" in proc.stderr
    assert "unknown command 'benchmark'" in proc.stderr


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "shanraq-bench"
    proc = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: shanraq-bench")
    assert "--sweep" in proc.stdout


def test_a_stage_that_loses_a_command_fails_the_run(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    """The proof has teeth: a per-call path that silently drops one command
    ends in a state the replay does not reach, and the run exits 1."""
    real = stages.PerCallBookStage.calls

    def lossy(self: Any, machine: Any, cmds: Any) -> Any:
        apply = real(self, machine, cmds)
        return lambda i: None if i == len(cmds) // 2 else apply(i)

    monkeypatch.setattr(stages.PerCallBookStage, "calls", lossy)
    rc = cli.main(["--quick", "--json", "--no-progress", "--stages", "engine_batch,engine_per_call"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 1
    assert doc["ok"] is False
    failed = [c["name"] for c in doc["proof"]["checks"] if not c["ok"]]
    assert failed == ["engine/engine_per_call: state = replay"]


def test_a_stage_that_raises_is_reported_and_fails_the_run(
    monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    def broken(self: Any, stream: Any, progress: Any, workdir: Any) -> Any:
        raise RuntimeError("the runner process died")

    monkeypatch.setattr(stages.RingStage, "run", broken)
    rc = cli.main(["--quick", "--json", "--no-progress", "--stages", "engine_batch,engine_ring"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 1
    ring = next(s for s in doc["stages"] if s["key"] == "engine_ring")
    assert ring["note"] == "error: RuntimeError: the runner process died"
    assert ring["latency_ns"] is None
    failed = [c["name"] for c in doc["proof"]["checks"] if not c["ok"]]
    assert failed == ["engine/engine_ring: state"]


def test_a_snapshot_that_restores_differently_fails_the_proof() -> None:
    cfg = cli.Config(0.05, 20_000.0, 3, 20, 5, ["engine_batch"], None, 0.1, True)
    streams = cli.build_streams(cfg, cfg.rate, 1_000)
    res = stages.BatchStage("engine_batch", "t", "engine", ()).run(streams.engine, lambda _n: None, Path("."))
    good = cli.prove(streams, [res], [])
    assert all(c.ok for c in good)
    other = streams.engine.machine.new(streams.engine.setup)  # the state before any order
    res.snapshot = other.snapshot()
    bad = {c.name: c.ok for c in cli.prove(streams, [res], [])}
    assert bad == {
        "engine: replay": True,
        "engine/engine_batch: state = replay": True,
        "engine/engine_batch: snapshot/restore": False,
    }


def test_workload_is_deterministic_and_has_the_mix() -> None:
    spec = MarketSpec(users=50, symbols=30)
    a = generate(spec, 20_000, 50_000, seed=5)
    b = generate(spec, 20_000, 50_000, seed=5)
    c = generate(spec, 20_000, 50_000, seed=6)
    assert a.commands.tobytes() == b.commands.tobytes()
    assert a.commands.tobytes() != c.commands.tobytes()
    cmds = a.commands
    kinds = set(np.unique(cmds["kind"]).tolist())
    assert kinds == {int(shanraq_core.CommandKind.SUBMIT), int(shanraq_core.CommandKind.CANCEL),
                     int(shanraq_core.CommandKind.AMEND)}  # fmt: skip
    sub = cmds[cmds["kind"] == shanraq_core.CommandKind.SUBMIT]
    assert set(np.unique(sub["order_type"]).tolist()) == {1, 2, 3}  # limit, market, stop
    assert set(np.unique(sub["tif"]).tolist()) == {1, 2, 3}  # GTC, IOC, FOK
    assert (sub["display_qty"] > 0).any()  # icebergs
    assert sub["account"].min() >= 1
    assert sub["account"].max() <= 50
    # Zipf: symbol 1 is the busiest, and much busier than the median symbol.
    per_symbol = np.bincount(sub["symbol"], minlength=31)[1:]
    assert per_symbol.argmax() == 0
    assert per_symbol[0] > 5 * np.median(per_symbol)
    # Open loop: evenly spaced at the offered rate, and the engine's clock follows.
    assert a.sched_ns[1] - a.sched_ns[0] == 20_000
    assert (np.diff(a.sched_ns) >= 0).all()
    assert (cmds["time_ns"] - a.sched_ns == cmds["time_ns"][0]).all()
    # Ids are fresh and increasing.
    assert (np.diff(sub["order_id"].astype(np.int64)) > 0).all()


class _StallingMachine:
    """A machine whose first batch stalls ``stall_s``: everything scheduled
    during the stall waits for it."""

    EVENT_DTYPE = np.dtype([("seq", "<u8")])

    def __init__(self, stall_s: float) -> None:
        self.stall_s = stall_s

    def new(self, setup: Any) -> Any:
        state = SimpleNamespace(first=True)

        def process(cmds: Any) -> Any:
            if state.first:
                state.first = False
                time.sleep(self.stall_s)
            return np.zeros(len(cmds), dtype=self.EVENT_DTYPE)

        return SimpleNamespace(process=process, state_hash=lambda: 1, snapshot=lambda: b"")


def test_latency_is_charged_from_the_scheduled_time() -> None:
    """Coordinated omission: the 99 commands scheduled in the 10 ms behind a
    50 ms stall each wait at least 40 ms, and the histogram says so (a
    harness timing from the moment it sent each command would see ~0)."""
    n, rate, stall = 100, 10_000.0, 0.05
    sched = np.floor(np.arange(n) * (1e9 / rate)).astype(np.int64)
    cmds = np.zeros(n, dtype=[("x", "<u8")])
    stream = stages.Stream(_StallingMachine(stall), cmds[:0], cmds, sched, rate)
    res = stages.BatchStage("t", "t", "engine", ()).run(stream, lambda _n: None, Path("."))
    assert res.completed == n
    assert res.hist is not None
    assert res.hist.total_count == n
    assert res.hist.min >= 40_000_000
    assert res.hist.percentiles([50])[0] >= 40_000_000


def test_components_are_feature_detected() -> None:
    class RunnerWithJournal:
        def __init__(self, machine: Any, commands: Any, events: Any, *, journal: Any = None) -> None:
            pass

    class Exchange:
        def process(self, commands: Any) -> Any:
            return commands

    class BareRunner:
        def __init__(self, machine: Any, commands: Any, events: Any, *, batch: int = 256) -> None:
            pass

    bare = SimpleNamespace(MatchingEngine=object, Ledger=object, Runner=BareRunner)
    c = detect(bare)
    assert (c.engine, c.ledger, c.runner, c.exchange, c.journal, c.runner_journal) == (
        True, True, True, False, False, False,
    )  # fmt: skip
    full = SimpleNamespace(MatchingEngine=object, Ledger=object, Runner=RunnerWithJournal, Exchange=Exchange,
                           Journal=object)  # fmt: skip
    c = detect(full)
    assert (c.exchange, c.journal, c.runner_journal) == (True, True, True)
    missing = stages.DurableStage().missing(detect(bare).as_dict())
    assert missing == ["journal", "runner_journal"]


def test_reported_percentiles_never_pass_the_exact_maximum() -> None:
    """A percentile is its bucket's highest equivalent value, which can lie
    above the exact maximum (seen in a run: p99.99 104,529,919 ns, max
    104,514,565 ns); the report caps it there so its columns stay ordered."""
    h = shanraq_core.LatencyHistogram()
    h.record(104_514_565)
    assert h.percentiles([99.99])[0] > h.max  # the histogram's own answer
    lat = cli._latency(h)
    assert lat is not None
    assert lat["p50"] == lat["p99_99"] == lat["max"] == 104_514_565


def test_durable_stage_acknowledges_through_the_journal(tmp_path: Path) -> None:
    """The durable stage's runner process journals every batch before it
    publishes its events; the commands read back from that journal are the
    run's record, and replaying them reaches the stage's final state."""
    cfg = cli.Config(0.05, 20_000.0, 3, 20, 5, ["durable_ack"], None, 0.1, True)
    streams = cli.build_streams(cfg, cfg.rate, 500)
    res = stages.DurableStage().run(streams.engine, lambda _n: None, tmp_path)
    assert res.available, res.note
    assert res.completed == res.commands == 500
    assert res.recorded is not None
    assert len(res.recorded) == 500
    replay = streams.engine.machine.new(streams.engine.setup)
    replay.process(res.recorded)
    assert replay.state_hash() == res.state_hash
    report = shanraq_core.journal.verify(tmp_path / "durable_ack_journal", shanraq_core.MatchingEngine())
    assert report["records"] == 500  # and the chain and checksums held, or verify raised


def test_exchange_market_is_commands_with_deposits_and_owners() -> None:
    """The exchange's market: its setup is commands (assets, symbols, users,
    deposits) that leave every user holding the deposit of every asset; the
    timed stream places each order as its account's user, and every cancel
    and amend comes from the user who placed the order."""
    from shanraq_core.harness.exchange_flow import DEPOSIT

    cfg = cli.Config(0.05, 20_000.0, 5, 30, 6, ["exchange_batch"], None, 0.1, True)
    streams = cli.build_streams(cfg, cfg.rate, 3_000)
    x = streams.exchange.machine.new(streams.exchange.setup)
    for user in (1, 30):
        for asset in range(1, 8):
            assert x.balance(user, asset).available == DEPOSIT
    cmds, book = streams.exchange.commands, streams.engine.commands
    place = cmds["kind"] == int(shanraq_core.ExchangeCommandKind.PLACE)
    assert (place == (book["kind"] == int(shanraq_core.CommandKind.SUBMIT))).all()
    assert (cmds["user"][place] == book["account"][place]).all()
    owner = dict(zip(cmds["order_id"][place].tolist(), cmds["user"][place].tolist(), strict=True))
    for u, oid in zip(cmds["user"][~place].tolist(), cmds["order_id"][~place].tolist(), strict=True):
        assert u == owner.get(oid, 0)
    events = x.process(cmds)
    rejected = events[events["type"] == int(shanraq_core.ExchangeEventType.REJECTED)]
    reasons = set(rejected["reason"].tolist())
    # The deposits cover every order: rejects are the market's late cancels
    # and amends (as the engine's), never a balance or ownership check.
    assert reasons <= {
        int(shanraq_core.ExchangeRejectReason.UNKNOWN_ORDER),
        int(shanraq_core.ExchangeRejectReason.AMEND_BELOW_FILLED),
    }
    assert (events["type"] == int(shanraq_core.ExchangeEventType.TRADE)).any()
    assert x.check_invariants()
    assert any(x.order_hold(o) is not None for o in owner)


def test_exchange_durable_stage_acknowledges_through_its_journal(tmp_path: Path) -> None:
    """The exchange's durable stage: its runner process journals every batch
    before publishing; the journal's commands replay to the stage's state,
    and a recovery of that journal (Exchange.open) reaches it too."""
    cfg = cli.Config(0.05, 20_000.0, 3, 20, 5, ["exchange_durable_ack"], None, 0.1, True)
    streams = cli.build_streams(cfg, cfg.rate, 500)
    stage = stages.DurableStage("exchange_durable_ack", "exchange", ("exchange",))
    res = stage.run(streams.exchange, lambda _n: None, tmp_path)
    assert res.available, res.note
    assert res.completed == res.commands == 500
    assert res.recorded is not None
    assert len(res.recorded) == 500
    replay = streams.exchange.machine.new(streams.exchange.setup)
    replay.process(res.recorded)
    assert replay.state_hash() == res.state_hash
    assert res.extra["capacity_tps"] > 0
    m = streams.exchange.machine
    j = shanraq_core.Exchange.open(
        tmp_path / "exchange_durable_ack_journal", create=False, max_users=m.users, max_assets=m.symbols + 1,
        max_symbols=m.symbols, max_accounts=(m.users + 3) * (m.symbols + 1),
        max_transfers=len(streams.exchange.setup),
    )  # fmt: skip
    try:
        assert j.machine.state_hash() == res.state_hash
    finally:
        j.close()


def test_a_lost_exchange_command_fails_the_proof(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    """The exchange's proof has teeth: a per-call path that drops one place
    ends in a state its replay does not reach, and the run exits 1."""
    real = stages.PerCallExchangeStage.calls

    def lossy(self: Any, machine: Any, cmds: Any) -> Any:
        apply = real(self, machine, cmds)
        return lambda i: None if i == 1 else apply(i)

    monkeypatch.setattr(stages.PerCallExchangeStage, "calls", lossy)
    rc = cli.main(["--quick", "--json", "--no-progress", "--stages", "exchange_batch,exchange_per_call"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 1
    failed = [c["name"] for c in doc["proof"]["checks"] if not c["ok"]]
    assert failed == ["exchange/exchange_per_call: state = replay"]
