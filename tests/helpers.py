"""
Small helpers shared by the reactor-free tests.

``drive`` runs a coroutine or Deferred to completion against a :class:`Clock` and a
:class:`StubTreq`, flushing in-memory transports and advancing fake time until it fires,
so tests read top to bottom like synchronous code.
"""

from __future__ import annotations

import json
from collections.abc import Coroutine
from typing import Any

from treq.testing import StubTreq
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure


def drive(
    work: Deferred[Any] | Coroutine[Any, Any, Any],
    *,
    clock: Clock | None = None,
    stubs: tuple[StubTreq, ...] = (),
    step: float = 0.05,
    limit: float = 600.0,
) -> Any:
    """
    Run ``work`` until it fires, flushing ``stubs`` and advancing ``clock`` by ``step``.

    Returns the result, or raises the failure's exception. Fails the test if ``work``
    has not fired after ``limit`` seconds of fake time.
    """
    deferred = work if isinstance(work, Deferred) else ensureDeferred(work)
    outcome: list[Any] = []
    deferred.addBoth(outcome.append)
    elapsed = 0.0
    while True:
        for stub in stubs:
            stub.flush()
        if outcome:
            break
        if clock is None or elapsed >= limit:
            raise AssertionError(f"work did not finish (after {elapsed:.2f} s of fake time)")
        clock.advance(step)
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
