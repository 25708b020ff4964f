"""
Small helpers shared by the reactor-free tests, the one fake-clock driver, and the list the
log-capture fixtures fill.

In-memory HTTP (``StubTreq``, ``RequestTraversalAgent``) only moves bytes when flushed,
and timers only fire when a :class:`Clock` advances, so a test that lets time pass must do
both in turn. :func:`advance` lets a stretch of fake time pass in steps, flushing after
each; :func:`drive` runs a coroutine or Deferred to completion that way, so tests read top
to bottom like synchronous code. When a test knows exactly when something happens, it
should rather ``clock.advance(exactly)``, flush once and use ``successResultOf``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from treq.testing import StubTreq
from twisted.application.service import IService
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

_case = SynchronousTestCase()
#: ``successResultOf`` for plain pytest functions: the result of a Deferred that has fired.
success_result_of = _case.successResultOf
#: ``failureResultOf``: the Failure of a Deferred that has failed (optionally of a type).
failure_result_of = _case.failureResultOf


class Flushable(Protocol):
    """An in-memory transport: ``StubTreq`` or ``RequestTraversalAgent``."""

    def flush(self) -> None: ...


def flush(stubs: Sequence[Flushable]) -> None:
    """Deliver whatever the in-memory transports hold."""
    for stub in stubs:
        stub.flush()


def advance(
    clock: Clock, seconds: float, *, stubs: Sequence[Flushable] = (), step: float = 0.05
) -> None:
    """
    Let ``seconds`` of fake time pass, flushing ``stubs`` after every move, so that
    replies and timers interleave as they would in real time.

    Time jumps from timer to timer: once the transports are flushed nothing can happen
    before the next delayed call, so moving there at once changes nothing but the cost
    (a 400 s wait is a few dozen moves, not 8,000). ``step`` is kept for callers that
    still pass it; it no longer bounds a move.
    """
    target = clock.seconds() + seconds
    flush(stubs)
    while clock.seconds() < target - 1e-9:
        now = clock.seconds()
        pending = [call.getTime() for call in clock.getDelayedCalls() if call.active()]
        upcoming = min((at for at in pending if at > now), default=target)
        due = min(upcoming, target) if not any(at <= now for at in pending) else now
        clock.advance(max(0.0, due - now))
        flush(stubs)
    flush(stubs)


def drive(
    work: Deferred[Any] | Coroutine[Any, Any, Any],
    *,
    clock: Clock | None = None,
    stubs: Sequence[Flushable] = (),
    step: float = 0.05,
    limit: float = 600.0,
) -> Any:
    """
    Run ``work`` until it fires, flushing ``stubs`` and advancing ``clock`` by ``step``.

    Returns the result, or raises the failure's exception. Fails the test if ``work``
    has not fired after ``limit`` seconds of fake time (at once without a clock).
    """
    deferred = work if isinstance(work, Deferred) else ensureDeferred(work)
    outcome: list[Any] = []
    deferred.addBoth(outcome.append)
    elapsed = 0.0
    flush(stubs)
    while not outcome:
        if clock is None or elapsed >= limit:
            raise AssertionError(f"work did not finish (after {elapsed:.2f} s of fake time)")
        advance(clock, step, stubs=stubs, step=step)
        elapsed += step
    result = outcome[0]
    if isinstance(result, Failure):
        result.raiseException()
    return result


def post_json(
    stub: StubTreq,
    url: str,
    body: bytes | dict[str, Any],
    *,
    clock: Clock | None = None,
    headers: dict[bytes, list[bytes]] | None = None,
    method: str = "POST",
) -> tuple[int, dict[str, Any], Any]:
    """Send one request through ``stub``; return (status, headers, decoded JSON body)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")

    async def go() -> tuple[int, dict[str, Any], Any]:
        response = await stub.request(method, url, data=data, headers=headers)
        content = await stub.content(response)
        return (
            response.code,
            {
                key.decode().lower(): [v.decode() for v in values]
                for key, values in response.headers.getAllRawHeaders()
            },
            json.loads(content) if content else None,
        )

    result: tuple[int, dict[str, Any], Any] = drive(go(), clock=clock, stubs=(stub,))
    return result


class LogEvents(list[dict[str, Any]]):
    """
    The log events the ``captured`` or ``info_events`` fixture has seen so far, in order.
    """

    @contextmanager
    def during(self) -> Iterator[list[dict[str, Any]]]:
        """The events published inside the ``with`` block (all of them once it ends)."""
        block: list[dict[str, Any]] = []
        start = len(self)
        try:
            yield block
        finally:
            block.extend(self[start:])


async def real_sleep(seconds: float) -> None:
    """Wait ``seconds`` of real time on the running reactor (pytest-twisted tests only)."""
    from twisted.internet import reactor

    from fmzokx.deferreds import sleep

    await sleep(reactor, seconds)  # type: ignore[arg-type]


async def daemon_in_process(
    *arguments: str, prepare: Callable[[IService], None] | None = None
) -> tuple[IService, str]:
    """
    ``twistd fmzokx ARGUMENTS`` built by ``makeService`` and started in this process, on
    the running reactor (pytest-twisted tests only; a real process is
    :class:`tests.integration.processes.Daemon`): the started service tree, which the
    caller stops, and the RPC's base URL ``http://127.0.0.1:PORT``. ``prepare`` sees the
    tree before it starts (to set what no option sets).
    """
    from twisted.application.internet import StreamServerEndpointService

    from fmzokx.options import Options
    from fmzokx.tap import makeService

    options = Options()
    options.parseOptions(list(arguments))
    service = makeService(options)
    if prepare is not None:
        prepare(service)
    service.startService()
    try:
        (server,) = [s for s in service if isinstance(s, StreamServerEndpointService)]
        port = await server._waitingForPort  # type: ignore[attr-defined]
    except BaseException:
        await service.stopService()
        raise
    return service, f"http://127.0.0.1:{port.getHost().port}"


async def docker_call(url: str, method: str, **params: str) -> Any:
    """
    One docker call with the default okxsim account to a daemon on the running reactor
    (pytest-twisted tests only); its reply, which must be data, not an error.
    """
    import treq

    from fmzokx.sim import DEFAULT_ACCOUNT

    body = {
        "access_key": DEFAULT_ACCOUNT.key,
        "secret_key": f"{DEFAULT_ACCOUNT.secret},{DEFAULT_ACCOUNT.passphrase}",
        "method": method,
        "params": params,
        "nonce": 1,
    }
    response = await treq.post(url, data=json.dumps(body).encode(), persistent=False)
    assert response.code == 200
    reply = await response.json()
    assert "error" not in reply, reply
    return reply
