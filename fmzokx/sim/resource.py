# -*- test-case-name: tests.sim.test_auth,tests.sim.test_faults,tests.sim.test_clock -*-
"""
The simulator's HTTP face: OKX's ``/api/v5`` REST endpoints and the ``/_sim`` control API.

One dispatcher handles every ``/api/v5`` request so that the cross-cutting steps happen in
the same order for all of them, as at OKX's gateway: count and record the request, apply
any scripted fault, route, authenticate against the raw bytes, parse, rate-limit, handle,
wrap the result in OKX's envelope, and hold the reply for the configured latency.

A ``hold`` fault plays a request slow in transit: it "arrives" (is counted, recorded,
authenticated against the clock and handled) only after its delay, and then is handled
even if the client has given up meanwhile, as a request already on the wire would be.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl

from attrs import define
from klein import Klein
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.web.iweb import IRequest

from fmzokx.deferreds import shielded, sleep
from fmzokx.sim.auth import authenticate
from fmzokx.sim.errors import SimApiError, message
from fmzokx.sim.faults import Fault
from fmzokx.sim.handlers import ROUTES, Call, Reply
from fmzokx.sim.handlers.trade import refuse_items
from fmzokx.sim.journal import SeenRequest
from fmzokx.sim.model import SimAccount

if TYPE_CHECKING:
    from fmzokx.sim.simulator import Simulator

__all__ = ["SimulatorApp"]

_MAX_BODY = 1 << 20


def _strip_empty(value: Any) -> Any:
    """OKX treats an empty-string parameter as absent."""
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if v != ""}
    return value


def _json(payload: object) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@define(slots=False)
class SimulatorApp:
    """The Klein application serving one :class:`Simulator`."""

    sim: Simulator

    app: ClassVar[Klein] = Klein()
    log: ClassVar[Logger] = Logger()

    # -- plumbing --------------------------------------------------------------------------

    def _respond(self, request: IRequest, status: int, body: bytes, ctype: bytes) -> bytes:
        request.setResponseCode(status)
        request.setHeader(b"content-type", ctype)
        return body

    def _error(self, request: IRequest, error: SimApiError) -> bytes:
        if error.status == 401:
            body: dict[str, Any] = {"msg": error.msg, "code": error.code}
        else:
            body = {"code": error.code, "msg": error.msg, "data": []}
        return self._respond(request, error.status, _json(body), b"application/json")

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            await sleep(self.sim.clock, seconds)

    def _allowed(self, path: str, method: str, ip: str, call: Call, private: bool) -> bool:
        return self.sim.limiter.admit(
            method,
            path,
            private=private,
            ip=ip,
            user=call.key if private else "",
            params=call.params,
            body=call.body,
        )

    # -- the OKX API -----------------------------------------------------------------------

    @app.route("/api/v5/", branch=True, methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    async def api(self, request: IRequest) -> bytes:
        """
        Every ``/api/v5`` endpoint: count, record, apply any fault, handle, then hold the
        reply for the configured latency (and a ``delay`` fault) before answering.
        """
        path = request.path.decode("utf-8", "replace")
        method = request.method.decode("ascii", "replace").upper()
        uri = request.uri
        body = request.content.read() if request.content is not None else b""
        fault = self.sim.faults.take(path)
        if fault is not None and fault.mode == "hold":
            self.log.info("holding a request to {path} in transit", path=path)
            arrival = Deferred.fromCoroutine(
                self._arrive(request, path, method, uri, body, fault.delay_ms / 1000)
            )
            return await shielded(arrival)
        return await self._serve(request, path, method, uri, body, fault)

    async def _arrive(
        self, request: IRequest, path: str, method: str, uri: bytes, body: bytes,
        seconds: float,
    ) -> bytes:
        await self._sleep(seconds)
        return await self._serve(request, path, method, uri, body, None)

    async def _serve(
        self, request: IRequest, path: str, method: str, uri: bytes, body: bytes,
        fault: Fault | None,
    ) -> bytes:
        self.sim.request_counts[path] += 1
        self.sim.journal.record(
            SeenRequest(
                method=method,
                target=uri,
                path=path,
                headers={
                    name.decode("latin-1").lower(): values[0].decode("utf-8", "replace")
                    for name, values in request.requestHeaders.getAllRawHeaders()
                },
                body=body,
                at=self.sim.clock.seconds(),
            )
        )
        if fault is not None and fault.commit:
            # The work is done, but the answer the client gets is the fault's.
            self.log.info("doing the work of {path} before a {mode} answer", path=path,
                          mode=fault.mode)
            self._handle(request, path, method, uri, body)
        result = None if fault is None else self._fault_reply(request, fault, body)
        if fault is not None and fault.mode == "hang":
            self.log.info("leaving a request to {path} unanswered", path=path)
            await Deferred()
        if result is None:
            result = self._handle(request, path, method, uri, body)
        if fault is not None and fault.mode == "drop-after-commit":
            self.log.info("dropping the connection after handling {path}", path=path)
            transport = request.transport  # type: ignore[attr-defined]
            if transport is not None:
                transport.abortConnection()
            await Deferred()
        if fault is not None and fault.mode == "delay":
            await self._sleep(fault.delay_ms / 1000)
        await self._sleep(self.sim.latency_ms / 1000)
        if fault is not None and fault.mode == "stall":
            return await self._stall(request, path, result, fault.delay_ms / 1000)
        return result

    async def _stall(self, request: IRequest, path: str, result: bytes, seconds: float) -> bytes:
        """
        Send the status, the headers (announcing the whole length) and the first half of
        the body, then go quiet: forever, or for ``seconds`` before sending the rest.
        """
        half = max(1, len(result) // 2)
        request.setHeader(b"content-length", str(len(result)).encode("ascii"))
        request.write(result[:half])
        self.log.info("stalling the reply to {path} after {sent} of {total} bytes",
                      path=path, sent=half, total=len(result))
        if seconds <= 0:
            await Deferred()
        await self._sleep(seconds)
        return result[half:]

    def _handle(
        self, request: IRequest, path: str, method: str, uri: bytes, body: bytes
    ) -> bytes:
        """The answer to one request, OKX's errors enveloped."""
        try:
            return self._dispatch(request, path, method, uri, body)
        except SimApiError as error:
            return self._error(request, error)
        except Exception:
            self.log.failure("okxsim failed handling {method} {path}", method=method, path=path)
            return self._error(request, SimApiError("50026"))

    def _fault_reply(self, request: IRequest, fault: Fault, body: bytes) -> bytes | None:
        """The canned answer of a fault that replaces the work, or ``None``."""
        mode = fault.mode
        if mode == "html":
            page = _EDGE_PAGE.format(status=fault.status).encode("ascii")
            return self._respond(request, fault.status, page, b"text/html")
        if mode == "empty":
            return self._respond(request, fault.status, b"", b"application/json")
        if mode in ("busy-50004", "busy-50013", "timeout-51054"):
            code = mode.rsplit("-", 1)[1]
            busy: dict[str, Any] = {"code": code, "msg": message(code), "data": []}
            return self._respond(request, fault.status, _json(busy), b"application/json")
        if mode == "order-timeout-51149":
            items = [
                {
                    "clOrdId": str(item.get("clOrdId", "")),
                    "ordId": "",
                    "tag": str(item.get("tag", "")),
                    "ts": str(self.sim.now_ms()),
                    "sCode": "51149",
                    "sMsg": message("51149"),
                    "subCode": "",
                }
                for item in _order_items(body)
            ]
            envelope: dict[str, Any] = {"code": "1", "msg": message("1"), "data": items}
            return self._respond(request, fault.status, _json(envelope), b"application/json")
        if mode == "http-500":
            return self._error(request, SimApiError("50026"))
        if mode == "http-503":
            return self._error(request, SimApiError("50001"))
        if mode == "rate-limit":
            return self._error(request, SimApiError("50011"))
        if mode == "expired-timestamp":
            return self._error(request, SimApiError("50102"))
        if mode == "reply":
            return self._respond(
                request, fault.status, fault.body, fault.content_type.encode("latin-1")
            )
        if mode == "malformed":
            return self._respond(
                request, 200, b'{"code":"0","msg":"","data":[{"ordId":', b"application/json"
            )
        return None

    def _parse_body(self, request: IRequest, method: str, body: bytes) -> Any:
        """The JSON body of a POST, with empty-string fields removed."""
        if method != "POST":
            return {}
        if len(body) > _MAX_BODY:
            raise SimApiError("51000", "body")
        ctype = (request.getHeader(b"content-type") or b"").lower()
        if ctype and b"json" not in ctype:
            raise SimApiError("50006")
        if not body.strip():
            return {}
        try:
            parsed = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise SimApiError("50002") from None
        if isinstance(parsed, list):
            return [_strip_empty(item) for item in parsed]
        if not isinstance(parsed, dict):
            raise SimApiError("50002")
        return _strip_empty(parsed)

    def _dispatch(
        self, request: IRequest, path: str, method: str, uri: bytes, body: bytes
    ) -> bytes:
        """Route, authenticate, parse, rate-limit and handle one request."""
        methods = ROUTES.get(path)
        if methods is None:
            return self._respond(
                request, 404, _json({"code": "404", "msg": "Not Found"}), b"application/json"
            )
        route = methods.get(method)
        if route is None:
            raise SimApiError("50115")
        now_ms = self.sim.now_ms()
        address = request.getClientAddress()
        ip = str(getattr(address, "host", "unknown"))
        query = uri.split(b"?", 1)[1] if b"?" in uri else b""
        params = {
            k: v
            for k, v in parse_qsl(query.decode("utf-8", "replace"), keep_blank_values=True)
            if v != ""
        }
        account: SimAccount | None = None
        if route.private:
            headers = {
                name.decode("latin-1").lower(): values[0].decode("utf-8", "replace")
                for name, values in request.requestHeaders.getAllRawHeaders()
            }
            account = authenticate(
                headers, method, uri, body, now_ms / 1000, self.sim.exchange.spec
            )
            # A demo-trading key only with the header, a live key only without it
            # (Overview > Demo trading services; 50101, HTTP 401).
            if (headers.get("x-simulated-trading", "") == "1") != account.demo:
                raise SimApiError("50101")
        call = Call(
            path=path,
            params=params,
            body=self._parse_body(request, method, body),
            account=account,
            now_ms=now_ms,
            exchange=self.sim.exchange,
            market=self.sim.market,
            micros=self.sim.now_micros,
        )
        if not self._allowed(path, method, ip, call, route.private):
            raise SimApiError("50011")
        if method == "POST" and path in _EXPIRING and _expired(request, now_ms):
            settings = self.sim.settings
            if settings.expired_placement == "top":
                raise SimApiError(settings.expired_code)
            result: list[Any] | Reply = refuse_items(call, settings.expired_code)
        else:
            result = route.handler(call)
        if isinstance(result, Reply):
            return self._respond(request, result.status, _json(result.body), b"application/json")
        envelope = {"code": "0", "msg": "", "data": result}
        return self._respond(request, 200, _json(envelope), b"application/json")

    # -- the control API -------------------------------------------------------------------

    def _control(self, request: IRequest, status: int, payload: object) -> bytes:
        return self._respond(request, status, _json(payload), b"application/json")

    def _refuse(self, request: IRequest, error: Exception) -> bytes:
        return self._control(request, 400, {"code": "51000", "msg": str(error), "data": []})

    @app.route("/_sim/faults", methods=["POST"])
    def add_fault(self, request: IRequest) -> bytes:
        """
        Queue a fault: ``{"path", "mode", "count", "delay_ms", "skip"}``, and for a
        ``reply`` fault ``"status"``, ``"content_type"`` and ``"body"`` (text, or any other
        JSON value to send as compact JSON). A WebSocket ``path`` (``/ws/v5/...``) takes
        the WebSocket modes and ``count``.
        """
        try:
            spec = _json_object(request)
            count = spec.get("count", 1)
            delay = spec.get("delay_ms", 0)
            skip = spec.get("skip", 0)
            status = spec.get("status")
            content_type = spec.get("content_type")
            if not _is_int(count) or not _is_number(delay) or not _is_int(skip):
                raise ValueError("count and skip must be integers and delay_ms a number")
            if status is not None and not _is_int(status):
                raise ValueError("status must be an integer")
            if content_type is not None and not isinstance(content_type, str):
                raise ValueError("content_type must be a string")
            path = str(spec.get("path", ""))
            if path.startswith("/ws/"):
                # OKX's WebSocket (fmzokx.sim.ws.faults): disconnect, stall, and the
                # public paths' book faults or the private path's push and login faults.
                key = spec.get("apiKey") or ""
                if not isinstance(key, str):
                    raise ValueError("apiKey must be a string")
                applied = self.sim.ws.add_fault(
                    path, str(spec.get("mode", "")), count, float(delay), key
                )
                return self._control(request, 200, {"code": "0", "msg": "", "data": [applied]})
            commit = spec.get("commit", False)
            fault = self.sim.faults.add(
                str(spec.get("path", "")), str(spec.get("mode", "")), count, float(delay),
                skip=skip, status=status, body=spec.get("body"), content_type=content_type,
                commit=commit,
            )
        except (ValueError, UnicodeDecodeError) as error:
            return self._refuse(request, error)
        return self._control(request, 200, {"code": "0", "msg": "", "data": [fault.to_json()]})

    @app.route("/_sim/clock", methods=["POST"])
    def set_clock(self, request: IRequest) -> bytes:
        """Move the simulator's clock: ``{"offset_ms": N}`` ahead of the real one (or behind)."""
        try:
            spec = _json_object(request)
            if "offset_ms" not in spec:
                raise ValueError("offset_ms is required")
            self.sim.set_clock_offset(spec["offset_ms"])
        except (ValueError, UnicodeDecodeError) as error:
            return self._refuse(request, error)
        data = {"offset_ms": self.sim.clock_offset_ms, "ts": str(self.sim.now_ms())}
        return self._control(request, 200, {"code": "0", "msg": "", "data": [data]})

    @app.route("/_sim/settings", methods=["POST"])
    def change_settings(self, request: IRequest) -> bytes:
        """Change some settings (``lag_ms``, ``expired_code``...); answers all of them."""
        try:
            self.sim.configure(**_json_object(request))
        except (ValueError, UnicodeDecodeError) as error:
            return self._refuse(request, error)
        return self._control(
            request, 200, {"code": "0", "msg": "", "data": [self.sim.settings.to_json()]}
        )

    @app.route("/_sim/settings", methods=["GET"])
    def show_settings(self, request: IRequest) -> bytes:
        """The settings in force."""
        body = {"code": "0", "msg": "", "data": [self.sim.settings.to_json()]}
        return self._control(request, 200, body)

    @app.route("/_sim/instruments", methods=["POST"])
    def patch_instrument(self, request: IRequest) -> bytes:
        """
        Change one instrument from now on: ``{"instId", "state"?, "tickSz"?, "maxMktSz"?}``;
        answers its ``/public/instruments`` row.
        """
        try:
            spec = _json_object(request)
            inst_id = str(spec.pop("instId", ""))
            row = self.sim.patch_instrument(inst_id, spec)
        except (ValueError, UnicodeDecodeError) as error:
            return self._refuse(request, error)
        return self._control(request, 200, {"code": "0", "msg": "", "data": [row]})

    @app.route("/_sim/faults", methods=["GET"])
    def list_faults(self, request: IRequest) -> bytes:
        """The queued faults."""
        faults = self.sim.faults.to_json() + self.sim.ws.faults.to_json()
        body = {"code": "0", "msg": "", "data": faults}
        return self._control(request, 200, body)

    @app.route("/_sim/reset", methods=["POST"])
    def reset(self, request: IRequest) -> bytes:
        """Back to the starting state."""
        self.sim.reset()
        return self._control(request, 200, {"code": "0", "msg": "", "data": []})

    @app.route("/_sim/state", methods=["GET"])
    def state(self, request: IRequest) -> bytes:
        """Orders, balances, positions, request counts, faults, the clock offset."""
        return self._control(request, 200, self.sim.state())


