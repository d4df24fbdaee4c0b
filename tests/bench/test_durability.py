"""The durability step at tiny sizes: every figure with its verdict, and each way a measurement can fail."""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
from simutrador_bench import durability, durable_remote, runner, wire
from simutrador_bench.remote_simulation import Contender, LeanClient, ProtocolError
from simutrador_bench.serverproc import bench_engine_settings, raise_open_files_limit

from simutrador import Engine, SqliteStore
from simutrador.storage import JournalEntry

pytestmark = pytest.mark.anyio

TINY_SIZES = durability.Sizes(
    ticks=40,
    rounds=2,
    create_rounds=2,
    create_clients=(1, 100),
    create_warmup=0.05,
    create_window=0.2,
    appends=30,
    recovery_symbols=1,
    recovery_days=1,
    replay_rounds=1,
    sessions=20,
    time_limit=60,
)
TINY = attrs.evolve(runner.QUICK, name="tiny", durable=TINY_SIZES)

LOCKSTEP = {f"durable.{w}.{s}" for w in ("nothing", "trading") for s in ("memory", "sqlite", "vs_memory")}
COMMITS = {f"durable.commit.{s}.{n}" for s in ("normal", "full") for n in (1, 10, 100)}
RECOVERY = {"durable.recover", "durable.recover.data", "durable.recover.replay"}
CREATE = {f"durable.create.{s}.{n}" for s in ("memory", "sqlite", "vs_memory") for n in (1, 100)}
SIZE = {"durable.store.largest", "durable.store.empty", "durable.store.closed"}


def test_the_step_reports_every_figure_with_its_verdict() -> None:
    raise_open_files_limit()
    lines: list[str] = []
    report = runner.run(TINY, only=["durability"], progress=lines.append)
    results = report.by_key()
    assert set(results) == LOCKSTEP | COMMITS | RECOVERY | CREATE | SIZE
    for result in report.results:
        assert result.errors == 0, (result.key, result.note, result.extra)
    judged = {"durable.nothing.vs_memory", "durable.trading.vs_memory", "durable.recover"}
    assert {key for key, result in results.items() if result.verdict} == judged
    assert results["durable.trading.vs_memory"].spec.limit == 90
    assert results["durable.recover"].spec.limit == 5
    for workload in ("nothing", "trading"):
        for store in ("memory", "sqlite"):
            rate = results[f"durable.{workload}.{store}"]
            assert rate.value > 0
            assert rate.extra["ticks"] == 40
            assert len(rate.extra["rates_per_round"]) == 2
        versus = results[f"durable.{workload}.vs_memory"]
        assert len(versus.extra["percent_per_round"]) == 2
        assert versus.value > 0
        assert versus.extra["overhead_pct"] == pytest.approx(100 - versus.value)
    assert results["durable.trading.sqlite"].extra["batches"] == 40 // durable_remote.TRADE_EVERY
    for key in COMMITS:
        commit = results[key]
        assert commit.extra["appends"] == 30
        assert commit.p99 is not None
        assert commit.p99 >= commit.value > 0
    assert results["durable.commit.normal.1"].extra["groups"] == 30  # one at a time: a group each
    assert results["durable.commit.full.10"].extra["groups"] <= 30
    recover = results["durable.recover"]
    assert recover.extra["symbols"] == ["ADA-USD"]
    assert recover.extra["bars"] == recover.extra["ticks"] == 1440
    assert recover.extra["until_tick"] == 1296
    assert recover.extra["journal_entries"] > 1296 // durability.ORDER_EVERY  # the start, orders and a cancel
    assert recover.value >= recover.extra["restore_s"] > 0
    assert recover.note == "1,440 bars (the target is for 1,000,000)"
    assert results["durable.recover.replay"].value > 0
    assert results["durable.recover.data"].value >= 0
    assert results["durable.create.sqlite.1"].p99 is not None
    assert results["durable.create.vs_memory.1"].value > 0
    assert results["durable.create.memory.100"].value > 0  # a rate
    assert 1 <= len(results["durable.create.vs_memory.100"].extra["percent_per_round"]) <= 2  # a turn may see none
    assert results["durable.store.largest"].extra["sessions"] == 20
    assert results["durable.store.closed"].value > 0
    for key in SIZE:
        assert results[key].note == "20 sessions (the figure is for 100,000)"
    assert any("lockstep" in line for line in lines)


def test_the_profiles_size_the_step() -> None:
    assert runner.QUICK.durable is durability.QUICK
    assert runner.FULL.durable is durability.FULL
    assert durability.FULL.sessions == 100_000
    assert durability.FULL.recovery_symbols * 1440 * durability.FULL.recovery_days > 1_000_000
    assert [step.name for step in runner.select_steps(["durability"])] == ["durability"]


def test_recovery_fields_pick_minute_symbols_trading_every_minute_first() -> None:
    fields = durability.recovery_fields(8, 92)
    assert fields["symbols"][:7] == ["ADA-USD", "BTC-USD", "DOGE-USD", "ETH-USD", "LTC-USD", "SOL-USD", "XRP-USD"]
    assert fields["symbols"][7] == "AUD/USD"
    assert (fields["start_date"], fields["end_date"]) == ("2025-10-01T00:00:00Z", "2025-12-31T23:59:00Z")


