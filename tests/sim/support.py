"""
Helpers for the simulator tests: a simulator on a fake clock behind ``StubTreq``, and an
OKX-style signed request function that sends exactly the bytes it signs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from treq.testing import StubTreq
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from fmzokx.okx.rest.signing import encode_body, format_timestamp, sign
from fmzokx.sim import DEFAULT_ACCOUNT, SimAccount, Simulator

#: Tuesday 2025-11-25 12:00:00.250 UTC: a fixed, realistic starting time.
START = 1_764_072_000.25


class Harness:
    """A simulator, its clock and a StubTreq over its resource."""

    def __init__(self, start: float = START, **kwargs: Any) -> None:
        self.clock = Clock()
        self.clock.advance(start)
        kwargs.setdefault("rate_limits", False)
        self.sim = Simulator(self.clock, **kwargs)
        self.stub = StubTreq(self.sim.resource())

    def settle(self, deferred: Deferred[Any]) -> list[Any]:
        """Flush the in-memory connection; return ``[result]`` once ``deferred`` fired."""
        outcome: list[Any] = []
        deferred.addBoth(outcome.append)
        self.stub.flush()
        return outcome

    def raw(
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Deferred[tuple[int, bytes]]:
        """Send a request; the Deferred fires with ``(status, body bytes)``."""
        d = self.stub.request(
            method, "http://okxsim.test" + target, headers=dict(headers or {}), data=body
        )

        def read(response: Any) -> Deferred[tuple[int, bytes]]:
            content: Deferred[bytes] = response.content()
            return content.addCallback(lambda data: (response.code, data))

        return d.addCallback(read)

    def raw_status(self, target: str) -> int:
        """The status of an unsigned GET of ``target`` (no fake time passes)."""
        (result,) = self.settle(self.raw("GET", target))
        if isinstance(result, Failure):
            result.raiseException()
        status: int = result[0]
        return status

    def send(
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Any]:
        """Send and wait (no fake time passes); return ``(status, parsed JSON)``."""
        outcome = self.settle(self.raw(method, target, body, headers))
        assert outcome, f"{method} {target} did not answer"
        result = outcome[0]
        if isinstance(result, Failure):
            result.raiseException()
        status, data = result
        return status, json.loads(data)

    def headers(
        self,
        method: str,
        target: str,
        body: bytes,
        account: SimAccount = DEFAULT_ACCOUNT,
        timestamp: str | None = None,
    ) -> dict[str, str]:
        """OKX auth headers signing exactly ``target`` and ``body``."""
        stamp = timestamp if timestamp is not None else format_timestamp(self.clock.seconds())
        return {
            "OK-ACCESS-KEY": account.key,
            "OK-ACCESS-PASSPHRASE": account.passphrase,
            "OK-ACCESS-TIMESTAMP": stamp,
            "OK-ACCESS-SIGN": sign(account.secret, stamp, method, target, body),
            "Content-Type": "application/json",
        }

    def get(self, target: str, private: bool = True) -> tuple[int, Any]:
        """A (signed) GET of ``target`` (path plus query, exactly as sent)."""
        headers = self.headers("GET", target, b"") if private else {}
        return self.send("GET", target, None, headers)

    def post(self, path: str, payload: Any) -> tuple[int, Any]:
        """A signed POST of ``payload`` serialised compactly."""
        body = encode_body(payload)
        return self.send("POST", path, body, self.headers("POST", path, body))

    def ok(self, target: str, private: bool = True) -> list[Any]:
        """GET that must succeed; returns ``data``."""
        status, body = self.get(target, private)
        assert (status, body["code"]) == (200, "0"), body
        data: list[Any] = body["data"]
        return data

    def order(self, **params: Any) -> dict[str, Any]:
        """Place one order; return the result item (whatever its sCode)."""
        status, body = self.post("/api/v5/trade/order", params)
        assert status == 200, body
        item: dict[str, Any] = body["data"][0]
        return item

    def placed(self, **params: Any) -> str:
        """Place one order that must be accepted; return its ordId."""
        item = self.order(**params)
        assert item["sCode"] == "0", item
        ord_id: str = item["ordId"]
        return ord_id

    def details(self, inst_id: str, ord_id: str) -> dict[str, Any]:
        """GET /trade/order."""
        (order,) = self.ok(f"/api/v5/trade/order?instId={inst_id}&ordId={ord_id}")
        result: dict[str, Any] = order
        return result

    def balances(self) -> dict[str, dict[str, str]]:
        """``details`` of GET /account/balance keyed by currency."""
        (account,) = self.ok("/api/v5/account/balance")
        return {row["ccy"]: row for row in account["details"]}
