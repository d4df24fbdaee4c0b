"""`simutrador_bench.hostile` at tiny counts: every attack runs, the good client is served, the table reads."""

from __future__ import annotations

import pytest
from simutrador_bench import hostile

TINY = hostile.Profile(window=0.4, warmup=0.1, connections=2, idle=20, connect_every=0.1)


def test_every_attack_runs_and_the_good_client_is_served() -> None:
    progress: list[str] = []
    results = hostile.measure(TINY, progress.append)
    assert progress == [f"hostile: {name}..." for name in ("baseline", *hostile.ATTACKS)]
    for result in results:
        figures = result.figures()
        assert figures["round_trips"] > 0 and figures["connects"] > 0, (result.scenario, figures)
        assert figures["errors"] == 0, (result.scenario, dict(result.errors))
        assert 0 < figures["rtt_p50_ms"] <= figures["rtt_p99_ms"]
    table = hostile.report(results).splitlines()
    assert table[0].startswith("| scenario | ping p50 ms | ping p99 ms | p99 / baseline")
    assert [line.split(" | ")[0] for line in table[2:]] == [f"| {name}" for name in ("baseline", *hostile.ATTACKS)]
    assert table[2].split(" | ")[3] == "1.0x"


def test_the_command_line(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit):
        hostile.main(["--scenarios", "ping_flood,nope"])
    assert "unknown attacks: nope" in capsys.readouterr().err
    asked: list[tuple[hostile.Profile, tuple[str, ...]]] = []

    def measure(profile: hostile.Profile, progress: object, scenarios: tuple[str, ...]) -> list[hostile.Measured]:
        asked.append((profile, tuple(scenarios)))
        failed = hostile.Measured("ping_flood", round_trips=[0.002], connects=[0.004])
        failed.errors["ping: RATE_LIMIT_EXCEEDED"] += 1
        return [hostile.Measured("baseline", round_trips=[0.001], connects=[0.003]), failed]

    monkeypatch.setattr(hostile, "measure", measure)
    hostile.main(["--window", "0.3", "--connections", "1", "--idle", "5", "--scenarios", "ping_flood"])
    out, err = capsys.readouterr()
    assert asked == [(hostile.Profile(window=0.3, connections=1, idle=5), ("ping_flood",))]
    assert "| ping_flood | 2.00 | 2.00 | 2.0x |" in out
    assert "ping_flood: {'ping: RATE_LIMIT_EXCEEDED': 1}" in err
    empty = hostile.Measured("empty").figures()
    assert empty["rtt_p50_ms"] != empty["rtt_p50_ms"]  # NaN: nothing measured
