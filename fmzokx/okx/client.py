# -*- test-case-name: tests.okx.test_client -*-
"""
The OKX v5 REST client: every call the daemon makes to OKX goes through :class:`OkxClient`.

What it promises, and where each promise lives:

* **Exact signing.** The query string and JSON body are encoded once
  (:func:`~fmzokx.okx.signing.encode_query`, :func:`~fmzokx.okx.signing.encode_body`);
  those same bytes are signed and sent. The timestamp is the injected clock plus the
  measured offset to OKX's clock (:mod:`fmzokx.okx.clocksync`), re-signed per attempt.
* **Deadlines.** Connect, headers and body-silence per attempt
  (:mod:`fmzokx.okx.transport`), plus a total per call (``timeout``) covering pacing,
  retries and backoff; every one ends as :class:`~fmzokx.okx.errors.OkxTimeout`.
* **Pacing.** :mod:`fmzokx.okx.pacing` queues calls within OKX's scoped limits; identical
  concurrent unsigned GETs share one upstream request.
* **Retries.** Idempotent reads only, per :mod:`fmzokx.okx.retry`. Writes are never
  repeated, with one exception: a signed call refused with **50102** (timestamp expired)
  is re-signed and resent once after resynchronising the clock. That is safe for writes
  too, because OKX checks the timestamp in its authentication layer and refuses the
  request before any business processing: a 50102 reply proves nothing was done.
* **Typed results.** :class:`OkxReply` on success; the errors of :mod:`fmzokx.okx.errors`
  otherwise, with per-item ``sCode``/``sMsg`` for place/cancel.
* **Complete lists.** :meth:`OkxClient.paginate` walks ``after`` cursors to the end or
  fails with :class:`~fmzokx.okx.errors.OkxPaginationError`; never a silent truncation.

All time comes from the injected ``clock``; nothing here touches the global reactor.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http.cookiejar import CookieJar
from typing import Any
from urllib.parse import urlsplit

from attrs import define, evolve, field, frozen
from treq.client import HTTPClient
from twisted.application.service import Service
from twisted.internet.defer import CancelledError, Deferred, DeferredList, fail
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall, deferLater
from twisted.web.client import HTTPConnectionPool
from twisted.web.http_headers import Headers
from twisted.web.iweb import IResponse

from fmzokx.logs import logger
from fmzokx.okx.clocksync import ClockSync, Sample
from fmzokx.okx.credentials import Credentials
from fmzokx.okx.errors import (
    ItemResult,
    OkxApiError,
    OkxAuthError,
    OkxError,
    OkxHttpError,
    OkxMalformedResponse,
    OkxPaginationError,
    OkxTimeout,
    OkxTransportError,
    api_error,
    items_from_payload,
)
from fmzokx.okx.limits import RateRule, rule_for
from fmzokx.okx.observe import NoMetrics, UpstreamMetrics, failure_word, scope_word
from fmzokx.okx.pacing import BudgetKey, Pacer, budget_key
from fmzokx.okx.retry import RetryPolicy, is_retryable_read
from fmzokx.okx.signing import encode_body, encode_query, format_timestamp, sign
from fmzokx.okx.transport import (
    BodyStalled,
    BodyTooLarge,
    BytesProducer,
    ConnectDeadlineExceeded,
    Deadlines,
    build_agent,
    classify_transport_failure,
    read_body,
    with_deadline,
)

__all__ = ["OkxClient", "OkxClientService", "OkxReply", "PageWalk", "TIME_PATH"]

TIME_PATH = "/api/v5/public/time"

#: Codes that leave a write's outcome unknown (OKX may have processed it).
_AMBIGUOUS_CODES = frozenset({"50001", "50004", "50013", "50026"})

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

_RESERVED_HEADERS = frozenset(
    {
        "ok-access-key",
        "ok-access-sign",
        "ok-access-timestamp",
        "ok-access-passphrase",
        "x-simulated-trading",
        "content-type",
    }
)


@frozen
class OkxReply:
    """
    A successful OKX reply: the HTTP status and the whole envelope as parsed.
    """

    status: int
    payload: Mapping[str, Any]

    @property
    def data(self) -> list[Any]:
        """The envelope's ``data`` array (OKX always sends an array)."""
        data = self.payload.get("data")
        return data if isinstance(data, list) else []

    @property
    def raw(self) -> Mapping[str, Any]:
        """The envelope as OKX sent it (for FMZ's ``raw`` field)."""
        return self.payload

    @property
    def code(self) -> str:
        """OKX's top-level ``code``."""
        return str(self.payload.get("code", ""))

    @property
    def msg(self) -> str:
        """OKX's top-level ``msg``."""
        return str(self.payload.get("msg", ""))

    @property
    def items(self) -> list[ItemResult]:
        """Per-item ``sCode``/``sMsg`` results (place/cancel/amend replies)."""
        return items_from_payload(self.payload)


