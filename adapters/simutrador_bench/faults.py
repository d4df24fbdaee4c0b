"""Kill the server at random points of remote simulations; every run must still end as if uninterrupted.

``python -m simutrador_bench.faults --trials 20 --max-seconds 300`` runs trials until
either bound: each starts ``simutrador serve`` in its own process on a SQLite store,
runs a busy strategy (brackets, limits, stops, cancels, rejections) through
`simutrador_ws.client.SessionClient.run_simulation`, and meanwhile SIGKILLs and
restarts the server at random moments (one to three times per trial). The client
reconnects and resumes by itself; the trial passes when the final digest equals the
embedded, uninterrupted run's. A summary line per trial, and a total, go to stdout;
the exit status is 1 when any trial diverged or failed.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import trio
from simutrador_ws.auth import AuthSettings, issue_token
from simutrador_ws.client import SessionClient, SessionClientSettings

from simutrador import Engine, EngineSettings, Plan

__all__ = ["FIELDS", "SECRET", "Server", "Trader", "main", "run_trial"]

SECRET = "fault-injection-secret-" + "f" * 40
FIELDS: dict[str, Any] = {
    "symbols": ["AAPL", "MSFT"],
    "start_date": "2020-01-01",
    "end_date": "2023-12-31",
    "initial_capital": "20000",
    "commission_per_share": "0.005",
    "slippage_bps": "2",
}
CLIENT = SessionClientSettings(reconnect_attempts=20, retry_backoff_seconds=0.1, max_backoff_seconds=1.0)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """``simutrador serve`` in its own process on a fixed port and store; `restart` SIGKILLs it and starts another.

    Args:
        store: The SQLite file.
        port: The WebSocket port (the same after every restart).
    """

    def __init__(self, store: Path, port: int) -> None:
        self.store, self.port = store, port
        self.process: subprocess.Popen[str] | None = None
        self.starts = 0
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """The WebSocket URL."""
        return f"ws://127.0.0.1:{self.port}/ws/simulate"

    def start(self) -> None:
        """Start the server and wait until it listens."""
        found = shutil.which("simutrador", path=str(Path(sys.executable).parent)) or "simutrador"
        environment = {k: v for k, v in os.environ.items() if not k.startswith("SIMUTRADOR_")}
        environment["SIMUTRADOR_JWT_SECRET"] = SECRET
        process = subprocess.Popen(  # noqa: S603 - our own command
            [found, "serve", "--port", str(self.port), "--no-http", "--store", str(self.store)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=environment,
        )
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if "Press Ctrl+C" in line:
                self.process = process
                self.starts += 1
                return
            if not line:
                break
        process.kill()
        process.wait(10)
        process.stdout.close()
        raise RuntimeError("the server did not start")

    def kill(self) -> None:
        """SIGKILL the server (no shutdown of any kind)."""
        process = self.process
        if process is None:
            return
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()
        self.process = None

    def restart(self) -> None:
        """SIGKILL, then start again on the same port and store."""
        with self._lock:
            self.kill()
            self.start()

    def stop(self) -> None:
        """Stop the server gracefully (SIGINT), or kill it after 15 s."""
        with self._lock:
            process = self.process
            if process is None:
                return
            process.send_signal(signal.SIGINT)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
            if process.stdout is not None:
                process.stdout.close()
            self.process = None


class Trader:
    """A deterministic strategy that trades in every way: brackets, limits, stops, cancels, oversized orders."""

    def __init__(self) -> None:
        self.ticks = 0

    def on_tick(self, ctx: Any, tick: Any) -> None:
        """Trade every third tick, rotating through the order types."""
        self.ticks += 1
        n = tick.sequence_id
        if n % 3:
            return
        symbol = ctx.symbols[(n // 3) % len(ctx.symbols)]
        if symbol not in tick.bars:
            return
        close: Decimal = tick.bars[symbol].close
        held = ctx.position(symbol).quantity
        step = n // 3 % 5
        cent = Decimal("0.01")
        if step == 0:
            ctx.buy(
                symbol,
                10,
                stop_loss=(close * Decimal("0.97")).quantize(cent),
                take_profit=(close * Decimal("1.03")).quantize(cent),
            )
        elif step == 1:
            ctx.buy(symbol, 3, limit_price=(close * Decimal("0.99")).quantize(cent), time_in_force="gtc")
        elif step == 2 and held > 0:
            ctx.sell(symbol, held, stop_price=(close * Decimal("0.98")).quantize(cent))
        elif step == 3:
            for order in ctx.open_orders(symbol):
                if order.parent_id is None:
                    ctx.cancel(order.order_id)
                    break
        elif step == 4:
            ctx.buy(symbol, int(ctx.cash / close) * 3 + 1)  # more than buying power: rejected


def token() -> str:
    """A professional-plan token for ``alice`` signed with `SECRET`."""
    return issue_token(AuthSettings(jwt_secret=SECRET), "alice", plan=Plan.PROFESSIONAL)


def reference_digest() -> str:
    """The digest of the uninterrupted, embedded run."""
    engine = Engine(EngineSettings(default_plan=Plan.PROFESSIONAL))
    return engine.run_simulation("alice", engine.create_session("alice", **FIELDS).session_id, Trader()).digest


def run_trial(server: Server, kills: Sequence[float], window: int) -> tuple[str, int]:
    """One remote run with the server restarted at each of `kills` (seconds after it starts); its digest and resumes."""
    stop = threading.Event()

    def killer() -> None:
        started = time.monotonic()
        for at in kills:
            if stop.wait(max(0.0, started + at - time.monotonic())):
                return
            server.restart()

    thread = threading.Thread(target=killer, daemon=True)

    async def main() -> tuple[str, int]:
        async with SessionClient.connect(server.url, token(), settings=CLIENT) as client:
            session = await client.create_session(**FIELDS)
            thread.start()
            with trio.fail_after(180):
                result = await client.run_simulation(session.session_id, Trader(), max_pending_ticks=window)
            return result.digest, 0

    try:
        return trio.run(main)
    finally:
        stop.set()
        if thread.is_alive():
            thread.join(60)


def main(argv: Sequence[str] | None = None) -> int:
    """Run trials until ``--trials`` or ``--max-seconds``; 1 when any diverged."""
    parser = argparse.ArgumentParser(description="Kill the server at random points of remote simulations.")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--max-seconds", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)  # noqa: S311 - kill times, not secrets
    expected = reference_digest()
    began = time.monotonic()
    passed = failed = 0
    with tempfile.TemporaryDirectory() as folder:
        for trial in range(1, args.trials + 1):
            if time.monotonic() - began > args.max_seconds:
                break
            server = Server(Path(folder) / f"trial-{trial}.db", free_port())
            kills = sorted(rng.uniform(0.05, 1.2) for _ in range(rng.randint(1, 3)))
            window = rng.choice((1, 1, 4, 16))
            server.start()
            try:
                digest, _ = run_trial(server, kills, window)
                ok = digest == expected
                note = "same digest" if ok else f"DIVERGED: {digest[:16]} != {expected[:16]}"
            except Exception as exc:  # reported, counted as a failure
                ok, note = False, f"FAILED: {type(exc).__name__}: {exc}"
            finally:
                server.stop()
            landed = server.starts - 1
            ok = ok and landed > 0  # a trial the server was never killed in proves nothing
            if not landed:
                note += " (but the run ended before any kill)"
            passed += ok
            failed += not ok
            kills_text = ", ".join(f"{k:.2f}" for k in kills)
            sys.stdout.write(
                f"trial {trial}: window {window}, killed at {kills_text} s, {server.starts} starts: {note}\n"
            )
            sys.stdout.flush()
    seconds = time.monotonic() - began
    sys.stdout.write(
        f"{passed} of {passed + failed} trials ended with the uninterrupted run's digest ({seconds:.0f} s)\n"
    )
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    raise SystemExit(main())
