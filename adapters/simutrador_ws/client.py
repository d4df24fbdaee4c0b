"""`SessionClient`: the async client SDK, and `SyncSessionClient` for scripts and notebooks.

One persistent authenticated connection; requests are multiplexed on it and matched
by ``request_id``, each with its own timeout. Messages are written and read by the
server's own envelope codec (`simutrador_ws.envelope`: strict JSON both ways), and
replies decoded by the core's codec into the core's models (`Session`), never raw
dicts. Server errors are raised as the
core's one exception, `SimutradorError` (code, message, details, retry_after_ms);
transport failures as `ClientConnectionError`. Only ``RATE_LIMIT_EXCEEDED`` (honouring
``retry_after_ms``) and ``INTERNAL_ERROR`` are retried, with exponential backoff;
validation and other errors never are. A dropped connection fails every pending
request at once. Use it from trio, or from anyio code on the trio backend.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

import attrs
import trio
import trio_websocket

from simutrador import ErrorCode, Session, SimutradorError
from simutrador.codec import format_datetime, session_from_wire
from simutrador.simulation import Fill, Progress, SimulationResult, StrategyContext, Tick
from simutrador_ws.envelope import Envelope, decode, encode_message
from simutrador_ws.remote import (
    ClientConnectionError,
    Reconnection,
    RemoteDriver,
    RemoteSimulation,
    run_remote_strategy,
)

__all__ = [
    "ClientConnectionError",
    "SessionClient",
    "SessionClientSettings",
    "SyncRemoteSimulation",
    "SyncSessionClient",
]

T = TypeVar("T")

RETRYABLE: Final = frozenset({ErrorCode.RATE_LIMIT_EXCEEDED, ErrorCode.INTERNAL_ERROR})
"""Errors worth retrying: the same request can succeed later."""

MAX_REPLY_BYTES: Final = 1024 * 1024
"""The largest message the client accepts (trio-websocket's default frame cap)."""

_REFUSALS: Final = {
    401: ErrorCode.AUTHENTICATION_FAILED,
    403: ErrorCode.AUTHENTICATION_FAILED,
    429: ErrorCode.RATE_LIMIT_EXCEEDED,
}


@attrs.frozen(kw_only=True)
class SessionClientSettings:
    """Client behaviour: timeouts and retries (the seed's defaults). No business defaults: the server decides those.

    Attributes:
        session_timeout_seconds: How long one request may wait for its reply.
        max_retry_attempts: Retries of a retryable error before giving up.
        retry_backoff_seconds: First backoff; doubled on each retry.
        max_backoff_seconds: Cap on one backoff.
        connect_timeout_seconds: How long opening the connection may take.
        reconnect_attempts: Reconnections `SessionClient.run_simulation` tries, with
            the same backoff, when the connection drops mid-run (each is logged).
    """

    session_timeout_seconds: float = 30.0
    max_retry_attempts: int = 3
    retry_backoff_seconds: float = 0.25
    max_backoff_seconds: float = 5.0
    connect_timeout_seconds: float = 10.0
    reconnect_attempts: int = 8

    def reconnection(self) -> Reconnection:
        """How a remote run reconnects: `reconnect_attempts` tries, the backoff doubling to its cap."""
        return Reconnection(
            attempts=self.reconnect_attempts, first_delay=self.retry_backoff_seconds, max_delay=self.max_backoff_seconds
        )


def _wire_data(data: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): _wire_value(v) for k, v in data.items()}