@frozen
class PageWalk:
    """
    A complete paginated list.

    :ivar items: every item, newest first as OKX gives them, duplicates removed.
    :ivar pages: the raw envelopes, in the order fetched.
    """

    items: list[Any]
    pages: list[Mapping[str, Any]]


@frozen
class _Request:
    """One logical call, encoded once."""

    method: str
    path: str
    target: str
    body: bytes
    credentials: Credentials | None
    extra_headers: Mapping[str, str]
    idempotent: bool
    check_code: bool
    check_items: bool
    max_attempts: int
    rule: RateRule
    budget: BudgetKey

    @property
    def identity(self) -> str:
        return self.credentials.fingerprint if self.credentials else "anonymous"


@define
class _CallState:
    """Mutable facts about one call in flight."""

    request: _Request
    sent: bool = False


class NoCookies(CookieJar):
    """
    A cookie jar that keeps nothing: OKX's API is stateless, and treq's default jar
    would parse and store every ``Set-Cookie`` (CDN cookies) and add them back to every
    request -- per-call work, and state shared across every API key the daemon serves.
    """

    def add_cookie_header(self, request: Any) -> None:
        pass

    def extract_cookies(self, response: Any, request: Any) -> None:
        pass


def _shift_expiry(request: _Request, delta: float) -> _Request:
    """
    Move an ``expTime`` header by a clock-offset correction before a 50102 resend.

    ``expTime`` was "OKX's clock plus a few seconds" by the offset believed when the call
    was built; after a resync the same intent is a different number.
    """
    value = request.extra_headers.get("expTime")
    if value is None or not value.isdigit() or delta == 0:
        return request
    headers = dict(request.extra_headers, expTime=str(int(value) + int(round(delta * 1000))))
    return evolve(request, extra_headers=headers)


def _check_base_url(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"OKX base URL must be https://host[:port], got {base_url!r}")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
        raise ValueError(
            "plain HTTP is only allowed to a loopback address (a local okxsim); "
            f"use https:// for {parts.hostname}"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"OKX base URL must not have a path or query, got {base_url!r}")
    return f"{parts.scheme}://{parts.netloc}"


