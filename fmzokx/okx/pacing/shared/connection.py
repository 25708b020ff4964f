# -*- test-case-name: tests.okx.sharedbudget.test_redis -*-
"""
One connection to the Redis server that holds the shared budget.

:mod:`txredisapi` speaks Redis's protocol; this module owns the connection around it,
on the injected reactor: the endpoint (TCP, or TLS verified against the system's trust
store or a CA bundle), a connect deadline that also covers ``AUTH`` and ``SELECT``,
reconnection (:class:`ClientService`) on the daemon's reconnect schedule
(:class:`fmzokx.backoff.Backoff`: exponential, capped, equal jitter), and scripts
run with ``EVALSHA``, loaded with ``SCRIPT LOAD`` on every new connection and again when
Redis answers ``NOSCRIPT`` (it restarted or flushed its script cache).

A command is only ever sent on a connection that is ready; without one it fails at
once with :class:`RedisUnavailable`, so a caller never waits for a reconnection.
Deadlines per command are the caller's business (see
:mod:`~fmzokx.okx.pacing.shared.slots`). Neither the password nor the commands' arguments
reach a log line or an error.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from attrs import define, field
from twisted.application.internet import ClientService
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.interfaces import IDelayedCall, IProtocolFactory, IStreamClientEndpoint
from twisted.internet.protocol import Factory
from twisted.internet.ssl import optionsForClientTLS, platformTrust
from twisted.python.failure import Failure
from zope.interface import implementer

from fmzokx.backoff import Backoff
from fmzokx.logs import logger
from fmzokx.okx.pacing.shared.script import Script
from fmzokx.okx.pacing.shared.url import RedisTarget
from fmzokx.okx.rest.transport import load_trust_root

__all__ = ["RedisConnection", "RedisUnavailable"]

log = logger(__name__)


class RedisUnavailable(Exception):
    """No usable connection to the shared-state Redis (the text names no secret)."""


def _redis() -> Any:
    # txredisapi imports the global reactor when it is imported: keep that out of
    # module import time, like every other reactor-touching import in the package.
    import txredisapi

    return txredisapi


class _Factory(Factory):
    """
    Builds txredisapi's protocol for :class:`ClientService`, and answers the few calls
    that protocol makes on its factory when ``AUTH`` or ``SELECT`` fails.
    """

    noisy = False

    def __init__(self, owner: RedisConnection) -> None:
        self.owner = owner
        self.isLazy = False

    def buildProtocol(self, addr: Any) -> Any:
        owner = self.owner
        target = owner.target
        protocol = _redis().RedisProtocol(
            charset="utf-8",
            password=target.password,
            username=target.username,
            dbid=target.db,
            convertNumbers=True,
            replyTimeout=None,
        )
        protocol.factory = self
        protocol.callLater = owner.reactor.callLater
        connection_lost = protocol.connectionLost
        set_up_deadline = owner._setting_up(protocol)

        def lost(reason: Failure) -> None:
            if set_up_deadline.active():
                set_up_deadline.cancel()
            try:
                connection_lost(reason)
            finally:
                # The reason (a TLS verification error, a reset) is only seen here; it
                # outranks txredisapi's "could not auth: Lost connection" that follows.
                owner._note_lost(protocol, reason)

        protocol.connectionLost = lost
        return protocol

    def stopTrying(self) -> None:
        """Called after a refused AUTH/SELECT: keep retrying with backoff (it may be fixed)."""

    def connectionError(self, message: str) -> None:
        self.owner._note_error(message)


@implementer(IStreamClientEndpoint)
class _NotingEndpoint:
    """Remembers why a connection attempt failed (refused, timed out) for health."""

    def __init__(self, inner: IStreamClientEndpoint, owner: RedisConnection) -> None:
        self._inner = inner
        self._owner = owner

    def connect(self, factory: IProtocolFactory) -> Deferred[Any]:
        def note(failure: Failure) -> Failure:
            self._owner._note_error(_describe(failure.value))
            self._owner._backoff.failed()
            return failure

        connecting: Deferred[Any] = self._inner.connect(factory)
        return connecting.addErrback(note)


@define(eq=False)
class RedisConnection:
    """
    A self-healing connection to ``target``; :meth:`run` sends a script on it.

    :ivar connect_timeout: seconds for TCP, TLS, ``AUTH`` and ``SELECT`` together.
    :ivar min_backoff: the first reconnection delay's ceiling; doubles after each failed
        attempt in a row up to ``max_backoff``, each delay drawn from the ceiling's upper
        half.
    :ivar ca_bundle: PEM file of CAs to trust for ``rediss://`` instead of the system's.
    """

    reactor: Any
    target: RedisTarget
    scripts: Sequence[Script] = ()
    connect_timeout: float = 2.0
    min_backoff: float = 0.1
    max_backoff: float = 2.0
    ca_bundle: str | None = None
    rng: random.Random = field(factory=random.Random)
    on_ready: Callable[[], None] | None = None
    last_error: str = ""
    connects: int = 0
    _protocol: Any = None
    _service: ClientService | None = None
    _backoff: Backoff = field(init=False)

    def __attrs_post_init__(self) -> None:
        self._backoff = Backoff(base=self.min_backoff, cap=self.max_backoff, rng=self.rng)

    @property
    def ready(self) -> bool:
        """A connection is up, authenticated and has the scripts loaded."""
        return self._protocol is not None and bool(self._protocol.connected)

    def start(self) -> None:
        """Start connecting (and reconnecting whenever the connection is lost)."""
        if self._service is not None:
            return
        service = self._service = ClientService(
            self._endpoint(),
            _Factory(self),
            retryPolicy=self._retry_delay,
            clock=self.reactor,
        )
        service.startService()

    def stop(self) -> Deferred[None]:
        """Close the connection and stop reconnecting."""
        service, self._service = self._service, None
        self._protocol = None
        if service is None:
            return succeed(None)
        result: Deferred[None] = service.stopService()
        return result

    def run(self, script: Script, keys: Sequence[str], args: Sequence[str]) -> Deferred[Any]:
        """
        ``EVALSHA`` ``script``; on ``NOSCRIPT``, ``SCRIPT LOAD`` it and try once more.

        Fails at once with :class:`RedisUnavailable` when no connection is ready; with
        txredisapi's ``ResponseError`` when Redis refuses the script.
        """
        protocol = self._protocol
        if protocol is None or not protocol.connected:
            return fail(RedisUnavailable(self._why_down()))
        redis = _redis()

        def reload(failure: Failure) -> Deferred[Any]:
            failure.trap(redis.ScriptDoesNotExist)
            loaded: Deferred[Any] = protocol.script_load(script.source)
            return loaded.addCallback(lambda _: protocol.evalsha(script.sha, keys, args))

        result: Deferred[Any] = protocol.evalsha(script.sha, list(keys), list(args))
        return result.addErrback(reload).addErrback(_lost_is_unavailable)

    def ping(self) -> Deferred[Any]:
        """``PING`` on the ready connection (fails at once without one)."""
        protocol = self._protocol
        if protocol is None or not protocol.connected:
            return fail(RedisUnavailable(self._why_down()))
        result: Deferred[Any] = protocol.ping()
        return result.addErrback(_lost_is_unavailable)

    def drop(self) -> None:
        """Abort the current connection (it stopped answering); a new one follows."""
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.abortConnection()

    # -- internals -----------------------------------------------------------------

    def _why_down(self) -> str:
        where = self.target.display()
        if self.last_error:
            return f"no connection to {where} ({self.last_error})"
        return f"no connection to {where} yet"

    def _note_error(self, message: str) -> None:
        # txredisapi's messages quote Redis's reply ("WRONGPASS ..."), never the password.
        self.last_error = message.replace("Redis error: ", "")[:200]

    def _note_lost(self, protocol: Any, reason: Failure) -> None:
        if self._protocol is protocol:
            self._protocol = None
            self.last_error = "connection lost"
        else:
            self._backoff.failed()
            if reason.value is not None and not _is_clean_close(reason.value):
                self.last_error = _describe(reason.value)

    def _retry_delay(self, attempt: int) -> float:
        # ClientService counts only failed TCP connects; a connection that opens and
        # is then refused (AUTH, TLS, a frozen server) must back off as well, so the
        # failures in a row are counted here, every kind of them.
        return self._backoff.delay(max(attempt, self._backoff.failures))

    def _endpoint(self) -> Any:
        target = self.target
        timeout = max(1, int(self.connect_timeout + 0.999))
        endpoint: Any = HostnameEndpoint(self.reactor, target.host, target.port, timeout=timeout)
        if target.tls:
            trust = load_trust_root(self.ca_bundle) if self.ca_bundle else platformTrust()
            endpoint = wrapClientTLS(optionsForClientTLS(target.host, trustRoot=trust), endpoint)
        return _NotingEndpoint(endpoint, self)

    def _setting_up(self, protocol: Any) -> IDelayedCall:
        """
        A new connection: usable once ``AUTH``/``SELECT`` succeeded and the scripts are
        loaded, all within the connect deadline; otherwise it is dropped (and the next
        attempt backs off further).

        Not :class:`ClientService`'s ``prepareConnection``: a connection refused there
        and closed afterwards trips its state machine (``NoTransition`` in Twisted
        24-25), so the set-up is tracked here and a failed one simply aborted. Nor
        :func:`fmzokx.deferreds.with_deadline`: nobody waits on the set-up, the deadline
        ends the connection (aborts its transport) rather than a wait, and the
        connection's loss stops it (``_Factory.buildProtocol``); the txredisapi calls in
        flight then fail with the connection instead of being cancelled.
        """
        seconds = self.connect_timeout

        def expire() -> None:
            if self._protocol is not protocol:
                self._note_error(f"not ready within {seconds:g} s")
                self._abort(protocol)

        timer: IDelayedCall = self.reactor.callLater(seconds, expire)

        async def set_up() -> None:
            await protocol.whenConnected()
            for script in self.scripts:
                await protocol.script_load(script.source)
            if timer.active() and protocol.connected:
                timer.cancel()
                self._ready(protocol)

        def failed(failure: Failure) -> None:
            self._note_error(_describe(failure.value))
            self._abort(protocol)

        Deferred.fromCoroutine(set_up()).addErrback(failed)
        return timer

    def _abort(self, protocol: Any) -> None:
        self._backoff.failed()
        transport = protocol.transport
        if transport is not None:
            transport.abortConnection()

    def _ready(self, protocol: Any) -> None:
        self._protocol = protocol
        self._backoff.reset()
        self.connects += 1
        self.last_error = ""
        if self.on_ready is not None:
            self.on_ready()


def _lost_is_unavailable(failure: Failure) -> Failure:
    """txredisapi's "Lost connection" is no connection, like any other."""
    if failure.check(_redis().ConnectionError):
        return Failure(RedisUnavailable("connection lost"))
    return failure


def _is_clean_close(error: BaseException) -> bool:
    from twisted.internet.error import ConnectionDone

    return isinstance(error, ConnectionDone)


def _describe(error: BaseException | None) -> str:
    """A short, secret-free account of a failure (Redis's replies quote no password)."""
    if error is None:
        return "unknown error"
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    name = type(error).__name__
    return f"{name}: {text[:120]}" if text else name