def _wire_value(value: object) -> object:
    """`value` as JSON values: Decimal and dates as text; non-finite floats refused (ValueError)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} cannot be sent: JSON has no NaN or infinities")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return format_datetime(value) if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _wire_value(v) for k, v in value.items()}  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, (list, tuple)):
        return [_wire_value(v) for v in value]  # pyright: ignore[reportUnknownVariableType]
    return value


class SessionClient:
    """An authenticated connection to a SimuTrador server.

    Open it with ``async with SessionClient.connect(url, token) as client:`` (or run
    it on a WebSocket you opened yourself with `SessionClient.over`). `sessions` holds
    the last known state of every session this client has seen; `ready` the data of
    the server's ``connection_ready``; `notices` the messages the server sent
    without being asked (idle warnings, token expiry).
    """

    def __init__(self, ws: trio_websocket.WebSocketConnection, settings: SessionClientSettings) -> None:
        self._ws = ws
        self.settings = settings
        self.sessions: dict[str, Session] = {}
        self.ready: dict[str, Any] = {}
        self.notices: list[Envelope] = []
        self._pending: dict[str, trio.MemorySendChannel[Envelope | BaseException]] = {}
        self._streams: dict[str, trio.MemorySendChannel[Envelope | BaseException]] = {}
        self._unanswered: dict[str, str] = {}  # request id of a message sent without waiting → its session
        self._ids = itertools.count(1)
        self._closed: BaseException | None = None
        self._address: tuple[str, str] | None = None  # (url, token) when opened by `connect`: it can reconnect
        self._nursery: trio.Nursery | None = None

    @classmethod
    @asynccontextmanager
    async def connect(
        cls, url: str, token: str, *, settings: SessionClientSettings | None = None
    ) -> AsyncIterator[SessionClient]:
        """Open a connection (the token goes in the ``Authorization`` header).

        Raises:
            SimutradorError: ``AUTHENTICATION_FAILED`` (401/403) or
                ``RATE_LIMIT_EXCEEDED`` (429) when the server refuses the handshake.
            ClientConnectionError: when the server cannot be reached.
        """
        settings = settings or SessionClientSettings()
        if urlsplit(url).scheme not in ("ws", "wss"):
            raise ClientConnectionError(f"not a WebSocket URL: {url!r} (expected ws://host:port/ws/simulate)")
        async with contextlib.AsyncExitStack() as stack, _unwrapped():
            ws = await cls._open(stack, url, token, settings)
            async with cls._run(ws, settings) as client:
                client._address = (url, token)
                yield client

    @classmethod
    @asynccontextmanager
    async def over(
        cls, ws: trio_websocket.WebSocketConnection, *, settings: SessionClientSettings | None = None
    ) -> AsyncIterator[SessionClient]:
        """Run a client on a WebSocket already open (and authenticated) to a SimuTrador server.

        For transports `connect` does not open itself, and for tests: over
        ``trio.testing.memory_stream_pair`` and ``trio_websocket.wrap_client_stream``
        the client runs without a socket (and under ``trio.testing.MockClock``).
        The WebSocket is closed on exit.

        Raises:
            ClientConnectionError: the server did not send ``connection_ready`` in time.
        """
        async with _unwrapped(), cls._run(ws, settings or SessionClientSettings()) as client:
            yield client

    @classmethod
    @asynccontextmanager
    async def _run(
        cls, ws: trio_websocket.WebSocketConnection, settings: SessionClientSettings
    ) -> AsyncIterator[SessionClient]:
        """Wait for ``connection_ready``, then read replies in the background until the body ends."""
        async with trio.open_nursery() as nursery:
            client = cls(ws, settings)
            client._nursery = nursery
            try:
                with trio.fail_after(settings.connect_timeout_seconds):
                    first = await ws.get_message()
                client.ready = _greeting(first)
                nursery.start_soon(client._reader)
                yield client
            except (trio.TooSlowError, trio_websocket.ConnectionClosed) as exc:
                raise ClientConnectionError(f"the server did not complete the connection: {exc!r}") from None
            finally:
                await client.aclose()
                nursery.cancel_scope.cancel()

    @staticmethod
    async def _open(
        stack: contextlib.AsyncExitStack, url: str, token: str, settings: SessionClientSettings
    ) -> trio_websocket.WebSocketConnection:
        with _refusals(url):
            ws = await stack.enter_async_context(
                trio_websocket.open_websocket_url(
                    url,
                    extra_headers=[(b"authorization", f"Bearer {token}".encode())],
                    connect_timeout=settings.connect_timeout_seconds,
                )
            )
        return ws

    @property
    def can_reconnect(self) -> bool:
        """Whether `reconnect` can open a new connection (the client was opened by `connect`)."""
        return self._address is not None and self._nursery is not None

    async def reconnect(self) -> None:
        """Open a new connection to the same server with the same token, after the old one was lost.

        Subscriptions (`subscribe`) carry on over the new connection; requests that
        were pending have failed. A simulation carries on after ``resume_session``
        (`run_simulation` does all this by itself).

        Raises:
            ClientConnectionError: the server cannot be reached (or this client was
                not opened by `connect`).
            SimutradorError: the server refused the handshake (an expired token...).
        """
        if self._address is None or self._nursery is None:
            raise ClientConnectionError("this client was not opened by connect(), so it cannot reconnect")
        url, token = self._address
        with contextlib.suppress(Exception):
            await trio.aclose_forcefully(self._ws._stream)  # pyright: ignore[reportPrivateUsage]
        settings = self.settings
        with _refusals(url), trio.fail_after(settings.connect_timeout_seconds):
            ws = await trio_websocket.connect_websocket_url(
                self._nursery, url, extra_headers=[(b"authorization", f"Bearer {token}".encode())]
            )
        try:
            with trio.fail_after(settings.connect_timeout_seconds):
                self.ready = _greeting(await ws.get_message())
        except (trio.TooSlowError, trio_websocket.ConnectionClosed) as exc:
            await trio.aclose_forcefully(ws._stream)  # pyright: ignore[reportPrivateUsage]
            raise ClientConnectionError(f"the server did not complete the connection: {exc!r}") from None
        self._ws = ws
        self._closed = None
        self._nursery.start_soon(self._reader)

    async def aclose(self) -> None:
        """Close the connection; pending requests fail with `ClientConnectionError`."""
        self._fail_pending(ClientConnectionError("the client was closed"))
        with trio.move_on_after(2):
            await self._ws.aclose()
        # trio-websocket's client does not close its TCP stream when the server closed first
        await trio.aclose_forcefully(self._ws._stream)  # pyright: ignore[reportPrivateUsage]

    @property
    def closed(self) -> bool:
        """Whether the connection is gone."""
        return self._closed is not None

    # -- requests ---------------------------------------------------------------------

    async def request(self, type_: str, data: Mapping[str, Any] | None = None) -> Envelope:
        """Send one message and return its reply's envelope (retrying only `RETRYABLE` errors).

        Raises:
            SimutradorError: the server's error reply.
            ClientConnectionError: the connection dropped or the reply timed out.
        """
        attempt = 0
        while True:
            try:
                return await self._request_once(type_, data or {})
            except SimutradorError as error:
                if error.code not in RETRYABLE or attempt >= self.settings.max_retry_attempts:
                    raise
                backoff = min(self.settings.retry_backoff_seconds * 2**attempt, self.settings.max_backoff_seconds)
                if error.retry_after_ms is not None:
                    backoff = max(backoff, error.retry_after_ms / 1000)
                attempt += 1
                await trio.sleep(backoff)

    async def _request_once(self, type_: str, data: Mapping[str, Any]) -> Envelope:
        if self._closed is not None:
            raise ClientConnectionError(f"the connection is closed: {self._closed}")
        request_id = f"c{next(self._ids)}"
        send, receive = trio.open_memory_channel[Envelope | BaseException](1)
        self._pending[request_id] = send
        try:
            message = encode_message(type_, _wire_data(data), request_id)
            try:
                await self._ws.send_message(message)
            except trio_websocket.ConnectionClosed as exc:
                raise ClientConnectionError(f"the connection is closed: {exc.reason}") from None
            reply: Envelope | BaseException | None = None
            with trio.move_on_after(self.settings.session_timeout_seconds):
                reply = await receive.receive()
            if reply is None:
                raise ClientConnectionError(f"no reply to {type_} within {self.settings.session_timeout_seconds:g} s")
        finally:
            self._pending.pop(request_id, None)
        if isinstance(reply, BaseException):
            raise reply
        if reply.type in ("session_error", "error"):
            raise _error_from(reply.data)
        return reply

    async def send(self, type_: str, data: Mapping[str, Any], *, errors_to: str) -> None:
        """Send one message that gets no reply (``tick_ack``); an error it causes goes to `errors_to`'s stream.

        Raises:
            ClientConnectionError: the connection is closed.
        """
        if self._closed is not None:
            raise ClientConnectionError(f"the connection is closed: {self._closed}")
        request_id = f"c{next(self._ids)}"
        self._unanswered[request_id] = errors_to
        if len(self._unanswered) > 4096:  # answered ones are never removed: keep the newest
            for stale in list(self._unanswered)[:2048]:
                del self._unanswered[stale]
        try:
            await self._ws.send_message(encode_message(type_, _wire_data(data), request_id))
        except trio_websocket.ConnectionClosed as exc:
            raise ClientConnectionError(f"the connection is closed: {exc.reason}") from None

    def subscribe(self, session_id: str) -> trio.MemoryReceiveChannel[Envelope | BaseException]:
        """A stream of every message the server pushes about `session_id` (ticks, fills...), in order."""
        send, receive = trio.open_memory_channel[Envelope | BaseException](math.inf)
        self._streams[session_id] = send
        if self._closed is not None:
            send.send_nowait(ClientConnectionError(f"the connection is closed: {self._closed}"))
        return receive

    def unsubscribe(self, session_id: str) -> None:
        """Stop routing `session_id`'s pushed messages to its stream."""
        self._streams.pop(session_id, None)

    async def _reader(self) -> None:
        try:
            while True:
                reply = decode(await self._ws.get_message(), MAX_REPLY_BYTES)
                request_id = reply.request_id or ""
                channel = self._pending.get(request_id)
                if channel is not None:
                    channel.send_nowait(reply)
                    continue
                session_id = self._unanswered.pop(request_id, None) if request_id else None
                if session_id is None:
                    found = reply.data.get("session_id")
                    session_id = found if isinstance(found, str) else None
                stream = self._streams.get(session_id) if session_id is not None else None
                if stream is not None:
                    stream.send_nowait(reply)
                else:
                    self.notices.append(reply)  # idle warnings, token expiry...
        except trio_websocket.ConnectionClosed as exc:
            reason = exc.reason
            text = (
                f"closed by the server (code {reason.code}{': ' + reason.reason if reason and reason.reason else ''})"
                if reason
                else "connection lost"
            )
            self._fail_pending(ClientConnectionError(text))
        except SimutradorError as exc:  # not an envelope: whatever this is, it is not a SimuTrador server
            self._fail_pending(ClientConnectionError(f"unreadable message from the server: {exc.message}"))

    def _fail_pending(self, error: BaseException) -> None:
        if self._closed is None:
            self._closed = error
        for channel in [*self._pending.values(), *self._streams.values()]:
            with contextlib.suppress(trio.WouldBlock, trio.ClosedResourceError):  # already answered
                channel.send_nowait(error)

    # -- the seed's API ---------------------------------------------------------------

    async def create_session(
        self,
        symbols: Iterable[str] | str,
        start_date: date | datetime | str,
        end_date: date | datetime | str,
        initial_capital: Decimal | int | str,
        **options: Any,
    ) -> Session:
        """Create a session and return it.

        Every value goes to the server as given (the SDK invents no default capital:
        the server validates what it gets and decides any default).

        Options: data_provider, commission_per_share, slippage_bps, metadata, session_id.
        """
        data = {
            "symbols": [symbols] if isinstance(symbols, str) and "," not in symbols else symbols,
            "start_date": start_date,
            "end_date": end_date,
            "initial_capital": initial_capital,
            **options,
        }
        if isinstance(data["symbols"], str):
            data["symbols"] = [s.strip() for s in data["symbols"].split(",")]
        reply = await self.request("create_session", data)
        return self._remember(session_from_wire(reply.data["session"]))

    async def get_session_status(self, session_id: str) -> Session:
        """The session as the server has it now."""
        reply = await self.request("get_session", {"session_id": session_id})
        return self._remember(session_from_wire(reply.data["session"]))

    async def list_sessions(self) -> list[Session]:
        """Every live session of this user, oldest first."""
        reply = await self.request("list_sessions")
        sessions = [session_from_wire(s) for s in reply.data["sessions"]]
        self.sessions = {s.session_id: s for s in sessions}
        return sessions

    async def delete_session(self, session_id: str) -> str:
        """Delete a session; returns its id."""
        reply = await self.request("delete_session", {"session_id": session_id})
        self.sessions.pop(session_id, None)
        return str(reply.data["session_id"])

    async def list_symbols(self, market: str | None = None) -> list[dict[str, Any]]:
        """What the server's catalog holds: symbol, asset class, market, ranges."""
        reply = await self.request("list_symbols", {"market": market} if market else {})
        return list(reply.data["symbols"])

    # -- simulations ------------------------------------------------------------------

    async def run_simulation(
        self,
        session_id: str,
        strategy: object,
        *,
        max_pending_ticks: int = 1,
        progress: Progress | None = None,
    ) -> SimulationResult:
        """Run `strategy` on the server over a READY session; the same result (and digest) as embedded.

        The strategy is the object (or function) `simutrador.Engine.run_simulation`
        takes, called in the same order with a ``ctx`` that mirrors the server's
        simulator exactly. Orders are applied at the tick the strategy saw.

        Args:
            session_id: A READY session of the caller.
            strategy: An object with ``on_tick(ctx, tick)`` (and optional hooks) or a function.
            max_pending_ticks: The credit window (1: lockstep; more lets ticks travel
                ahead, the result is the same).
            progress: Called with (ticks done, total) about a hundred times per run.

        Raises:
            SimutradorError: the server's refusals; ``INVALID_ORDER`` for an order
                the server refused outright.
            Exception: whatever the strategy raised (the session stays paused on the
                server, its state kept).
        """
        driver = RemoteDriver(
            self,
            session_id,
            max_pending_ticks=max_pending_ticks,
            progress=progress,
            reconnection=self.settings.reconnection(),
        )
        try:
            return await run_remote_strategy(driver, strategy)
        except SimutradorError:
            raise
        except Exception:
            with contextlib.suppress(SimutradorError, ClientConnectionError):
                await self.request("pause_simulation", {"session_id": session_id})
            raise

    @asynccontextmanager
    async def simulate(
        self, session_id: str, *, max_pending_ticks: int = 1, progress: Progress | None = None
    ) -> AsyncIterator[RemoteSimulation]:
        """Start a READY session's simulation and step it by hand.

        Example::

            async with client.simulate(session.session_id) as sim:
                async for tick in sim:
                    if tick.sequence_id == 1:
                        sim.buy("AAPL", 10)
                result = await sim.result()
        """
        simulation = RemoteSimulation(
            RemoteDriver(
                self,
                session_id,
                max_pending_ticks=max_pending_ticks,
                progress=progress,
                reconnection=self.settings.reconnection(),
            )
        )
        await simulation.start()
        yield simulation

    async def pause_simulation(self, session_id: str) -> dict[str, Any]:
        """Pause a simulation this connection drives (state kept); the ``simulation_paused`` data."""
        return dict((await self.request("pause_simulation", {"session_id": session_id})).data)

    async def resume_simulation(self, session_id: str) -> dict[str, Any]:
        """Resume a paused simulation (also one paused by a dropped connection); the ``simulation_resumed`` data."""
        return dict((await self.request("resume_simulation", {"session_id": session_id})).data)

    async def query_positions(self, session_id: str) -> dict[str, Any]:
        """A running simulation's account: cash, equity, buying power, positions, working orders."""
        return dict((await self.request("query_positions", {"session_id": session_id})).data)

    async def get_results(self, session_id: str) -> SimulationResult:
        """A COMPLETED session's result (every page of ``get_results`` joined)."""
        return await RemoteDriver(self, session_id).result()

    def _remember(self, session: Session) -> Session:
        self.sessions[session.session_id] = session
        return session