def _json_object(request: IRequest) -> dict[str, Any]:
    """The JSON object body of a control request."""
    spec = json.loads(request.content.read().decode("utf-8"))
    if not isinstance(spec, dict):
        raise ValueError("the body must be a JSON object")
    return spec


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_EXPIRING = frozenset(
    {
        "/api/v5/trade/order",
        "/api/v5/trade/batch-orders",
        "/api/v5/trade/amend-order",
        "/api/v5/trade/amend-batch-orders",
    }
)
"""Trade endpoints that honour OKX's ``expTime`` request header."""


def _expired(request: IRequest, now_ms: int) -> bool:
    """
    Whether an order request arrived after its ``expTime`` header (ms). OKX does not
    process such a request ("Overview > Transaction timeouts"), so a client that gave up
    waiting can be sure of the outcome; the code and where it is put are settings.

    :raises SimApiError: 51000 for an ``expTime`` that is not a number of milliseconds.
    """
    raw = request.getHeader(b"exptime")
    if raw is None:
        return False
    text = raw.decode("ascii", "replace").strip()
    if not text.isdigit():
        raise SimApiError("51000", "expTime")
    return now_ms > int(text)


def _order_items(body: bytes) -> list[dict[str, Any]]:
    """The orders of a place/amend body, read leniently (for a fault's per-item answer)."""
    try:
        parsed = json.loads(body.decode("utf-8")) if body.strip() else {}
    except (UnicodeDecodeError, ValueError):
        parsed = {}
    items = parsed if isinstance(parsed, list) else [parsed]
    return [item for item in items if isinstance(item, dict)] or [{}]


#: The page a CDN in front of OKX sends for an error of its own (``html`` fault).
_EDGE_PAGE = (
    "<!DOCTYPE html><html><head><title>{status} Error</title></head><body>"
    "<h1>{status}</h1><p>The request could not be satisfied.</p></body></html>"
)
