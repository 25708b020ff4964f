"""
The whole daemon in memory:
okxsim <- real OkxClient <- OkxApi <- CallContext <- RpcServer <- "docker".

Every layer is the production code; only the transports are in-memory
(``RequestTraversalAgent``) and time is a :class:`Clock`, so a test can place an order,
let the simulated market move for an hour, and read the fill -- in milliseconds.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from treq.client import HTTPClient
from treq.testing import RequestTraversalAgent
from twisted.internet.task import Clock

from fmzokx.fmz.context import CallContext
from fmzokx.fmz.methods import default_registry
from fmzokx.fmz.resource import RpcServer
from fmzokx.okx.api import OkxApi
from fmzokx.okx.errors import OkxError
from fmzokx.okx.rest.client import OkxClient
from fmzokx.okx.rest.retry import RetryPolicy
from fmzokx.okx.rest.transport import BytesProducer
from fmzokx.okx.stream.privatesessions import PrivateSessions
from fmzokx.okx.stream.streams import StreamSet
from fmzokx.sim import DEFAULT_ACCOUNT, SimAccount, SimSettings, Simulator
from tests.helpers import advance, drive, flush
from tests.sim.ws_support import WsLink

START = 1_795_600_000.0  # 2026-11-25, so futures aliases and timestamps look real
KEY = DEFAULT_ACCOUNT.key
SECRET_KEY = f"{DEFAULT_ACCOUNT.secret},{DEFAULT_ACCOUNT.passphrase}"


class Stack:
    """
    okxsim + client + OKX domain layer + RPC server, in memory, on one fake clock; with
    ``market_data="ws"`` also the WebSocket market-data copies connected to okxsim.
    """

    def __init__(
        self,
        *,
        seed: int = 1,
        rate_limits: bool = False,
        accounts: tuple[SimAccount, ...] = (DEFAULT_ACCOUNT,),
        market_data: str = "rest",
        sim_settings: SimSettings | None = None,
        stream_options: dict[str, Any] | None = None,
        private_stream: bool = False,
        private_options: dict[str, Any] | None = None,
        metrics: Any = None,
        **client_options: Any,
    ):
        self.clock = Clock()
        self.clock.advance(START)
        self.sim = Simulator(
            self.clock, seed=seed, rate_limits=rate_limits, accounts=accounts, journal_size=1000,
            settings=sim_settings,
        )
        self.okx_agent = RequestTraversalAgent(self.sim.resource())
        client_options.setdefault("retry", RetryPolicy(rng=random.Random(seed)))
        if metrics is not None:  # the client is built with its metrics (fixed after)
            client_options["metrics"] = metrics
        self.client = OkxClient(
            http=HTTPClient(self.okx_agent, data_to_body_producer=BytesProducer),
            clock=self.clock,
            base_url="https://www.okx.com",
            **client_options,
        )
        # --market-data ws: the WebSocket copies, connected to okxsim's site in memory.
        self.streams: StreamSet | None = None
        self.ws_link: WsLink | None = None
        stubs: list[Any] = [self.okx_agent]
        if market_data == "ws":
            self.ws_link = WsLink(self.sim, self.clock, paced=True)
            base = "ws://127.0.0.1:8443"
            self.streams = StreamSet(
                self.clock, base, base, self.ws_link.connect, rng=random.Random(seed),
                **(stream_options or {}),
            )
            self.streams.start()
            stubs.append(self.ws_link)
        # --private-stream on: each key's private WebSocket copy, connected to okxsim.
        self.private: PrivateSessions | None = None
        if private_stream:
            if self.ws_link is None:
                self.ws_link = WsLink(self.sim, self.clock, paced=True)
                stubs.append(self.ws_link)
            base = "ws://127.0.0.1:8443"
            # As makeService: one connection limiter (OKX's is per IP) with the market data.
            limiter = None if self.streams is None else self.streams.limiter
            self.private = PrivateSessions(
                self.clock, self.client, base, base, self.ws_link.connect,
                rng=random.Random(seed), limiter=limiter, **(private_options or {}),
            )
            self.private.start()
        self.okx = OkxApi(self.client, self.clock, streams=self.streams, private=self.private)
        self.context = CallContext(self.okx, self.clock)
        self.server = RpcServer(
            registry=default_registry(),
            context=self.context,
            clock=self.clock,
            public_errors=(OkxError,),
            call_scope=self.client.read_scope,
        )
        if metrics is not None:
            self.server.metrics = metrics
            self.okx.placer.metrics = metrics
        self.rpc_agent = RequestTraversalAgent(self.server.resource())
        self.rpc = HTTPClient(self.rpc_agent, data_to_body_producer=BytesProducer)
        self.stubs = (*stubs, self.rpc_agent)
        self._nonce = itertools.count(1_730_275_031_047_002_000, 1000)

    def flush(self) -> None:
        flush(self.stubs)

    def advance(self, seconds: float, step: float = 0.05) -> None:
        """Let fake time pass (the simulated market moves), flushing transports."""
        advance(self.clock, seconds, stubs=self.stubs, step=step)

    def run(self, work: Any, limit: float = 120.0) -> Any:
        """Run a Deferred/coroutine to completion in fake time."""
        return drive(work, clock=self.clock, stubs=self.stubs, limit=limit)

    def envelope(
        self, method: str, params: dict[str, Any] | None = None, *, keys: bool = True,
        nonce: int | None = None, secret_key: str | None = None,
    ) -> dict[str, Any]:
        return {
            "access_key": KEY if keys else "",
            "secret_key": (secret_key or SECRET_KEY) if keys else "",
            "method": method,
            "params": params or {},
            "nonce": next(self._nonce) if nonce is None else nonce,
        }

    def post(self, body: dict[str, Any] | bytes, headers: dict[str, str] | None = None,
             limit: float = 120.0) -> Any:
        """POST to the RPC resource; return the decoded JSON reply."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()

        async def go() -> Any:
            response = await self.rpc.post(
                "http://127.0.0.1:6666/OKX", data=data,
                headers={k: [v] for k, v in (headers or {}).items()},
            )
            content = await response.content()
            return json.loads(content, parse_float=Decimal)

        return self.run(go(), limit=limit)

    def start_all(self, envelopes: Iterable[dict[str, Any]]) -> list[list[Any]]:
        """Send docker calls in one instant; each box gets its decoded reply when it comes
        (a :class:`~twisted.python.failure.Failure` if the call itself failed)."""
        boxes: list[list[Any]] = []
        for envelope in envelopes:
            d = self.rpc.post("http://127.0.0.1:6666/OKX", data=json.dumps(envelope).encode())
            d.addCallback(lambda response: response.content())
            d.addCallback(lambda content: json.loads(content, parse_float=Decimal))
            box: list[Any] = []
            d.addBoth(box.append)
            boxes.append(box)
        self.flush()
        return boxes

    def answers(self, boxes: list[list[Any]], limit: float = 30.0) -> list[Any]:
        """Let fake time pass until every call in ``boxes`` is answered; their replies."""
        waited = 0.0
        while not all(boxes):
            assert waited < limit, "some calls were never answered"
            self.advance(0.05)
            waited += 0.05
        return [box[0] for box in boxes]

    def at_once(self, envelopes: Iterable[dict[str, Any]], limit: float = 30.0) -> list[Any]:
        """Docker calls sent in one instant; their replies once all are answered."""
        return self.answers(self.start_all(envelopes), limit)

    def call(self, method: str, keys: bool = True, headers: dict[str, str] | None = None,
             nonce: int | None = None, **params: Any) -> Any:
        """One docker call with string params (as the docker sends them)."""
        as_strings = {k: v if isinstance(v, str) else str(v) for k, v in params.items()}
        return self.post(self.envelope(method, as_strings, keys=keys, nonce=nonce), headers)

    def ok(self, method: str, **params: Any) -> Any:
        """A call that must succeed: returns the reply (data and raw)."""
        reply = self.call(method, **params)
        assert "error" not in reply, reply
        return reply

    def place(self, symbol: str, side: str, price: Any, amount: Any, **extra: Any) -> str:
        """A trade that must succeed: returns the order id (INSTID,ORDID)."""
        reply = self.ok("trade", symbol=symbol, type=side, price=str(price), amount=str(amount),
                        **extra)
        order_id: str = reply["data"]["id"]
        return order_id

    def error(self, method: str, **params: Any) -> str:
        """A call that must fail: returns the error message."""
        reply = self.call(method, **params)
        assert set(reply) == {"error"}, reply
        message: str = reply["error"]
        return message


def seeded(seed: int) -> random.Random:
    return random.Random(seed)
