"""
A small scripted OKX for the client's tests, for what the simulator does not do.

The simulator (:mod:`fmzokx.sim`) models the exchange; these tests also need an upstream
that misbehaves at the byte level on cue: answers with chosen statuses and bodies, stops
halfway through a body, or pages a list of a chosen length. :class:`FakeOkx` is a plain
:class:`~twisted.web.resource.Resource` that verifies signatures exactly as OKX does
(raw request-target and raw body, ±30 s window against its own skewed clock), records
every request with the time it arrived, and plays queued behaviours per path.
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

from attrs import define, field
from twisted.internet.interfaces import IReactorTime
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from fmzokx.okx.signing import parse_timestamp, verify

KEY = "fake-key-0123456789"
SECRET = "fake-secret-ABCDEF0123456789"
PASSPHRASE = "fake-passphrase-42"


@define
class Seen:
    """One request as it arrived."""

    method: str
    target: bytes
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def query(self) -> bytes:
        return self.target.partition(b"?")[2]


Reply = tuple[int, Any]
Handler = Callable[[Seen], Reply]


@define
class Behaviour:
    """A scripted answer: ``kind`` is reply, raw, hang, stall or delay (the normal answer
    after ``seconds``)."""

    kind: str
    status: int = 200
    payload: Any = None
    raw: bytes = b""
    headers: dict[str, str] = field(factory=dict)
    seconds: float = 0.0


def envelope(data: list[Any], code: str = "0", msg: str = "") -> dict[str, Any]:
    return {"code": code, "msg": msg, "data": data}


@define
class FakeOkx(Resource):
    """
    :ivar skew: seconds added to the clock to get this server's time.
    :ivar orders: the orders served by ``orders-pending``, newest first.
    """

    clock: IReactorTime
    skew: float = 0.0
    secret: str = SECRET
    passphrase: str = PASSPHRASE
    key: str = KEY
    orders: list[dict[str, str]] = field(factory=list)
    requests: list[Seen] = field(factory=list)
    script: dict[str, deque[Behaviour]] = field(factory=lambda: defaultdict(deque))
    routes: dict[tuple[str, str], Handler] = field(factory=dict)
    pending: list[Request] = field(factory=list)
    isLeaf: bool = True

    def __attrs_post_init__(self) -> None:
        Resource.__init__(self)
        self.routes.setdefault(("GET", "/api/v5/public/time"), self._time)
        self.routes.setdefault(("GET", "/api/v5/market/ticker"), self._ticker)
        self.routes.setdefault(("GET", "/api/v5/market/tickers"), self._ticker)
        self.routes.setdefault(("GET", "/api/v5/trade/orders-pending"), self._pending)
        self.routes.setdefault(("GET", "/api/v5/account/balance"), self._echo)
        self.routes.setdefault(("GET", "/api/v5/echo"), self._echo)
        self.routes.setdefault(("POST", "/api/v5/echo"), self._echo)
        self.routes.setdefault(("POST", "/api/v5/trade/order"), self._place)

    # -- scripting -----------------------------------------------------------------

    def then(self, path: str, *behaviours: Behaviour) -> None:
        """Queue behaviours for the next requests to ``path``."""
        self.script[path].extend(behaviours)

    def count(self, path: str) -> int:
        return sum(1 for seen in self.requests if seen.path == path)

    def times(self, path: str) -> list[float]:
        return [seen.at for seen in self.requests if seen.path == path]

    # -- resource ------------------------------------------------------------------

    def render(self, request: Request) -> bytes | int:
        assert request.method is not None and request.uri is not None
        content = request.content.read() if request.content is not None else b""
        headers = {
            key.decode().lower(): values[0].decode()
            for key, values in request.requestHeaders.getAllRawHeaders()
        }
        target = request.uri
        seen = Seen(
            method=request.method.decode(),
            target=target,
            path=target.partition(b"?")[0].decode(),
            headers=headers,
            body=content,
            at=self.clock.seconds(),
        )
        self.requests.append(seen)
        queue = self.script.get(seen.path)
        if queue:
            behaviour = queue.popleft()
            if behaviour.kind == "hang":
                self.pending.append(request)
                return NOT_DONE_YET
            if behaviour.kind == "stall":
                request.setResponseCode(behaviour.status)
                request.setHeader(b"content-length", b"100000")
                request.write(behaviour.raw)
                self.pending.append(request)
                return NOT_DONE_YET
            if behaviour.kind == "delay":
                self.clock.callLater(behaviour.seconds, self._finish_later, request, seen)
                return NOT_DONE_YET
            request.setResponseCode(behaviour.status)
            for name, value in behaviour.headers.items():
                request.setHeader(name, value)
            if behaviour.kind == "raw":
                return behaviour.raw
            return json.dumps(behaviour.payload).encode()
        return self._answer(request, seen)

    def _finish_later(self, request: Request, seen: Seen) -> None:
        request.write(self._answer(request, seen))
        request.finish()

    def _answer(self, request: Request, seen: Seen) -> bytes:
        headers = seen.headers
        if "ok-access-key" in headers:
            refusal = self._authenticate(seen)
            if refusal is not None:
                return self._reply(request, refusal)
        handler = self.routes.get((seen.method, seen.path))
        if handler is None:
            return self._reply(request, (404, {"code": "404", "msg": "Not Found"}))
        return self._reply(request, handler(seen))

    def _reply(self, request: Request, reply: Reply) -> bytes:
        status, payload = reply
        request.setResponseCode(status)
        request.setHeader(b"content-type", b"application/json")
        return json.dumps(payload, ensure_ascii=False).encode()

    def _authenticate(self, seen: Seen) -> Reply | None:
        h = seen.headers
        if h.get("ok-access-key") != self.key:
            return 401, {"msg": "Invalid OK-ACCESS-KEY", "code": "50111"}
        if h.get("ok-access-passphrase") != self.passphrase:
            return 401, {"msg": "Wrong passphrase", "code": "50105"}
        stamp = h.get("ok-access-timestamp", "")
        try:
            when = parse_timestamp(stamp)
        except ValueError:
            return 401, {"msg": "Invalid OK-ACCESS-TIMESTAMP", "code": "50112"}
        if abs(when - (self.clock.seconds() + self.skew)) > 30:
            return 401, {"msg": "Timestamp request expired", "code": "50102"}
        if not verify(
            self.secret, h.get("ok-access-sign", ""), stamp, seen.method, seen.target, seen.body
        ):
            return 401, {"msg": "Invalid Sign", "code": "50113"}
        return None

    # -- routes -------------------------------------------------------------------------

    def _time(self, seen: Seen) -> Reply:
        now = self.clock.seconds() + self.skew
        return 200, envelope([{"ts": str(int(round(now * 1000)))}])

    def _ticker(self, seen: Seen) -> Reply:
        return 200, envelope([{"instId": "BTC-USDT", "last": "100.5"}])

    def _echo(self, seen: Seen) -> Reply:
        return 200, envelope(
            [
                {
                    "query": seen.query.decode(),
                    "body": seen.body.decode("utf-8"),
                    "simulated": seen.headers.get("x-simulated-trading", ""),
                }
            ]
        )

    def _place(self, seen: Seen) -> Reply:
        order = json.loads(seen.body)
        if order.get("sz") == "0":
            item = {
                "ordId": "",
                "clOrdId": order.get("clOrdId", ""),
                "sCode": "51008",
                "sMsg": "Order failed. Insufficient USDT balance in account",
                "tag": "",
            }
            return 200, {"code": "1", "msg": "All operations failed", "data": [item]}
        item = {
            "ordId": "312269865356374016",
            "clOrdId": order.get("clOrdId", ""),
            "sCode": "0",
            "sMsg": "Order placed",
            "tag": "",
        }
        return 200, envelope([item])

    def _pending(self, seen: Seen) -> Reply:
        params = dict(pair.split("=", 1) for pair in seen.query.decode().split("&") if "=" in pair)
        limit = int(params.get("limit", "100"))
        rows = self.orders
        if "after" in params:
            cursor = int(params["after"])
            rows = [row for row in rows if int(row["ordId"]) < cursor]
        return 200, envelope(rows[:limit])


def make_orders(count: int, start: int = 600000000000000000) -> list[dict[str, str]]:
    """``count`` orders, newest (largest ordId) first."""
    return [
        {"ordId": str(start + count - i), "instId": "BTC-USDT", "state": "live"}
        for i in range(count)
    ]
