# -*- test-case-name: tests.okx.test_retry -*-
"""
The loop around one call's attempts: pace, send, and decide whether to go again.

Two reasons to send a call more than once, and only two:

* an idempotent read failed in a way worth repeating
  (:func:`~fmzokx.okx.rest.retry.is_retryable_read`), within its attempt budget, after
  a backoff that still ends before the call's deadline;
* a signed call was refused with **50102** (timestamp expired): the clock is
  resynchronised and the call re-signed and sent once more, writes included, because
  OKX refuses an expired timestamp in its authentication layer before doing anything.
  An ``expTime`` header is moved by the correction so it keeps its meaning.

Every attempt first waits for a slot in its rate-limit budget
(:class:`~fmzokx.okx.pacing.pacer.Pacer`); when the first attempt has its slot, the call's
``on_slot`` hook runs (the client stops letting identical reads join it then). A retry
that can get no slot before the deadline is not attempted: the last failure is raised.
The per-attempt work is the
:class:`~fmzokx.okx.rest.attempt.AttemptSender`'s; the total deadline is the client's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from attrs import frozen
from twisted.internet.interfaces import IReactorTime

from fmzokx.deferreds import sleep
from fmzokx.logs import logger
from fmzokx.okx.codes import TIMESTAMP_EXPIRED
from fmzokx.okx.errors import OkxApiError, OkxAuthError, OkxError, OkxHttpError, OkxTimeout
from fmzokx.okx.pacing.pacer import Pacer
from fmzokx.okx.rest.clocksync import ClockSync
from fmzokx.okx.rest.observe import UpstreamMetrics, failure_word, scope_word
from fmzokx.okx.rest.reply import OkxReply
from fmzokx.okx.rest.request import CallState, PreparedRequest, shift_expiry
from fmzokx.okx.rest.retry import RetryPolicy, is_retryable_read

__all__ = ["Attempt", "CallLoop", "CallSettings", "final"]

#: Sends attempt number ``n`` (1-based) of a call.
Attempt = Callable[[CallState, int], Awaitable[OkxReply]]

# Retries and resyncs are logged under the client's namespace (the one ``OkxClient.log``
# gives), so log filters written against it keep matching.
_log = logger("fmzokx.okx.rest.client.OkxClient")


@frozen
class CallSettings:
    """
    What the loop obeys, fixed when the client is built.

    :ivar timeout: a call's total budget in seconds (pacing, attempts and backoff).
    :ivar retry: when a failed read is sent again, and after what backoff.
    :ivar metrics: where retries and pacing waits are reported.
    :ivar rate_limits: pacing is on, so each pacing wait is reported to ``metrics``.
    """

    timeout: float
    retry: RetryPolicy
    metrics: UpstreamMetrics
    rate_limits: bool


@frozen
class CallLoop:
    """Runs calls to their end: a reply, or the error to raise."""

    clock: IReactorTime
    pacer: Pacer
    clocksync: ClockSync
    settings: CallSettings
    attempt: Attempt

    async def run(self, state: CallState) -> OkxReply:
        """
        Pace and send ``state.request`` until it succeeds or must fail.

        :raises OkxError: the last attempt's failure (unless the caller asked for OKX's
            envelope, see :func:`final`).
        """
        request = state.request
        settings = self.settings
        deadline = (
            state.ends_at if state.ends_at is not None else self.clock.seconds() + settings.timeout
        )
        attempt = 0
        resynced = False
        last: OkxError | None = None
        while True:
            attempt += 1
            slots: list[float] = []
            try:
                waited = await self.pacer.acquire(
                    request.rule,
                    request.budget,
                    deadline=deadline,
                    method=request.method,
                    path=request.path,
                    on_slot=slots.append,
                )
            except OkxTimeout:
                if last is None:
                    raise  # nothing failed before: the pacer's error says why nothing was sent
                # No slot left in time for a retry: the failure being retried says more.
                return final(request, last)
            state.slot_granted()
            if waited > 0:
                # An order that waited for its slot is sent now: its expTime counts from
                # here, or a wait longer than its life would make OKX refuse it (50037).
                # The wait is bounded by the call's deadline, which the answer bounds and
                # the journal's reconciler allow for (bounds.placement).
                request = state.request = shift_expiry(request, waited)
            if settings.rate_limits:
                settings.metrics.observe_pacing_wait(scope_word(request.rule.scope), waited)
            try:
                try:
                    return await self.attempt(state, attempt)
                finally:
                    # OKX counted it at the latest now: the pacer counts it from here.
                    for slot in slots:
                        self.pacer.settle(request.budget, slot, self.clock.seconds())
            except OkxError as error:
                if (
                    isinstance(error, OkxAuthError)
                    and error.code == TIMESTAMP_EXPIRED
                    and request.credentials is not None
                    and not resynced
                ):
                    resynced = True
                    _log.warn(
                        "OKX refused {method} {path} with 50102 (timestamp expired): "
                        "resynchronising the clock and re-signing once",
                        method=request.method,
                        path=request.path,
                        key=request.identity,
                    )
                    before = self.clocksync.offset
                    try:
                        await self.clocksync.sync()
                    except OkxError:
                        return final(request, error)
                    request = state.request = shift_expiry(request, self.clocksync.offset - before)
                    last = None  # a resend OKX refused at once: "not sent" is the news
                    continue
                if (
                    attempt >= request.max_attempts
                    or not request.idempotent
                    or not is_retryable_read(error)
                ):
                    return final(request, error)
                delay = settings.retry.delay(attempt, error)
                if self.clock.seconds() + delay >= deadline:
                    return final(request, error)
                _log.info(
                    "retrying {method} {path} in {delay:.0f} ms after attempt {attempt}: {error}",
                    method=request.method,
                    path=request.path,
                    delay=delay * 1000.0,
                    attempt=attempt,
                    error=str(error),
                    key=request.identity,
                )
                settings.metrics.count_retry(request.path, failure_word(error))
                last = error
                await sleep(self.clock, delay)


def final(request: PreparedRequest, error: OkxError) -> OkxReply:
    """Raise ``error``, or hand back OKX's envelope when the caller asked for it."""
    if (
        not request.check_code
        and isinstance(error, OkxApiError)
        and not isinstance(error, OkxHttpError)
        and isinstance(error.payload, Mapping)
    ):
        return OkxReply(status=error.http_status, payload=error.payload)
    raise error
