"""The simulation workloads at small sizes: every contender does the same work, and the figures are sane."""

from __future__ import annotations

import itertools
import math
from datetime import date
from decimal import Decimal
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner
from simutrador_bench import runner, simulation
from simutrador_cli import bench as bench_command
from simutrador_cli.main import cli

SMALL = attrs.evolve(
    runner.QUICK, sim_minute_bars=3_000, sim_rounds=2, sim_daily_symbols=4, sim_simulations=40, time_limit=30
)


@pytest.fixture(scope="module")
def minute() -> simulation.MinuteBars:
    return simulation.MinuteBars(3_000)


def test_minute_bars_are_consecutive_minutes_as_floats(minute: simulation.MinuteBars) -> None:
    assert len(minute) == 3_000
    assert (minute.end - minute.start).total_seconds() == 2_999 * 60
    assert minute.closes[10] == float(minute.bars[10].close)
    frame = minute.frame()
    assert list(frame.columns) == ["Open", "High", "Low", "Close", "Volume"]
    assert len(frame) == 3_000
    assert frame["Open"].iloc[-1] == minute.opens[-1]
    for count in (0, simulation.MAX_MINUTE_BARS + 1):
        with pytest.raises(ValueError, match="1-minute bars of BTC-USD"):
            simulation.MinuteBars(count)


def test_running_means_match_plain_means() -> None:
    values = [float(v) for v in (3, 1, 4, 1, 5, 9, 2, 6)]
    means = simulation.running_means(values, 3)
    assert all(math.isnan(m) for m in means[:2])
    assert means[2:] == pytest.approx([sum(values[i - 2 : i + 1]) / 3 for i in range(2, len(values))])


def test_every_contender_takes_the_same_signals(minute: simulation.MinuteBars) -> None:
    ours = simulation.engine_call(minute, lambda: simulation.SmaCrossover(minute.symbol))()
    plain = simulation.plain_sma_call(minute)()
    assert ours.bars == plain.bars == 3_000
    assert ours.orders > 20  # a 10/30 crossover on 1-minute bars crosses often
    assert ours == plain
    assert ours.fills in (ours.orders, ours.orders - 1)  # an order placed on the last bar never fills
    if simulation.backtesting_available():
        assert simulation.backtesting_call(minute, "sma")() == ours


def test_the_sma_strategy_goes_long_and_flat_only(minute: simulation.MinuteBars) -> None:
    engine = minute.engine
    session = engine.create_session(
        "t",
        symbols=minute.symbol,
        start_date=minute.start,
        end_date=minute.end,
        initial_capital=simulation.CAPITAL,
        timeframe="1min",
    )
    result = engine.run_simulation("t", session.session_id, simulation.SmaCrossover(minute.symbol))
    sides = [fill.side.value for fill in result.fills]
    assert sides[:4] == ["buy", "sell", "buy", "sell"]
    assert all(a != b for a, b in itertools.pairwise(sides))
    assert all(fill.quantity == 1 for fill in result.fills)


def test_doing_nothing_places_nothing(minute: simulation.MinuteBars) -> None:
    assert simulation.engine_call(minute, lambda: simulation.do_nothing)() == simulation.Run(3_000, 0, 0)
    assert simulation.plain_nothing_call(minute)() == simulation.Run(3_000, 0, 0)
    if simulation.backtesting_available():
        assert simulation.backtesting_call(minute, "nothing")() == simulation.Run(3_000, 0, 0)
    assert minute.engine.live_session_count <= 1  # each run's session is deleted after it


def test_peers_are_reported_as_available_or_not() -> None:
    assert isinstance(simulation.backtesting_available(), bool)
    assert isinstance(simulation.backtrader_available(), bool)


def test_daily_universe_buy_and_hold_matches_the_plain_loop(tmp_path: Path) -> None:
    universe = simulation.DailyUniverse(tmp_path, 3, start=date(2024, 1, 1), end=date(2024, 12, 31))
    assert universe.symbols == ("XAAA", "XBAA", "XCAA")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["XAAA.csv", "XBAA.csv", "XCAA.csv"]
    assert universe.bars == 3 * 262  # the weekdays of 2024
    assert universe.budget == simulation.CAPITAL * Decimal("0.9") / 3
    assert len(universe.rows()) == 262
    nothing = simulation.daily_call(universe, lambda: simulation.do_nothing)()
    hold = simulation.daily_call(universe, universe.buy_and_hold)()
    plain = simulation.plain_hold_call(universe)()
    assert nothing == simulation.Run(universe.bars, 0, 0)
    assert hold == plain == simulation.Run(universe.bars, 3, 3)
    assert universe.engine.live_session_count == 0  # each run's session is deleted after it


