# -*- test-case-name: tests.test_service -*-
"""
The daemon's long-running parts as Twisted services.

:class:`GatewayService` owns the OKX client's life (clock sync timer, pool), the
instrument refresh timer, and graceful shutdown: on SIGTERM it stops new calls, lets
the calls in flight finish (each bounded by its own deadline), then closes the client.
:class:`SandboxService` runs okxsim on a loopback port inside the daemon and points the
client at it.
"""

from __future__ import annotations

from typing import Any

from attrs import define, field
from twisted.application.service import Service
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.task import LoopingCall

from fmzokx.logs import logger
from fmzokx.okx.client import OkxClient
from fmzokx.protocol.gateway import Gateway
from fmzokx.protocol.resource import RpcServer

__all__ = ["GatewayService", "SandboxService", "health_document"]

log = logger(__name__)

INSTRUMENT_REFRESH = 600.0
"""Seconds between instrument-list refreshes (new listings, changed tick sizes)."""


def health_document(server: RpcServer, client: OkxClient) -> dict[str, Any]:
    """``/healthz``: ok while OKX's clock has been reached, with the offset and load."""
    okx = client.health()
    reachable = bool(okx.get("clock_synced")) and not okx.get("clock_sync_error")
    return {
        "status": "ok" if reachable else "degraded",
        "okx": okx,
        "rpc_in_flight": server.inflight,
    }


@define(slots=False)
class GatewayService(Service):
    """Start the client and refresh timers; drain and close on stop."""

    gateway: Gateway
    server: RpcServer
    refresh_interval: float = INSTRUMENT_REFRESH
    _refresh: LoopingCall | None = field(default=None, init=False)

    def startService(self) -> None:
        super().startService()  # type: ignore[no-untyped-call]
        self.gateway.client.start()
        loop = self._refresh = LoopingCall(self._refresh_instruments)
        loop.clock = self.gateway.clock
        loop.start(self.refresh_interval, now=False)

    def _refresh_instruments(self) -> Deferred[None]:
        # refresh() logs and swallows its own failures, so the loop never stops.
        return ensureDeferred(self.gateway.instruments.refresh())

    def stopService(self) -> Deferred[None]:
        super().stopService()  # type: ignore[no-untyped-call]
        if self._refresh is not None and self._refresh.running:
            self._refresh.stop()
        return ensureDeferred(self._stop())

    async def _stop(self) -> None:
        inflight = self.server.inflight
        if inflight:
            log.info("shutting down: waiting for {count} call(s) in flight", count=inflight)
        await self.server.drain()
        await self.gateway.client.stop()
        log.info("shut down cleanly")


@define(slots=False)
class SandboxService(Service):
    """
    okxsim on ``127.0.0.1:<free port>`` in this process, the client pointed at it.

    Started before the RPC listeners, so the first docker call already reaches it.
    """

    simulator: Any
    client: OkxClient
    reactor: Any
    banner: str = ""
    _port: Any = field(default=None, init=False)

    def startService(self) -> None:
        from twisted.web.server import Site

        super().startService()  # type: ignore[no-untyped-call]
        site = Site(self.simulator.resource())
        site.log = lambda request: None  # type: ignore[method-assign]
        self._port = self.reactor.listenTCP(0, site, interface="127.0.0.1")
        self.client.base_url = f"http://127.0.0.1:{self._port.getHost().port}"
        log.info("{banner}", banner=self.banner.format(url=self.client.base_url))

    def stopService(self) -> Deferred[None] | None:
        super().stopService()  # type: ignore[no-untyped-call]
        if self._port is not None:
            result: Deferred[None] | None = self._port.stopListening()
            return result
        return None