def test_a_restored_account_that_differs_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = durability.interrupted_run

    def wrong(path: Path, fields: dict[str, Any]) -> durability.Interrupted:
        return attrs.evolve(real(path, fields), account=(Decimal(0), Decimal(0), 0))

    monkeypatch.setattr(durability, "interrupted_run", wrong)
    results = {r.key: r for r in durability._recovery_results(TINY_SIZES, tmp_path, print)}
    assert results["durable.recover"].errors == results["durable.recover.replay"].errors == 1
    assert results["durable.recover"].verdict == "short"
    assert "the restored account differs" in results["durable.recover"].note


def test_an_interrupted_run_comes_back_paused_with_its_journal(tmp_path: Path) -> None:
    fields = durability.recovery_fields(1, 1)
    run = durability.interrupted_run(tmp_path / "run.db", fields, fraction=0.5)
    assert run.until == 720
    with SqliteStore(tmp_path / "run.db") as store:
        engine = Engine(bench_engine_settings(), store=store)
        assert engine.get_session(durability.RECOVERY_USER, run.session_id).state.value == "paused"
        entries = engine.journal_of(run.session_id)
        assert entries[0].kind == "start"
        kinds = {entry.kind for entry in entries}
        assert kinds == {"start", "batch", "cancel"}
        commands = [e for e in entries if e.kind != "start"]
        handle = engine.restore_simulation(durability.RECOVERY_USER, run.session_id, commands, until=run.until)
        assert (handle.simulator.cash, handle.simulator.equity, len(handle.simulator.orders())) == run.account


def test_commit_latencies_stop_at_their_time_limit(tmp_path: Path) -> None:
    commits = durability.commit_latencies(
        tmp_path / "j.db", synchronous="normal", in_flight=2, appends=50, time_limit=0
    )
    assert 2 <= len(commits.latencies) < 50
    assert all(latency > 0 for latency in commits.latencies)
    short = attrs.evolve(TINY_SIZES, appends=5, time_limit=0)
    results = durability._commit_results(short, tmp_path, print)
    assert results[0].note == "1 of 5 appends (time limit)"  # each waits for the one before: the limit is seen
    assert results[1].note == ""  # all five in flight at once: nothing waited for before the end


def test_a_batch_entry_is_what_the_server_journals() -> None:
    entry = durability.batch_entry("s-1", 7)
    assert isinstance(entry, JournalEntry)
    assert (entry.session_id, entry.tick, entry.kind) == ("s-1", 7, "batch")
    assert set(entry.body) == {"batch_id", "orders", "reply", "pushes"}
    assert entry.body["orders"][0]["symbol"] == "BTC-USD"


def test_store_size_counts_the_wal(tmp_path: Path) -> None:
    size = durability.store_size(tmp_path / "s.db", 10)
    assert size.left == 0
    assert size.largest >= size.closed > 0
    assert durability.file_size(tmp_path / "missing.db") == 0


def test_figures_of_runs_that_all_failed() -> None:
    never, baseline = Contender("never", _fail), Contender("baseline", _fail)
    never.seconds, baseline.seconds = [math.nan], [1.0]
    versus = durable_remote._versus("durable.nothing.vs_memory", never, baseline)
    assert versus.value == 0
    assert versus.errors == 1
    assert versus.verdict == "short"
    empty = durable_remote.create_results(1, [[wire.LoadResult(1), wire.LoadResult(1)]])
    assert [r.value for r in empty] == [math.inf, math.inf, 0.0]
    assert all(r.errors for r in empty)
    rates = durable_remote.create_results(5, [[wire.LoadResult(5), wire.LoadResult(5)]])
    assert rates[-1].value == 0.0


class _Replies:
    """Stands for a connection: hands out queued texts."""

    def __init__(self, *texts: str) -> None:
        self.texts = list(texts)
        self.sent: list[str] = []

    async def get_message(self) -> str:
        return self.texts.pop(0)

    async def send_message(self, text: str) -> None:
        self.sent.append(text)


async def test_an_error_instead_of_a_batch_ack_stops_the_run() -> None:
    replies = _Replies(
        '{"type":"order_update","data":{}}',
        '{"type":"error","data":{"error_code":"VALIDATION_FAILED","message":"bad batch"},"request_id":"b1"}',
    )
    with pytest.raises(ProtocolError, match="bad batch"):
        await durable_remote._until(replies, '{"type":"batch_ack",')  # type: ignore[arg-type]


async def test_a_trading_run_refused_at_its_start_raises() -> None:
    replies = _Replies('{"type":"session_error","data":{"message":"no such session"}}')
    with pytest.raises(ProtocolError, match="no such session"):
        await durable_remote.trading_run(LeanClient(replies), "nowhere")  # type: ignore[arg-type]
    assert replies.sent[0].startswith('{"type":"start_simulation"')


def test_lockstep_runs_cut_by_the_time_limit_count_it(tmp_path: Path) -> None:
    raise_open_files_limit()
    with (
        wire.server_process("simutrador", max_seconds=60) as memory,
        wire.server_process("simutrador", max_seconds=60, store=str(tmp_path / "s.db")) as durable,
    ):
        assert durable.store.endswith("s.db")
        runs = trio.run(
            lambda: durable_remote.lockstep({"memory": memory, "sqlite": durable}, 20_000, rounds=1, time_limit=1.0)
        )
    assert all(contender.errors["time limit"] == 1 for contender in runs.contenders.values())
    results = durable_remote.lockstep_results(runs)
    assert all(result.errors for result in results)


async def _fail() -> tuple[int, float]:
    raise ProtocolError("never runs")