@contextlib.contextmanager
def _refusals(url: str) -> Iterator[None]:
    """A refused or failed handshake as the client's errors: 401/403/429 → `SimutradorError`, else connection errors."""
    try:
        yield
    except trio_websocket.ConnectionRejected as refusal:
        body = (refusal.body or b"").decode("utf-8", "replace")[:200]
        code = _REFUSALS.get(refusal.status_code)
        if code is None:
            raise ClientConnectionError(f"server refused the connection: HTTP {refusal.status_code} {body}") from None
        retry = {k.lower(): v for k, v in refusal.headers or []}.get(b"retry-after")
        raise SimutradorError(
            code,
            body or f"HTTP {refusal.status_code}",
            {"http_status": refusal.status_code},
            retry_after_ms=int(retry) * 1000 if retry and retry.isdigit() else None,
        ) from None
    except (OSError, trio_websocket.HandshakeError, trio.TooSlowError) as exc:
        raise ClientConnectionError(f"cannot connect to {url}: {exc!r}") from None


def _greeting(text: str | bytes) -> dict[str, Any]:
    """The data of ``connection_ready``, the first message of every connection.

    Raises:
        ClientConnectionError: the first message is something else.
    """
    try:
        first = decode(text, MAX_REPLY_BYTES)
    except SimutradorError as error:
        raise ClientConnectionError(f"unexpected first message ({error.message})") from None
    if first.type != "connection_ready":
        raise ClientConnectionError(f"unexpected first message {first.type!r}")
    return dict(first.data)


