# -*- test-case-name: tests.okx.test_client -*-
"""
The OKX v5 REST client: every call the daemon makes to OKX goes through :class:`OkxClient`.

What it promises, and where each promise lives:

* **Exact signing.** The query string and JSON body are encoded once
  (:func:`~fmzokx.okx.rest.request.prepare`); those same bytes are signed and sent
  (:func:`~fmzokx.okx.rest.request.signed_headers`). The timestamp is the injected clock plus
  the measured offset to OKX's clock (:mod:`fmzokx.okx.rest.clocksync`), re-signed per attempt.
* **Deadlines.** Connect, headers and body-silence per attempt
  (:mod:`fmzokx.okx.rest.transport`, mapped to errors by :mod:`fmzokx.okx.rest.attempt`), plus a
  total per call (``timeout``) covering pacing, retries and backoff, plus for reads the
  one deadline shared by every read of a docker call (:mod:`fmzokx.deferreds`,
  :meth:`OkxClient.read_scope`); every one ends as :class:`~fmzokx.okx.errors.OkxTimeout`.
* **Pacing.** :mod:`fmzokx.okx.pacing.pacer` queues calls within OKX's scoped limits, first
  come first served per budget, and refuses at once a call whose slot lies past its
  deadline (nothing sent, OKX's limit named).
* **Joining.** A read (signed or not) identical to one still *waiting for its slot* joins
  it: one upstream request, its reply for all (:mod:`fmzokx.deferreds`). Once a
  read is sent nobody joins it any more, so every caller's answer was produced after the
  caller arrived (read-your-writes). Writes are never joined.
* **Retries.** Idempotent reads only, per :mod:`fmzokx.okx.rest.retry`, in the loop of
  :mod:`fmzokx.okx.rest.retryloop`. Writes are never repeated, with one exception: a signed
  call refused with **50102** (timestamp expired) is re-signed and resent once after
  resynchronising the clock. That is safe for writes too, because OKX checks the
  timestamp in its authentication layer and refuses the request before any business
  processing: a 50102 reply proves nothing was done.
* **Typed results.** :class:`~fmzokx.okx.rest.reply.OkxReply` on success; the errors of
  :mod:`fmzokx.okx.errors` otherwise, with per-item ``sCode``/``sMsg`` for place/cancel
  (:func:`~fmzokx.okx.rest.reply.interpret`).
* **Complete lists.** :meth:`OkxClient.paginate` walks ``after`` cursors to the end or
  fails with :class:`~fmzokx.okx.errors.OkxPaginationError`; never a silent truncation
  (:mod:`fmzokx.okx.rest.pagination`).

This module is the front: it holds the settings, the shared state (pacer, clock offset,
calls in flight) and the lifecycle, and hands each call to those modules.
All time comes from the injected ``clock``; nothing here touches the global reactor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from attrs import define, field, setters
from treq.client import HTTPClient
from twisted.application.service import Service
from twisted.internet.defer import CancelledError, Deferred, DeferredList, fail
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.web.client import HTTPConnectionPool

from fmzokx.deferreds import Deadline, SingleFlight, current, with_deadline, within
from fmzokx.logs import logger
from fmzokx.okx.baseurl import okx_base_url
from fmzokx.okx.bounds import read_budget
from fmzokx.okx.credentials import Credentials
from fmzokx.okx.endpoints import CONFIG
from fmzokx.okx.errors import (
    OkxError,
    OkxMalformedResponse,
    OkxTimeout,
    OkxTransportError,
)
from fmzokx.okx.pacing.accounts import AccountBudgets
from fmzokx.okx.pacing.limits import Scope
from fmzokx.okx.pacing.pacer import PRIVATE_SCOPES, Pacer, SlotSource
from fmzokx.okx.rest.attempt import AttemptSender
from fmzokx.okx.rest.clocksync import ClockSync, Sample
from fmzokx.okx.rest.observe import NoMetrics, UpstreamMetrics
from fmzokx.okx.rest.pagination import PageWalk, walk_pages
from fmzokx.okx.rest.reply import OkxReply
from fmzokx.okx.rest.request import CallState, JoinKey, PreparedRequest, join_key, prepare
from fmzokx.okx.rest.retry import RetryPolicy
from fmzokx.okx.rest.retryloop import CallLoop, CallSettings
from fmzokx.okx.rest.transport import (
    BytesProducer,
    Deadlines,
    NoCookies,
    build_agent,
)

__all__ = ["OkxClient", "OkxClientService", "OkxReply", "PageWalk", "TIME_PATH"]

TIME_PATH = "/api/v5/public/time"

def _check_base_url(base_url: str) -> str:
    try:
        return okx_base_url(base_url)
    except ValueError as error:
        raise ValueError(f"OKX base URL {error}") from None


@define
class OkxClient:
    """
    Signed, paced, deadline-bounded calls to OKX v5 REST.

    Build one with :meth:`create` in production; tests inject an
    :class:`~treq.client.HTTPClient` over an in-memory agent and a
    :class:`~twisted.internet.task.Clock`. The settings below (all but ``coalesce``,
    ``on_credentials`` and ``learn_accounts``) are fixed at construction: the attempt
    sender and the retry loop are built with them, so assigning one later raises
    :class:`attrs.exceptions.FrozenAttributeError` rather than being silently ignored.

    :ivar base_url: ``https://www.okx.com`` (or a loopback ``http://`` okxsim).
    :ivar timeout: total seconds per call, pacing waits and retries included.
    :ivar rate_limits: pace calls within OKX's limits (``--rate-limits``).
    :ivar deadlines: per-attempt connect/headers/body deadlines and the body cap.
    :ivar retry: the read retry policy (inject a seeded ``random.Random`` in tests).
    :ivar sync_interval: seconds between periodic clock synchronisations (30: OKX's clock
        can step, and ``/public/time`` is cheap and unsigned; three samples every 30 s
        use 2 % of its per-IP budget).
    :ivar coalesce: let an identical read (same method, path, query and credentials)
        join one that is still waiting for its rate-limit slot.
    :ivar metrics: where calls, retries, codes, clock offsets and pacing waits are
        reported (:mod:`fmzokx.okx.rest.observe`).
    :ivar shared_budget: the budgets of ``shared_scopes`` shared with other daemons
        through Redis (``--shared-state``, :mod:`fmzokx.okx.pacing.shared`).
    :ivar on_credentials: told of the credentials of every signed call (the order
        reconciler uses it to settle a key's orders from before a restart).
    :ivar learn_accounts: before a key's first signed call, read which account it belongs
        to (``GET /account/config``) and pace its private budgets per account, as OKX
        counts them (:mod:`fmzokx.okx.pacing.accounts`); on in :meth:`create`.
    """

    _http: HTTPClient
    _clock: IReactorTime
    base_url: str = field(converter=_check_base_url, on_setattr=setters.frozen)
    timeout: float = field(default=10.0, on_setattr=setters.frozen)
    rate_limits: bool = field(default=True, on_setattr=setters.frozen)
    deadlines: Deadlines = field(default=Deadlines(), on_setattr=setters.frozen)
    retry: RetryPolicy = field(factory=RetryPolicy, on_setattr=setters.frozen)
    sync_interval: float = field(default=30.0, on_setattr=setters.frozen)
    coalesce: bool = True
    metrics: UpstreamMetrics = field(factory=NoMetrics, on_setattr=setters.frozen)
    shared_budget: SlotSource | None = field(default=None, on_setattr=setters.frozen)
    shared_scopes: frozenset[Scope] = field(default=PRIVATE_SCOPES, on_setattr=setters.frozen)
    on_credentials: Callable[[Credentials], None] | None = None
    learn_accounts: bool = False
    _pool: HTTPConnectionPool | None = None
    _pacer: Pacer = field(init=False)
    _accounts: AccountBudgets = field(init=False)
    _clocksync: ClockSync = field(init=False)
    _calls: CallLoop = field(init=False)
    _inflight: dict[Deferred[OkxReply], CallState] = field(init=False, factory=dict)
    _waiting_reads: SingleFlight[JoinKey, OkxReply] = field(init=False, factory=SingleFlight)
    _sync_loop: LoopingCall | None = field(init=False, default=None)
    _stopped: bool = field(init=False, default=False)

    log = logger("fmzokx.okx.rest.client")

    def __attrs_post_init__(self) -> None:
        self._accounts = AccountBudgets(self._clock, self._account_uid)
        self._pacer = Pacer(
            self._clock,
            enabled=self.rate_limits,
            shared=self.shared_budget,
            shared_scopes=self.shared_scopes,
        )
        self._clocksync = ClockSync(
            self._clock,
            self._sample_time,
            on_measure=lambda offset: self.metrics.set_clock_offset(offset),
        )
        # One sender and one loop serve every call, built complete with the settings
        # (which are fixed from here on: see the fields' on_setattr).
        sender = AttemptSender(
            http=self._http,
            clock=self._clock,
            base_url=self.base_url,
            deadlines=self.deadlines,
            metrics=self.metrics,
            server_time=self.server_time,
            observe_clock=self._clocksync.observe_reply,
        )
        self._calls = CallLoop(
            clock=self._clock,
            pacer=self._pacer,
            clocksync=self._clocksync,
            settings=CallSettings(
                timeout=self.timeout,
                retry=self.retry,
                metrics=self.metrics,
                rate_limits=self.rate_limits,
            ),
            attempt=sender.send,
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
        shared_budget: SlotSource | None = None,
        shared_scopes: frozenset[Scope] = PRIVATE_SCOPES,
        learn_accounts: bool = True,
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
            shared_budget=shared_budget,
            shared_scopes=shared_scopes,
            learn_accounts=learn_accounts,
            pool=pool,
        )

    # -- public calls -------------------------------------------------------------

    async def get(
        self,
        path: str,
        params: Mapping[str, object] | None = None,
        *,
        credentials: Credentials | None = None,
        deadline: Deadline | None = None,
    ) -> OkxReply:
        """
        An idempotent read, retried per :attr:`retry`; signed when ``credentials`` given.

        :param deadline: when the read must be done by, if sooner than :attr:`timeout`
            from now; by default the docker call's read deadline (:meth:`read_scope`).
        :raises OkxError: a subclass saying what went wrong; never returns ``code != "0"``.
        """
        await self._learn_account(credentials)
        request = self._prepare("GET", path, params, None, credentials, check_code=True)
        return await self._dispatch(request, deadline or current())

    async def post(
        self,
        path: str,
        body: object,
        *,
        credentials: Credentials,
        headers: Mapping[str, str] | None = None,
        on_send: Callable[[Mapping[str, str]], None] | None = None,
    ) -> OkxReply:
        """
        A write. Never retried (except the 50102 resend documented on the module).

        A per-item ``sCode != "0"`` (place/cancel/amend) raises
        :class:`~fmzokx.okx.errors.OkxApiError` with ``items``.

        :param headers: extra headers such as ``expTime``; OKX auth headers are refused.
        :param on_send: called with the extra headers of each attempt as it is sent (a
            50102 resend moves ``expTime``; this says where to).
        """
        await self._learn_account(credentials)
        request = self._prepare(
            "POST", path, None, body, credentials, check_code=True, extra_headers=headers,
            on_send=on_send,
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
        await self._learn_account(credentials)
        if method == "GET":
            if params_or_body is not None and not isinstance(params_or_body, Mapping):
                raise TypeError("GET parameters must be a mapping")
            request = self._prepare(
                "GET", path, params_or_body, None, credentials, check_code=check_code
            )
            return await self._dispatch(request, current())
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

        The whole walk is bounded by the read deadline (:meth:`read_scope`).

        :raises OkxPaginationError: when any page fails (the failure is ``__cause__``),
            a page is malformed, the cursor stops moving, ``max_pages`` pages did not
            reach the end, or the read deadline passed first. Never returns a partial
            list.
        """
        with self.read_scope():
            return await walk_pages(
                lambda page_path, page_params: self.get(
                    page_path, page_params, credentials=credentials
                ),
                path,
                params,
                cursor=cursor,
                limit=limit,
                max_pages=max_pages,
            )

    # -- deadlines ------------------------------------------------------------------

    @property
    def read_budget(self) -> float:
        """Seconds all the reads of one docker call may take together (``3 × timeout``)."""
        return read_budget(self.timeout)

    @contextmanager
    def read_scope(self) -> Iterator[Deadline | None]:
        """
        Bound every read in the ``with`` block by one deadline, :attr:`read_budget` from
        now -- or by the enclosing one (a docker call's), which is never extended.
        """
        with within(Deadline.after(self._clock, self.read_budget)) as deadline:
            yield deadline

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

    def clock_mark(self) -> int:
        """A point in the sequence of clock measurements, for :meth:`sync_clock_since`."""
        return self._clocksync.mark()

    async def sync_clock_since(self, mark: int) -> float:
        """
        The clock offset from a measurement begun after ``mark`` (:meth:`clock_mark`) was
        taken: the current one if it is that recent, else a new one. For decisions that
        must rest on OKX's clock as it is now, not as it was at the last periodic sync.
        """
        return await self._clocksync.sync_since(mark)

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

    def budget_usage(self) -> list[dict[str, Any]]:
        """Rate-limit budget use right now, per endpoint (for the status page)."""
        return self._pacer.usage()

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
        on_send: Callable[[Mapping[str, str]], None] | None = None,
    ) -> PreparedRequest:
        if credentials is not None and self.on_credentials is not None:
            self.on_credentials(credentials)
        return prepare(
            method,
            path,
            params,
            body,
            credentials,
            identity=None if credentials is None else self._accounts.identity(credentials),
            check_code=check_code,
            check_items=check_items,
            extra_headers=extra_headers,
            max_attempts=max_attempts or self.retry.max_attempts,
            on_send=on_send,
        )

    async def _learn_account(self, credentials: Credentials | None) -> None:
        """
        Before a key's first signed call, learn which account it belongs to, so that its
        private budgets are paced per account as OKX counts them (:mod:`.accounts`).
        """
        if credentials is None or not (self.learn_accounts and self.rate_limits):
            return
        if self._accounts.needs_lookup(credentials):
            await self._accounts.learn(credentials)

    async def _account_uid(self, credentials: Credentials) -> str:
        # Sent directly, not through get(): get() would wait for this very lookup.
        request = self._prepare("GET", CONFIG.path, None, None, credentials, check_code=True)
        reply = await self._dispatch(request, current())
        item = reply.data[0] if reply.data else {}
        return str(item.get("uid") or "") if isinstance(item, Mapping) else ""

    def _dispatch(
        self, request: PreparedRequest, deadline: Deadline | None = None
    ) -> Deferred[OkxReply]:
        """
        Start ``request``, or join an identical read that is still waiting for its slot.

        The joined call closes to newcomers when its slot comes, just before it is sent:
        a read that arrives later gets a call of its own, so no caller is answered with
        data older than its own arrival (a strategy always sees its own earlier orders).

        A read's ``deadline`` (the docker call's, see :meth:`read_scope`) cuts it short.
        A joined call runs on its own timeout, and each caller waits for it only until
        its own deadline; writes have none (cutting one short would blur its outcome).
        """
        if not request.idempotent:
            deadline = None
        if deadline is not None and deadline.remaining(self._clock) <= 0:
            return fail(self._deadline_passed(request, deadline))
        if not (self.coalesce and request.idempotent) or self._stopped:
            return self._start(request, deadline=deadline)
        key = join_key(request)
        if self._waiting_reads.in_flight(key):
            self.metrics.count_joined(request.path)
        shared = self._waiting_reads.run(
            key, lambda: self._start(request, on_slot=lambda: self._waiting_reads.close(key))
        )
        if deadline is None or deadline.remaining(self._clock) >= self.timeout:
            return shared
        return with_deadline(
            shared,
            self._clock,
            deadline.remaining(self._clock),
            lambda: self._deadline_passed(request, deadline),
        )

    def _deadline_passed(self, request: PreparedRequest, deadline: Deadline) -> OkxTimeout:
        return OkxTimeout(
            "deadline", deadline.seconds, path=request.path, method=request.method
        )

    def _start(
        self,
        request: PreparedRequest,
        on_slot: Callable[[], object] | None = None,
        deadline: Deadline | None = None,
    ) -> Deferred[OkxReply]:
        if self._stopped:
            return fail(
                OkxTransportError(
                    f"{request.method} {request.path}: the OKX client is stopped",
                    path=request.path,
                )
            )
        budget = self.timeout
        cut_by: Deadline | None = None
        if deadline is not None:
            left = deadline.remaining(self._clock)
            if left <= 0:
                return fail(self._deadline_passed(request, deadline))
            if left < budget:
                budget, cut_by = left, deadline
        state = CallState(request, on_slot=on_slot, ends_at=self._clock.seconds() + budget)
        inner = Deferred.fromCoroutine(self._calls.run(state))
        if not inner.called:
            self._inflight[inner] = state

            def forget(outcome: object) -> object:
                self._inflight.pop(inner, None)
                return outcome

            inner.addBoth(forget)
        outer = with_deadline(
            inner,
            self._clock,
            budget,
            lambda: self._deadline_passed(request, cut_by)
            if cut_by is not None
            else OkxTimeout(
                "total",
                self.timeout,
                path=request.path,
                method=request.method,
                outcome_unknown=state.sent and not request.idempotent,
            ),
        )
        outer.addErrback(self._stopped_while_waiting, request, state)
        return outer

    def _stopped_while_waiting(
        self, failure: Any, request: PreparedRequest, state: CallState
    ) -> Any:
        if self._stopped and failure.check(CancelledError):
            raise OkxTransportError(
                f"{request.method} {request.path}: cancelled because the OKX client stopped",
                path=request.path,
                outcome_unknown=state.sent and not request.idempotent,
            )
        return failure


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
