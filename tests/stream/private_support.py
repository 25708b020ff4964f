"""
The whole daemon with ``--private-stream on`` against okxsim (REST and its private
WebSocket in memory), and a REST-only twin of it reading the same okxsim state, so a test
can ask both and compare the FMZ replies field for field.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from treq.client import HTTPClient
from treq.testing import RequestTraversalAgent

from fmzokx.fmz.context import CallContext
from fmzokx.fmz.methods import default_registry
from fmzokx.fmz.resource import RpcServer
from fmzokx.okx.api import OkxApi
from fmzokx.okx.credentials import Credentials
from fmzokx.okx.endpoints import PLACE_ORDER
from fmzokx.okx.errors import OkxError
from fmzokx.okx.rest.transport import BytesProducer
from fmzokx.okx.stream.privatesession import PrivateSession
from fmzokx.sim import DEFAULT_ACCOUNT
from tests.stack import KEY, Stack

#: Fields of a REST reply that say when it was made, not what it says: the balance
#: object's ``uTime`` is the time of the read at okxsim (at OKX: of the account's last
#: update), so a copy made by a push carries the push's time.
VOLATILE = ("uTime",)

#: What the twin is asked, after every step.
READS: tuple[tuple[str, dict[str, str]], ...] = (
    ("accounts", {}),
    ("assets", {}),
    ("positions", {}),
    ("positions", {"symbol": "BTC_USDT.swap"}),
    ("orders", {}),
    ("orders", {"symbol": "BTC_USDT"}),
)

#: The copy's counter for each FMZ method (the OKX read behind it).
COUNTED = {"accounts": "balance", "assets": "balance", "positions": "positions",
           "orders": "orders", "order": "order"}


class PrivateStack(Stack):
    """:class:`Stack` with the private stream on, and :meth:`rest` asking a REST-only twin."""

    def __init__(self, **options: Any) -> None:
        options.setdefault("private_stream", True)
        super().__init__(**options)
        twin = OkxApi(self.client, self.clock, placer=self.okx.placer)
        server = RpcServer(
            registry=default_registry(),
            context=CallContext(twin, self.clock),
            clock=self.clock,
            public_errors=(OkxError,),
            call_scope=self.client.read_scope,
        )
        self.twin_agent = RequestTraversalAgent(server.resource())
        self.twin = HTTPClient(self.twin_agent, data_to_body_producer=BytesProducer)
        self.stubs = (*self.stubs, self.twin_agent)

    @property
    def session(self) -> PrivateSession:
        assert self.private is not None
        (session,) = self.private.sessions.values()
        return session

    def rest(self, method: str, **params: str) -> Any:
        """The same docker call answered by the REST-only twin."""
        body = json.dumps(self.envelope(method, params)).encode()

        async def go() -> Any:
            response = await self.twin.post("http://127.0.0.1:6666/OKX", data=body)
            return json.loads(await response.content(), parse_float=Decimal)

        return self.run(go())

    def from_copy(self, method: str, **params: str) -> Any:
        """A docker call that must be answered from the private copy."""
        assert self.private is not None
        counter = COUNTED[method]
        before = self.private.stats.from_copy(counter)
        reply = self.ok(method, **params)
        assert self.private.stats.from_copy(counter) == before + 1, (
            method, params, self.private.stats.answers
        )
        return reply

    def below_market(self) -> Decimal:
        """A BTC_USDT buy price 10 % under the last trade: the order rests."""
        last = Decimal(self.ok("ticker", symbol="BTC_USDT")["data"]["last"])
        return (last * Decimal("0.9")).quantize(Decimal("0.1"))

    def resting_buy(self) -> dict[str, str]:
        """OKX's body for a small BTC-USDT limit buy that rests (see :meth:`below_market`)."""
        return {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit",
                "px": str(self.below_market()), "sz": "0.01"}

    def direct(self, path: str, body: dict[str, str]) -> Any:
        """
        A signed POST with the stack's key straight to okxsim, not through the daemon's
        calls: someone else's order or cancel on the account (the daemon learns of it only
        from pushes and REST). Returns OKX's reply.
        """
        credentials = Credentials(KEY, DEFAULT_ACCOUNT.secret, DEFAULT_ACCOUNT.passphrase)

        async def go() -> Any:
            return await self.client.post(path, body, credentials=credentials)

        return self.run(go())

    def place_directly(self, body: dict[str, str]) -> str:
        """:meth:`direct` to OKX's place-order path: the new order's ``ordId``."""
        return str(self.direct(PLACE_ORDER.path, body).data[0]["ordId"])

    def warm(self) -> None:
        """Open the key's session and wait until its copy answers."""
        self.ok("accounts")
        for _ in range(200):
            self.advance(0.05)
            if self.session.state == "live" and self.session.unusable("accounts") is None:
                return
        raise AssertionError(f"the private session never went live: {self.session.health()}")

    def settled(self) -> None:
        """
        Wait for a regular ``account`` and ``positions`` push (a snapshot) early in a
        market second, so that REST, asked right after, prices the account at the same mark
        as the copy (between snapshots the copy has every event but the mark of the last).
        """
        session = self.session
        start = dict(session.snapshots)
        for _ in range(400):
            self.advance(0.05)
            fresh = all(session.snapshots[ch] > start[ch] for ch in ("account", "positions"))
            if fresh and self.clock.seconds() % 1 < 0.3 and not session.barriers:
                return
            if fresh and self.clock.seconds() % 1 >= 0.3:
                start = dict(session.snapshots)
        raise AssertionError(f"no regular push early in a second: {session.health()}")


def same_reply(copy: Any, rest: Any) -> None:
    """The FMZ replies are identical: ``data`` exactly, ``raw`` but for :data:`VOLATILE`."""
    assert "error" not in rest, rest
    assert copy["data"] == rest["data"]
    mine, theirs = _masked(copy["raw"]), _masked(rest["raw"])
    assert mine == theirs, _differences(mine, theirs)


def _differences(mine: Any, theirs: Any, where: str = "raw") -> list[str]:
    """Where two JSON values differ (for the failure message)."""
    if isinstance(mine, dict) and isinstance(theirs, dict):
        found = []
        for key in sorted(set(mine) | set(theirs)):
            found += _differences(mine.get(key), theirs.get(key), f"{where}.{key}")
        return found
    if isinstance(mine, list) and isinstance(theirs, list) and len(mine) == len(theirs):
        found = []
        for index, (a, b) in enumerate(zip(mine, theirs, strict=True)):
            found += _differences(a, b, f"{where}[{index}]")
        return found
    return [] if mine == theirs else [f"{where}: copy {mine!r}, REST {theirs!r}"]


def _masked(value: Any, depth: int = 0) -> Any:
    if isinstance(value, dict):
        top_balance = "details" in value
        return {
            key: ("*" if top_balance and key in VOLATILE else _masked(item, depth + 1))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_masked(item, depth + 1) for item in value]
    return value


__all__ = ["KEY", "PrivateStack", "READS", "same_reply"]