def test_daily_files_are_seeded_random_walks(tmp_path: Path) -> None:
    simulation.write_daily_folder(tmp_path / "a", 2, date(2024, 1, 1), date(2024, 1, 7))
    simulation.write_daily_folder(tmp_path / "b", 2, date(2024, 1, 1), date(2024, 1, 7))
    first = (tmp_path / "a" / "XBAA.csv").read_text().splitlines()
    assert first == (tmp_path / "b" / "XBAA.csv").read_text().splitlines()
    assert first[0] == "date,open,high,low,close,volume"
    assert [row.split(",")[0] for row in first[1:]] == [f"2024-01-0{d}" for d in range(1, 6)]
    for row in first[1:]:
        opened, high, low, close = (float(v) for v in row.split(",")[1:5])
        assert low <= min(opened, close) <= max(opened, close) <= high


def test_alternate_takes_turns_and_stops_at_its_limits() -> None:
    calls: list[str] = []

    def first() -> simulation.Run:
        calls.append("a")
        return simulation.Run(10, 0, 0)

    def second() -> simulation.Run:
        calls.append("b")
        return simulation.Run(20, 1, 1)

    timed = simulation.alternate([first, second], rounds=3, time_limit=60)
    assert calls == ["a", "b"] * 3
    assert [len(t.seconds) for t in timed] == [3, 3]
    assert timed[1].run == simulation.Run(20, 1, 1)
    assert timed[0].rate > 0
    assert len(timed[0].rates) == 3
    assert len(simulation.alternate([first], rounds=5, time_limit=0)[0].seconds) == 1  # the time limit: one round


def test_deep_size_counts_shared_objects_once() -> None:
    shared = [1.5] * 3
    alone = simulation.deep_size(shared)
    assert simulation.deep_size((shared, shared)) < 2 * alone
    assert simulation.deep_size({"a": shared}) > alone


def test_concurrent_simulations_share_one_feed() -> None:
    feeds = simulation.live_feeds()
    figures = simulation.concurrent_memory(40)
    assert figures.simulations == 40
    assert figures.feeds_built == 0
    assert figures.ticks_stepped == 131  # half of 2024's 262 weekdays (the sample keeps no holidays)
    assert figures.session_bytes < figures.bytes_per_simulation < figures.data_bytes / 4
    assert figures.session_bytes > 100
    assert figures.data_bytes > 100_000
    assert simulation.live_feeds() == feeds  # the engine and its feed went with the function


def test_run_simulation_steps_reports_every_figure() -> None:
    lines: list[str] = []
    report = runner.run(SMALL, only=["simulation"], progress=lines.append)
    results = report.by_key()
    expected = {
        "sim.sma",
        "sim.sma.plain",
        "sim.sma.vs_plain",
        "sim.nothing",
        "sim.nothing.plain",
        "sim.nothing.vs_plain",
        "sim.daily.nothing",
        "sim.daily.hold",
        "sim.daily.plain",
        "sim.daily.vs_plain",
        "sim.concurrent.memory",
        "sim.concurrent.session",
        "sim.concurrent.data",
        "sim.concurrent.vs_data",
    }
    if simulation.backtesting_available():
        expected |= {"sim.sma.backtesting", "sim.sma.vs_backtesting", "sim.nothing.backtesting"}
        expected |= {"sim.nothing.vs_backtesting"}
    if simulation.backtrader_available():
        expected |= {"sim.sma.backtrader", "sim.sma.vs_backtrader"}
    else:
        assert any("backtrader is not installed" in line for line in lines)
    assert set(results) == expected
    sma = results["sim.sma"]
    assert sma.value > 0
    assert sma.extra["bars"] == 3_000
    assert len(sma.samples) == 2
    assert sma.note == "3,000 bars (the target is for 100,000)"  # same signals: no note about orders
    assert results["sim.sma.plain"].value > sma.value  # a loop over floats does less than a simulation
    ratios = results["sim.sma.vs_plain"].extra["ratio_per_round"]
    assert len(ratios) == 2
    assert results["sim.sma.vs_plain"].value == pytest.approx(sum(ratios) / 2)  # the median of two
    assert results["sim.daily.hold"].extra["symbols"] == 4
    assert results["sim.daily.hold"].extra["orders"] == 4
    assert results["sim.daily.hold"].note == ""
    assert results["sim.concurrent.memory"].extra["feeds_built"] == 0
    assert results["sim.concurrent.memory"].verdict == "pass"
    assert results["sim.concurrent.vs_data"].value > 4  # a private copy each would cost far more
    assert "SMA(10/30) crossover" in report.format_table()


def test_same_work_notes_differing_orders() -> None:
    timed = [simulation.Timed([1.0], simulation.Run(10, n, n)) for n in (3, 4)]
    assert runner._same_work(timed) == "orders differ between contenders: [3, 4]"
    assert runner._same_work(timed[:1]) == ""


def test_cli_bench_runs_the_simulation_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_command, "QUICK", SMALL)
    done = CliRunner().invoke(cli, ["bench", "--quick", "--only", "simulation"])
    assert done.exit_code == 0, done.output
    assert "SMA(10/30) crossover" in done.output
    assert "1,000 concurrent simulations" in done.output
    listing = CliRunner().invoke(cli, ["bench", "--list"])
    assert "simulation.concurrent" in listing.output