@define
class OkxClient:
    """
    Signed, paced, deadline-bounded calls to OKX v5 REST.

    Build one with :meth:`create` in production; tests inject an
    :class:`~treq.client.HTTPClient` over an in-memory agent and a
    :class:`~twisted.internet.task.Clock`.

    :ivar base_url: ``https://www.okx.com`` (or a loopback ``http://`` okxsim).
    :ivar timeout: total seconds per call, pacing waits and retries included.
    :ivar rate_limits: pace calls within OKX's limits (``--rate-limits``).
    :ivar deadlines: per-attempt connect/headers/body deadlines and the body cap.
    :ivar retry: the read retry policy (inject a seeded ``random.Random`` in tests).
    :ivar sync_interval: seconds between periodic clock synchronisations.
    :ivar coalesce: let identical concurrent unsigned GETs share one upstream call.
    :ivar metrics: where calls, retries, codes, clock offsets and pacing waits are
        reported (:mod:`fmzokx.okx.observe`).
    """

    _http: HTTPClient
    _clock: IReactorTime
    base_url: str = field(converter=_check_base_url)
    timeout: float = 10.0
    rate_limits: bool = True
    deadlines: Deadlines = Deadlines()
    retry: RetryPolicy = field(factory=RetryPolicy)
    sync_interval: float = 300.0
    coalesce: bool = True
    max_queue_wait: float = 5.0
    metrics: UpstreamMetrics = field(factory=NoMetrics)
    _pool: HTTPConnectionPool | None = None
    _pacer: Pacer = field(init=False)
    _clocksync: ClockSync = field(init=False)
    _inflight: dict[Deferred[OkxReply], _CallState] = field(init=False, factory=dict)
    _shared: dict[str, list[Deferred[OkxReply]]] = field(init=False, factory=dict)
    _sync_loop: LoopingCall | None = field(init=False, default=None)
    _stopped: bool = field(init=False, default=False)

    log = logger("fmzokx.okx.client")

    def __attrs_post_init__(self) -> None:
        self._pacer = Pacer(self._clock, enabled=self.rate_limits, max_wait=self.max_queue_wait)
        self._clocksync = ClockSync(
            self._clock,
            self._sample_time,
            on_measure=lambda offset: self.metrics.set_clock_offset(offset),
        )

    @classmethod
    def create(
        cls,
        reactor: Any,
        base_url: str,
        *,
        timeout: float = 10.0,
        rate_limits: bool = True,
        ca_bundle: str | None = None,
        deadlines: Deadlines | None = None,
        metrics: UpstreamMetrics | None = None,
    ) -> OkxClient:
        """
        The production client: a persistent pool, verified TLS, the reactor as clock.

        :param ca_bundle: a PEM file of CA certificates to trust instead of the
            platform's store. TLS verification itself cannot be turned off.
        :param metrics: where to report calls, retries, codes, clock offset and pacing
            waits (a :class:`fmzokx.metrics.Metrics`); nothing is recorded by default.
        """
        deadlines = deadlines or Deadlines()
        agent, pool = build_agent(reactor, deadlines=deadlines, ca_bundle=ca_bundle)
        jar: Any = NoCookies()  # treq 26 annotates its own jar subclass; any CookieJar works
        http = HTTPClient(agent, cookiejar=jar, data_to_body_producer=BytesProducer)
        return cls(
            http=http,
            clock=reactor,
            base_url=base_url,
            timeout=timeout,
            rate_limits=rate_limits,
            deadlines=deadlines,
            metrics=metrics or NoMetrics(),
            pool=pool,
        )

    # -- public calls -------------------------------------------------------------

    async def get(
        self,
        path: str,
        params: Mapping[str, object] | None = None,
        *,
        credentials: Credentials | None = None,
    ) -> OkxReply:
        """
        An idempotent read, retried per :attr:`retry`; signed when ``credentials`` given.

        :raises OkxError: a subclass saying what went wrong; never returns ``code != "0"``.
        """
        request = self._prepare("GET", path, params, None, credentials, check_code=True)
        return await self._dispatch(request)

    async def post(
        self,
        path: str,
        body: object,
        *,
        credentials: Credentials,
        headers: Mapping[str, str] | None = None,
    ) -> OkxReply:
        """
        A write. Never retried (except the 50102 resend documented on the module).

        A per-item ``sCode != "0"`` (place/cancel/amend) raises
        :class:`~fmzokx.okx.errors.OkxApiError` with ``items``.

        :param headers: extra headers such as ``expTime``; OKX auth headers are refused.
        """
        request = self._prepare(
            "POST", path, None, body, credentials, check_code=True, extra_headers=headers
        )
        return await self._dispatch(request)

    async def request(
        self,
        method: str,
        path: str,
        params_or_body: object = None,
        *,
        credentials: Credentials | None,
        check_code: bool = True,
    ) -> OkxReply:
        """
        A raw call for FMZ's ``__api_`` pass-through: GET takes query parameters and is
        retried; any other verb takes a JSON body and is not.

        :param check_code: with ``False``, OKX's envelope is returned even when
            ``code != "0"`` (transport failures and non-envelopes still raise).
        """
        method = method.upper()
        if method == "GET":
            if params_or_body is not None and not isinstance(params_or_body, Mapping):
                raise TypeError("GET parameters must be a mapping")
            request = self._prepare(
                "GET", path, params_or_body, None, credentials, check_code=check_code
            )
        else:
            body = {} if params_or_body is None else params_or_body
            request = self._prepare(
                method, path, None, body, credentials, check_code=check_code, check_items=False
            )
        return await self._dispatch(request)

    async def paginate(
        self,
        path: str,
        params: Mapping[str, object],
        *,
        credentials: Credentials | None,
        cursor: str | int = "ordId",
        limit: int = 100,
        max_pages: int = 1000,
    ) -> PageWalk:
        """
        Fetch every page of a newest-first list by walking ``after`` cursors.

        Each page asks for ``limit`` items ``after`` the last item's ``cursor`` field (an
        index for array rows such as candles); the walk ends at a short or empty page.
        Items are deduplicated by cursor.

        :raises OkxPaginationError: when any page fails (the failure is ``__cause__``),
            a page is malformed, the cursor stops moving, or ``max_pages`` pages did not
            reach the end. Never returns a partial list.
        """
        if limit < 1 or max_pages < 1:
            raise ValueError("limit and max_pages must be positive")
        items: list[Any] = []
        pages: list[Mapping[str, Any]] = []
        seen: set[str] = set()
        after = params.get("after")
        after_text = None if after is None or after == "" else str(after)
        while True:
            if len(pages) >= max_pages:
                raise OkxPaginationError(
                    f"GET {path}: stopped after {max_pages} pages without reaching the end "
                    "of the list; refusing to return an incomplete list",
                    path=path,
                    pages=pages,
                    items=items,
                )
            page_params = {k: v for k, v in params.items() if k not in ("after", "limit")}
            if after_text is not None:
                page_params["after"] = after_text
            page_params["limit"] = str(limit)
            try:
                reply = await self.get(path, page_params, credentials=credentials)
            except OkxError as error:
                raise OkxPaginationError(
                    f"GET {path}: page {len(pages) + 1} failed, so the list would be "
                    f"incomplete: {error}",
                    path=path,
                    pages=pages,
                    items=items,
                ) from error
            pages.append(reply.payload)
            rows = reply.data
            last_cursor = None
            for row in rows:
                key = _cursor_of(row, cursor)
                if key is None:
                    raise OkxPaginationError(
                        f"GET {path}: page {len(pages)} has an item without cursor "
                        f"{cursor!r}; cannot continue the walk",
                        path=path,
                        pages=pages,
                        items=items,
                    )
                last_cursor = key
                if key not in seen:
                    seen.add(key)
                    items.append(row)
            if len(rows) < limit or last_cursor is None:
                return PageWalk(items=items, pages=pages)
            if last_cursor == after_text:
                raise OkxPaginationError(
                    f"GET {path}: the cursor did not advance past {last_cursor}; refusing to loop",
                    path=path,
                    pages=pages,
                    items=items,
                )
            after_text = last_cursor

    # -- clock ----------------------------------------------------------------------

    @property
    def clock_offset(self) -> float:
        """OKX's clock minus ours, in seconds, as last measured."""
        return self._clocksync.offset

    def server_time(self) -> float:
        """Our best estimate of OKX's clock, in POSIX seconds."""
        return self._clock.seconds() + self._clocksync.offset

    async def sync_clock(self) -> float:
        """Measure the clock offset now (several round trips) and adopt it."""
        return await self._clocksync.sync()

    def health(self) -> dict[str, object]:
        """Clock-sync state and load, for ``/healthz``."""
        status = self._clocksync.health()
        status.update(
            {
                "okx_base_url": self.base_url,
                "in_flight": len(self._inflight),
                "rate_limits": self.rate_limits,
                "stopped": self._stopped,
            }
        )
        return status

    async def _sample_time(self) -> Sample:
        request = self._prepare("GET", TIME_PATH, None, None, None, check_code=True, max_attempts=1)
        sent = self._clock.seconds()
        reply = await self._start(request)
        received = self._clock.seconds()
        try:
            server = int(reply.data[0]["ts"]) / 1000.0
        except (IndexError, KeyError, TypeError, ValueError):
            raise OkxMalformedResponse(
                f"GET {TIME_PATH}: reply has no data[0].ts",
                http_status=reply.status,
                path=TIME_PATH,
            ) from None
        return Sample(sent=sent, received=received, server=server)

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        """Synchronise the clock now and every :attr:`sync_interval` seconds."""
        if self._sync_loop is not None or self._stopped:
            return
        loop = self._sync_loop = LoopingCall(self._periodic_sync)
        loop.clock = self._clock
        loop.start(self.sync_interval, now=True)

    async def _periodic_sync_coroutine(self) -> None:
        try:
            await self._clocksync.sync()
        except OkxError:
            pass  # ClockSync logged it and kept the previous offset; health shows it.
        except CancelledError:
            pass  # stop() cancelled the samples.
        except Exception:
            # A LoopingCall stops for good on the first exception; log and keep syncing.
            self.log.failure("unexpected error during OKX clock sync")

    def _periodic_sync(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._periodic_sync_coroutine())

    async def stop(self) -> None:
        """
        Refuse new calls, cancel reads and unsent writes, let sent writes finish (each is
        bounded by :attr:`timeout`), stop the sync timer, close the pool.
        """
        self._stopped = True
        if self._sync_loop is not None and self._sync_loop.running:
            self._sync_loop.stop()
        waits = []
        for inner, state in list(self._inflight.items()):
            if state.request.idempotent or not state.sent:
                inner.cancel()
            else:
                waits.append(inner)
        if waits:
            await DeferredList(waits, consumeErrors=True)
        if self._pool is not None:
            await self._pool.closeCachedConnections()

    # -- machinery ----------------------------------------------------------------------

    def _prepare(
        self,
        method: str,
        path: str,
        params: Mapping[str, object] | None,
        body: object,
        credentials: Credentials | None,
        *,
        check_code: bool,
        check_items: bool = True,
        extra_headers: Mapping[str, str] | None = None,
        max_attempts: int | None = None,
    ) -> _Request:
        if not path.startswith("/") or "?" in path or "#" in path:
            raise ValueError(f"path must start with / and carry no query: {path!r}")
        query = encode_query(params or {})
        target = f"{path}?{query}" if query else path
        payload = b"" if method == "GET" else encode_body(body)
        headers = dict(extra_headers or {})
        for name in headers:
            if name.lower() in _RESERVED_HEADERS:
                raise ValueError(f"header {name!r} is set by the client")
        rule = rule_for(method, path, signed=credentials is not None)
        identity = credentials.fingerprint if credentials else "anonymous"
        idempotent = method == "GET"
        return _Request(
            method=method,
            path=path,
            target=target,
            body=payload,
            credentials=credentials,
            extra_headers=headers,
            idempotent=idempotent,
            check_code=check_code,
            check_items=check_items and not idempotent,
            max_attempts=(max_attempts or self.retry.max_attempts) if idempotent else 1,
            rule=rule,
            budget=budget_key(rule, identity=identity, params=params, body=body),
        )

    def _dispatch(self, request: _Request) -> Deferred[OkxReply]:
        if self.coalesce and request.method == "GET" and request.credentials is None:
            return self._coalesced(request)
        return self._start(request)

    def _coalesced(self, request: _Request) -> Deferred[OkxReply]:
        key = request.target
        waiter: Deferred[OkxReply] = Deferred()
        waiters = self._shared.get(key)
        if waiters is not None:
            waiters.append(waiter)
            return waiter
        waiters = self._shared[key] = [waiter]

        def fan_out(outcome: object) -> None:
            del self._shared[key]
            for each in waiters:
                if each.called:
                    continue
                if isinstance(outcome, OkxReply):
                    each.callback(outcome)
                else:
                    each.errback(outcome)  # type: ignore[arg-type]
            return None

        self._start(request).addBoth(fan_out)
        return waiter

    def _start(self, request: _Request) -> Deferred[OkxReply]:
        if self._stopped:
            return fail(
                OkxTransportError(
                    f"{request.method} {request.path}: the OKX client is stopped",
                    path=request.path,
                )
            )
        state = _CallState(request)
        inner = Deferred.fromCoroutine(self._call(state))
        if not inner.called:
            self._inflight[inner] = state

            def forget(outcome: object) -> object:
                self._inflight.pop(inner, None)
                return outcome

            inner.addBoth(forget)
        outer = with_deadline(
            inner,
            self._clock,
            self.timeout,
            lambda: OkxTimeout(
                "total",
                self.timeout,
                path=request.path,
                method=request.method,
                outcome_unknown=state.sent and not request.idempotent,
            ),
        )
        outer.addErrback(self._stopped_while_waiting, request, state)
        return outer

    def _stopped_while_waiting(self, failure: Any, request: _Request, state: _CallState) -> Any:
        if self._stopped and failure.check(CancelledError):
            raise OkxTransportError(
                f"{request.method} {request.path}: cancelled because the OKX client stopped",
                path=request.path,
                outcome_unknown=state.sent and not request.idempotent,
            )
        return failure

    async def _call(self, state: _CallState) -> OkxReply:
        request = state.request
        deadline = self._clock.seconds() + self.timeout
        attempt = 0
        resynced = False
        while True:
            attempt += 1
            waited = await self._pacer.acquire(
                request.rule,
                request.budget,
                deadline=deadline,
                method=request.method,
                path=request.path,
            )
            if self.rate_limits:
                self.metrics.observe_pacing_wait(scope_word(request.rule.scope), waited)
            try:
                return await self._attempt(state, attempt)
            except OkxError as error:
                if (
                    isinstance(error, OkxAuthError)
                    and error.code == "50102"
                    and request.credentials is not None
                    and not resynced
                ):
                    resynced = True
                    self.log.warn(
                        "OKX refused {method} {path} with 50102 (timestamp expired): "
                        "resynchronising the clock and re-signing once",
                        method=request.method,
                        path=request.path,
                    )
                    before = self._clocksync.offset
                    try:
                        await self._clocksync.sync()
                    except OkxError:
                        return self._final(request, error)
                    request = state.request = _shift_expiry(
                        request, self._clocksync.offset - before
                    )
                    continue
                if (
                    attempt >= request.max_attempts
                    or not request.idempotent
                    or not is_retryable_read(error)
                ):
                    return self._final(request, error)
                delay = self.retry.delay(attempt, error)
                if self._clock.seconds() + delay >= deadline:
                    return self._final(request, error)
                self.log.info(
                    "retrying {method} {path} in {delay:.3f} s after attempt {attempt}: {error}",
                    method=request.method,
                    path=request.path,
                    delay=delay,
                    attempt=attempt,
                    error=str(error),
                )
                self.metrics.count_retry(request.path, failure_word(error))
                await deferLater(self._clock, delay)

    def _final(self, request: _Request, error: OkxError) -> OkxReply:
        """Raise ``error``, or hand back OKX's envelope when the caller asked for it."""
        if (
            not request.check_code
            and isinstance(error, OkxApiError)
            and not isinstance(error, OkxHttpError)
            and isinstance(error.payload, Mapping)
        ):
            return OkxReply(status=error.http_status, payload=error.payload)
        raise error

    def _headers(self, request: _Request) -> Headers:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        credentials = request.credentials
        if credentials is not None:
            stamp = format_timestamp(self.server_time())
            headers["OK-ACCESS-KEY"] = credentials.key
            headers["OK-ACCESS-SIGN"] = sign(
                credentials.secret, stamp, request.method, request.target, request.body
            )
            headers["OK-ACCESS-TIMESTAMP"] = stamp
            headers["OK-ACCESS-PASSPHRASE"] = credentials.passphrase
            if credentials.simulated:
                headers["x-simulated-trading"] = "1"
        headers.update(request.extra_headers)
        return Headers({name: [value] for name, value in headers.items()})

    async def _attempt(self, state: _CallState, attempt: int) -> OkxReply:
        request = state.request
        write = not request.idempotent
        started = self._clock.seconds()
        status = 0
        body = b""
        error: OkxError | None = None
        try:
            d: Deferred[Any] = self._http.request(
                request.method,
                self.base_url + request.target,
                headers=self._headers(request),
                data=request.body or None,
                unbuffered=True,
                allow_redirects=False,
            )
            state.sent = True
            response: IResponse = await with_deadline(
                d, self._clock, self.deadlines.headers, _HeadersTimeout
            )
            status = response.code
            body = await read_body(
                response,
                self._clock,
                idle=self.deadlines.body,
                cap=self.deadlines.max_body,
            )
        except CancelledError:
            raise
        except ConnectDeadlineExceeded:
            error = OkxTimeout(
                "connect", self.deadlines.connect, path=request.path, method=request.method
            )
        except _HeadersTimeout:
            error = OkxTimeout(
                "headers",
                self.deadlines.headers,
                path=request.path,
                method=request.method,
                outcome_unknown=write,
            )
        except BodyStalled:
            error = OkxTimeout(
                "body",
                self.deadlines.body,
                path=request.path,
                method=request.method,
                outcome_unknown=write,
            )
        except BodyTooLarge as exc:
            error = OkxMalformedResponse(
                f"{request.method} {request.path}: OKX's reply was too large ({exc})",
                http_status=status,
                path=request.path,
                outcome_unknown=write,
            )
        except Exception as exc:
            failure = classify_transport_failure(exc)
            error = OkxTransportError(
                f"{request.method} {request.path}: {failure.message}",
                path=request.path,
                outcome_unknown=write and failure.maybe_sent,
                tls=failure.tls,
            )
        if error is not None:
            self._log_attempt(request, attempt, started, status, error)
            raise error
        try:
            reply = self._interpret(request, status, body)
        except OkxError as refusal:
            self._log_attempt(request, attempt, started, status, refusal)
            raise
        self._log_attempt(request, attempt, started, status, None)
        return reply

    def _interpret(self, request: _Request, status: int, body: bytes) -> OkxReply:
        write = not request.idempotent
        where = f"{request.method} {request.path}"
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or "code" not in payload:
            if not 200 <= status < 300:
                raise OkxHttpError(
                    "",
                    f"HTTP {status} without an OKX envelope",
                    http_status=status,
                    path=request.path,
                    method=request.method,
                    outcome_unknown=write and status >= 500,
                )
            what = "not JSON" if payload is None else "not an OKX envelope"
            raise OkxMalformedResponse(
                f"{where}: OKX's reply (HTTP {status}, {len(body)} bytes) is {what}",
                http_status=status,
                path=request.path,
                outcome_unknown=write,
            )
        code = str(payload["code"])
        msg = str(payload.get("msg", ""))
        if code != "0" or not 200 <= status < 300:
            raise api_error(
                code,
                msg,
                http_status=status,
                path=request.path,
                method=request.method,
                payload=payload,
                outcome_unknown=write and (status >= 500 or code in _AMBIGUOUS_CODES),
            )
        if not isinstance(payload.get("data", []), list):
            raise OkxMalformedResponse(
                f"{where}: OKX's reply has a non-array data field",
                http_status=status,
                path=request.path,
                outcome_unknown=write,
            )
        reply = OkxReply(status=status, payload=payload)
        if request.check_items and request.check_code:
            failed = [item for item in reply.items if not item.ok]
            if failed:
                raise OkxApiError(
                    code,
                    msg,
                    http_status=status,
                    path=request.path,
                    method=request.method,
                    payload=payload,
                    items=reply.items,
                )
        return reply

    def _log_attempt(
        self,
        request: _Request,
        attempt: int,
        started: float,
        status: int,
        error: OkxError | None,
    ) -> None:
        duration = self._clock.seconds() - started
        self.metrics.observe_upstream(
            request.path,
            status if status or error is None else failure_word(error),
            duration,
        )
        if isinstance(error, OkxApiError) and error.code:
            self.metrics.count_okx_code(request.path, error.code)
        self.log.debug(
            "OKX {method} {path} -> {status} in {duration:.3f} s (attempt {attempt}){outcome}",
            method=request.method,
            path=request.path,
            status=status,
            duration=duration,
            attempt=attempt,
            key=request.identity,
            code=getattr(error, "code", None),
            outcome="" if error is None else f": {type(error).__name__}",
        )


class _HeadersTimeout(Exception):
    """Response headers did not arrive in time (internal; becomes OkxTimeout)."""


def _cursor_of(row: object, cursor: str | int) -> str | None:
    if isinstance(cursor, int):
        if isinstance(row, list) and len(row) > cursor:
            value = row[cursor]
        else:
            return None
    elif isinstance(row, Mapping):
        value = row.get(cursor)
    else:
        return None
    if value is None or value == "":
        return None
    return str(value)


@define(slots=False)
class OkxClientService(Service):
    """
    Runs an :class:`OkxClient` under a twistd service tree: clock sync on start, a clean
    stop (in-flight calls settled, pool closed) on shutdown.
    """

    client: OkxClient

    def startService(self) -> None:
        super().startService()  # type: ignore[no-untyped-call]
        self.client.start()

    def stopService(self) -> Deferred[None]:
        super().stopService()  # type: ignore[no-untyped-call]
        return Deferred.fromCoroutine(self.client.stop())