@asynccontextmanager
async def _unwrapped() -> AsyncIterator[None]:
    """Re-raise a lone exception out of trio's exception group, so callers catch it plainly."""
    try:
        yield
    except BaseExceptionGroup as group:
        errors = [e for e in _leaves(group) if not isinstance(e, trio.Cancelled)]
        if len(errors) == 1:
            raise errors[0] from None
        raise


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    found: list[BaseException] = []
    for error in group.exceptions:
        found += _leaves(error) if isinstance(error, BaseExceptionGroup) else [error]
    return found


def _error_from(data: Mapping[str, Any]) -> SimutradorError:
    try:
        code = ErrorCode(data.get("error_code"))
    except ValueError:
        code = ErrorCode.INTERNAL_ERROR
    retry = data.get("retry_after_ms")
    return SimutradorError(
        code,
        str(data.get("message", "")),
        dict(data.get("details") or {}),
        retry_after_ms=int(retry) if isinstance(retry, (int, float)) and math.isfinite(retry) else None,
    )


class SyncSessionClient:
    """A blocking wrapper for scripts and notebooks: the async client on a background thread.

    Example::

        with SyncSessionClient("ws://127.0.0.1:8003/ws/simulate", token) as client:
            session = client.create_session(["AAPL"], "2024-03-04", "2024-03-08", "100000")
    """

    def __init__(self, url: str, token: str, *, settings: SessionClientSettings | None = None) -> None:
        self._url, self._token, self._settings = url, token, settings
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._client: SessionClient | None = None
        self._token_trio: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self._thread = threading.Thread(target=trio.run, args=(self._main,), daemon=True, name="simutrador-client")
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            self._thread.join()
            raise self._startup_error

    async def _main(self) -> None:
        try:
            async with SessionClient.connect(self._url, self._token, settings=self._settings) as client:
                self._client, self._stop = client, trio.Event()
                self._token_trio = trio.lowlevel.current_trio_token()
                self._ready.set()
                await self._stop.wait()
        except BaseException as exc:  # reported to the constructing thread
            if not self._ready.is_set():
                self._startup_error = exc
                self._ready.set()

    def _call(self, function: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        if self._client is None or self._token_trio is None:  # pragma: no cover - guarded by __init__
            raise ClientConnectionError("not connected")
        return trio.from_thread.run(lambda: function(*args, **kwargs), trio_token=self._token_trio)

    @property
    def _async(self) -> SessionClient:
        assert self._client is not None  # set before __init__ returns
        return self._client

    @property
    def sessions(self) -> dict[str, Session]:
        """The last known state of every session seen."""
        return self._async.sessions

    @property
    def ready(self) -> dict[str, Any]:
        """The data of the server's ``connection_ready``."""
        return self._async.ready

    @property
    def notices(self) -> list[Envelope]:
        """Messages the server sent without being asked (idle warnings, token expiry)."""
        return self._async.notices

    @property
    def settings(self) -> SessionClientSettings:
        """The client's settings."""
        return self._async.settings

    @property
    def closed(self) -> bool:
        """Whether the connection is gone."""
        return self._async.closed

    def request(self, type_: str, data: Mapping[str, Any] | None = None) -> Envelope:
        """See `SessionClient.request`."""
        return self._call(self._async.request, type_, data)

    def create_session(self, *args: Any, **kwargs: Any) -> Session:
        """See `SessionClient.create_session`."""
        return self._call(self._async.create_session, *args, **kwargs)

    def get_session_status(self, session_id: str) -> Session:
        """See `SessionClient.get_session_status`."""
        return self._call(self._async.get_session_status, session_id)

    def list_sessions(self) -> list[Session]:
        """See `SessionClient.list_sessions`."""
        return self._call(self._async.list_sessions)

    def delete_session(self, session_id: str) -> str:
        """See `SessionClient.delete_session`."""
        return self._call(self._async.delete_session, session_id)

    def list_symbols(self, market: str | None = None) -> list[dict[str, Any]]:
        """See `SessionClient.list_symbols`."""
        return self._call(self._async.list_symbols, market)

    def run_simulation(
        self, session_id: str, strategy: object, *, max_pending_ticks: int = 1, progress: Progress | None = None
    ) -> SimulationResult:
        """See `SessionClient.run_simulation` (the strategy runs on the client's thread)."""
        return self._call(
            self._async.run_simulation, session_id, strategy, max_pending_ticks=max_pending_ticks, progress=progress
        )

    def simulate(
        self, session_id: str, *, max_pending_ticks: int = 1, progress: Progress | None = None
    ) -> SyncRemoteSimulation:
        """See `SessionClient.simulate`: ``for tick in client.simulate(id): ...`` then ``.result()``."""
        driver = RemoteDriver(self._async, session_id, max_pending_ticks=max_pending_ticks, progress=progress)
        simulation = RemoteSimulation(driver)
        self._call(simulation.start)
        return SyncRemoteSimulation(self, simulation)

    def pause_simulation(self, session_id: str) -> dict[str, Any]:
        """See `SessionClient.pause_simulation`."""
        return self._call(self._async.pause_simulation, session_id)

    def resume_simulation(self, session_id: str) -> dict[str, Any]:
        """See `SessionClient.resume_simulation`."""
        return self._call(self._async.resume_simulation, session_id)

    def query_positions(self, session_id: str) -> dict[str, Any]:
        """See `SessionClient.query_positions`."""
        return self._call(self._async.query_positions, session_id)

    def get_results(self, session_id: str) -> SimulationResult:
        """See `SessionClient.get_results`."""
        return self._call(self._async.get_results, session_id)

    def close(self) -> None:
        """Close the connection and stop the background thread."""
        if self._stop is not None and self._token_trio is not None and self._thread.is_alive():
            with contextlib.suppress(trio.RunFinishedError):  # the loop already ended
                trio.from_thread.run_sync(self._stop.set, trio_token=self._token_trio)
        self._thread.join(timeout=10)

    def __enter__(self) -> SyncSessionClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class SyncRemoteSimulation:
    """`simutrador_ws.remote.RemoteSimulation` for `SyncSessionClient`: a plain iterator over ticks."""

    def __init__(self, client: SyncSessionClient, simulation: RemoteSimulation) -> None:
        self._client = client
        self._simulation = simulation
        self._ticks = simulation.__aiter__()

    @property
    def ctx(self) -> StrategyContext:
        """The context (account, orders, bars) of the current tick."""
        return self._simulation.ctx

    @property
    def fills(self) -> list[Fill]:
        """Every fill so far."""
        return self._simulation.fills

    def buy(self, symbol: str, quantity: object, **prices: Any) -> str:
        """Hold a buy order for the current tick; its id."""
        return self._simulation.buy(symbol, quantity, **prices)

    def sell(self, symbol: str, quantity: object, **prices: Any) -> str:
        """Hold a sell order for the current tick; its id."""
        return self._simulation.sell(symbol, quantity, **prices)

    def cancel(self, order_id: str) -> None:
        """Hold a cancel for the current tick."""
        self._simulation.cancel(order_id)

    def __iter__(self) -> SyncRemoteSimulation:
        return self

    def __next__(self) -> Tick:
        try:
            return self._client._call(self._ticks.__anext__)  # pyright: ignore[reportPrivateUsage]
        except StopAsyncIteration:
            raise StopIteration from None

    def result(self) -> SimulationResult:
        """The result (once every tick has been iterated)."""
        return self._client._call(self._simulation.result)  # pyright: ignore[reportPrivateUsage]

    def close(self) -> None:
        """Stop iterating (the run stays where it is on the server); iterating again is not possible."""
        self._client._call(self._ticks.aclose)  # pyright: ignore[reportPrivateUsage]

    def __enter__(self) -> SyncRemoteSimulation:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
