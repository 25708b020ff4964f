# -*- test-case-name: tests.ops.test_metrics -*-
"""
The daemon's Prometheus metrics, served at ``GET /metrics``.

Each daemon owns its own :class:`prometheus_client.CollectorRegistry` (never the
library's global one), so tests and several daemons in one process cannot collide, and
``/metrics`` shows exactly this daemon's series.

Label values are where metrics usually leak and explode: the docker's method name, the
``__api_`` pass-through path and free-form reasons are all chosen by whoever sends the
request. Every recording method here therefore reduces its label values to a bounded,
secret-free vocabulary before touching a metric:

- method names become the registered (lower-case, canonical) name, ``"__api_"`` for the
  pass-through, or ``"unknown"``;
- OKX paths lose their query string and anything that does not look like an OKX v5 path;
  the endpoints the daemon itself calls always keep their own label, while other paths
  (``__api_`` pass-through calls, chosen by the caller) share a smaller cap
  (:data:`PASSTHROUGH_PATHS`), so random paths can neither grow the series nor crowd
  out the daemon's own endpoints;
- other labels (outcome, reason, scope, status) must be short ``[a-z0-9_.+-]`` words,
  contain no credential this process has seen, and each label has a cap on distinct
  values; past it, values are recorded as ``"other"``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from attrs import define, field
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily

from fmzokx import __version__
from fmzokx.logs import secrets
from fmzokx.okx import codes, endpoints
from fmzokx.okx.pacing.limits import LIMITS

if TYPE_CHECKING:
    from fmzokx.fmz.registry import MethodSpec
    from fmzokx.status.history import History

__all__ = [
    "LATENCY_BUCKETS",
    "Metrics",
    "known_methods",
    "label_for_method",
    "label_for_path",
    "label_for_status",
]

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)
"""Histogram buckets for RPC and upstream durations: 0.5 ms (a cached answer) to 30 s."""

PACING_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
"""Histogram buckets for time spent queued before OKX's rate limits let a call through."""

LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Histogram buckets for WebSocket message lag (our clock minus the push's ``ts``)."""

UNKNOWN = "unknown"
OTHER = "other"
PASSTHROUGH = "__api_"

# OKX v5 REST paths are lower-case words joined by '-' and '/', a few levels deep.
_OKX_PATH = re.compile(r"^/api/v5(/[a-z0-9][a-z0-9-]{0,40}){1,4}$")
_WORD = re.compile(r"^[a-z0-9][a-z0-9_.+-]{0,39}$")
_MAX_DISTINCT = 64
PASSTHROUGH_PATHS = 32
"""Distinct labels for OKX paths the daemon does not call itself; later ones are "other"."""

_OWN_PATHS = frozenset(
    {rule.path for rule in LIMITS.values()}
    | {
        value.path
        for value in vars(endpoints).values()
        if isinstance(value, endpoints.Endpoint)
    }
)


def known_methods(specs: Iterable[MethodSpec[Any]]) -> dict[str, str]:
    """
    Map every registered method name and alias (lower-cased) to its canonical label.

    Pass the result to :meth:`Metrics.create` or :func:`label_for_method`, e.g.
    ``known_methods(default_registry().specs())``. Prefix handlers (``__api_``) are left
    out: :func:`label_for_method` labels the pass-through itself.
    """
    names: dict[str, str] = {}
    for spec in specs:
        if spec.prefix:
            continue
        canonical = spec.name.lower()
        for name in (spec.name, *spec.aliases):
            names[name.lower()] = canonical
    return names


def label_for_method(name: str, known: Mapping[str, str] | Iterable[str]) -> str:
    """
    The metric label for a docker method name: bounded and never user-chosen text.

    ``known`` holds the registered names (lower-case), or maps each name and alias to
    its canonical label (see :func:`known_methods`). ``__api_<path>`` calls are all
    labelled ``"__api_"``; anything unregistered is ``"unknown"``.
    """
    if name.startswith(PASSTHROUGH):
        return PASSTHROUGH
    folded = name.strip().lower()
    if isinstance(known, Mapping):
        label = known.get(folded)
        return label if isinstance(label, str) else UNKNOWN
    return folded if folded in set(known) else UNKNOWN


def label_for_path(path: str) -> str:
    """
    The metric label for an upstream OKX request: its path, without scheme, host or query.

    ``https://www.okx.com/api/v5/market/ticker?instId=BTC-USDT`` gives
    ``/api/v5/market/ticker``; anything that is not shaped like an OKX v5 path (a typo in
    an ``__api_`` call, say) is ``"other"``, so a caller cannot mint new series at will.
    """
    text = path.strip()
    scheme_end = text.find("://")
    if scheme_end != -1:
        slash = text.find("/", scheme_end + 3)
        text = text[slash:] if slash != -1 else "/"
    text = text.split("?", 1)[0].split("#", 1)[0].rstrip("/")
    return text if _OKX_PATH.match(text) else OTHER


def label_for_status(status: int | str) -> str:
    """
    The metric label for an upstream outcome: an HTTP status (``"200"``) or a short word
    for a transport failure (``"timeout"``, ``"connection-error"``...).
    """
    if isinstance(status, int) and not isinstance(status, bool):
        return str(status) if 100 <= status <= 599 else OTHER
    return _word(str(status))


def _word(value: str) -> str:
    text = value.strip().lower()
    if not _WORD.match(text) or secrets.scrub(text) != text:
        return OTHER
    return text


@define
class _Vocabulary:
    """Caps the number of distinct values one label can take; later newcomers are "other"."""

    limit: int = _MAX_DISTINCT
    _seen: set[str] = field(factory=set)
    _lock: threading.Lock = field(factory=threading.Lock)

    def __call__(self, value: str) -> str:
        with self._lock:
            if value in self._seen:
                return value
            if len(self._seen) >= self.limit:
                return OTHER
            self._seen.add(value)
            return value


@define
class Metrics:
    """
    Every metric the daemon exports, on one private registry.

    Build it with :meth:`create`; record through the methods below (they normalise the
    labels); serve :meth:`render` at ``GET /metrics``. The metric objects are public
    attributes for tests and for anything the methods do not cover, but then the caller
    owns the label hygiene.
    """

    registry: CollectorRegistry
    methods: Mapping[str, str]
    rpc_total: Counter
    rpc_duration: Histogram
    rpc_inflight: Gauge
    upstream_total: Counter
    upstream_duration: Histogram
    upstream_retries: Counter
    okx_rate_limited: Counter
    okx_timestamp_rejected: Counter
    reconciliations: Counter
    clock_offset: Gauge
    pacing_wait: Histogram
    upstream_joined: Counter
    access_denied: Counter
    connections: Gauge
    connections_closed: Counter
    stream_messages: Counter
    stream_lag: Histogram
    stream_resyncs: Counter
    stream_fallbacks: Counter
    stream_reconnects: Counter
    private_answers: Counter
    private_differences: Counter
    history: History | None = None
    """Also fed every event (the status page's last hour), when set."""
    _vocabularies: dict[str, _Vocabulary] = field(factory=dict)
    _children: dict[tuple[str, tuple[str, ...]], Any] = field(factory=dict)

    @classmethod
    def create(
        cls,
        methods: Mapping[str, str] | Iterable[str] = (),
        registry: CollectorRegistry | None = None,
    ) -> Metrics:
        """
        A fresh set of metrics on ``registry`` (a new private one by default).

        :param methods: the registered method names, or :func:`known_methods` of the
            registry, used to label RPCs.
        """
        if registry is None:
            registry = CollectorRegistry(auto_describe=True)
        if isinstance(methods, Mapping):
            names: Mapping[str, str] = dict(methods)
        else:
            names = {name.lower(): name.lower() for name in methods}
        info = Info("fmzokx_build", "The running fmzokx version.", registry=registry)
        info.info({"version": __version__})
        # Memory, CPU seconds, open files and start time of this process (read from
        # /proc at each scrape; nothing on platforms without it), and the Python build.
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        return cls(
            registry=registry,
            methods=names,
            rpc_total=Counter(
                "fmzokx_rpc_requests",
                "Docker calls answered, by method and outcome.",
                ["method", "outcome"],
                registry=registry,
            ),
            rpc_duration=Histogram(
                "fmzokx_rpc_duration_seconds",
                "Time from a docker call's arrival to its answer, by method and outcome.",
                ["method", "outcome"],
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            rpc_inflight=Gauge(
                "fmzokx_rpc_inflight",
                "Docker calls being answered right now.",
                registry=registry,
            ),
            upstream_total=Counter(
                "fmzokx_upstream_requests",
                "HTTP requests sent to OKX, by path and HTTP status (or transport failure).",
                ["path", "status"],
                registry=registry,
            ),
            upstream_duration=Histogram(
                "fmzokx_upstream_duration_seconds",
                "Duration of each HTTP request to OKX, by path.",
                ["path"],
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            upstream_retries=Counter(
                "fmzokx_upstream_retries",
                "Requests to OKX sent again, by path and reason.",
                ["path", "reason"],
                registry=registry,
            ),
            okx_rate_limited=Counter(
                "fmzokx_okx_rate_limited",
                "OKX answers with code 50011 (rate limit reached), by path.",
                ["path"],
                registry=registry,
            ),
            okx_timestamp_rejected=Counter(
                "fmzokx_okx_timestamp_rejected",
                "OKX answers with code 50102 (request timestamp expired: clock offset).",
                registry=registry,
            ),
            reconciliations=Counter(
                "fmzokx_reconciliations",
                "Ambiguous order outcomes looked up at OKX, by what the lookup found.",
                ["outcome"],
                registry=registry,
            ),
            clock_offset=Gauge(
                "fmzokx_clock_offset_seconds",
                "OKX server time minus local time, as last measured.",
                registry=registry,
            ),
            pacing_wait=Histogram(
                "fmzokx_pacing_wait_seconds",
                "Time a call waited for OKX rate-limit budget, by limit scope.",
                ["scope"],
                buckets=PACING_BUCKETS,
                registry=registry,
            ),
            upstream_joined=Counter(
                "fmzokx_upstream_joined",
                "Reads answered by an identical read that was still waiting for its "
                "rate-limit slot, so they sent no request of their own, by path.",
                ["path"],
                registry=registry,
            ),
            access_denied=Counter(
                "fmzokx_access_denied",
                "Requests refused by the access policy (HTTP 403), by reason.",
                ["reason"],
                registry=registry,
            ),
            connections=Gauge(
                "fmzokx_rpc_connections",
                "Connections open to the RPC service now.",
                registry=registry,
            ),
            connections_closed=Counter(
                "fmzokx_rpc_connections_closed",
                "Connections the daemon closed to protect the RPC service, by reason "
                "(evicted-idle, evicted-incomplete, refused, request-timeout).",
                ["reason"],
                registry=registry,
            ),
            stream_messages=Counter(
                "fmzokx_stream_messages",
                "Market-data pushes received over OKX's WebSocket, by channel.",
                ["channel"],
                registry=registry,
            ),
            stream_lag=Histogram(
                "fmzokx_stream_lag_seconds",
                "Local receive time minus the push's ts (clock offset included), by channel.",
                ["channel"],
                buckets=LAG_BUCKETS,
                registry=registry,
            ),
            stream_resyncs=Counter(
                "fmzokx_stream_resyncs",
                "Order books rebuilt from a new snapshot, by channel and reason "
                "(gap, checksum, malformed).",
                ["channel", "reason"],
                registry=registry,
            ),
            stream_fallbacks=Counter(
                "fmzokx_stream_fallbacks",
                "ticker/depth/trades answered over REST although --market-data is ws, by "
                "method and reason (cold, stale, unsynced, failed, short, unknown).",
                ["method", "reason"],
                registry=registry,
            ),
            stream_reconnects=Counter(
                "fmzokx_stream_reconnects",
                "OKX WebSocket connections lost while still wanted, by path.",
                ["path"],
                registry=registry,
            ),
            private_answers=Counter(
                "fmzokx_private_answers",
                "Balance, positions, orders and order reads, by the OKX read, where the "
                "answer came from (copy: the private WebSocket copy; rest) and why REST "
                "(write, stale, connecting, refused, unknown, capacity...).",
                ["read", "source", "reason"],
                registry=registry,
            ),
            private_differences=Counter(
                "fmzokx_private_differences",
                "Reconciliations that found a key's private copy different from REST (the "
                "copy was re-seeded), by view (accounts, positions, orders).",
                ["view"],
                registry=registry,
            ),
        )

    # -- labels ---------------------------------------------------------------------

    def _bounded(self, name: str, value: str) -> str:
        vocabulary = self._vocabularies.get(name)
        if vocabulary is None:
            limit = PASSTHROUGH_PATHS if name == "path" else _MAX_DISTINCT
            vocabulary = self._vocabularies.setdefault(name, _Vocabulary(limit))
        return vocabulary(value)

    def _child(self, name: str, metric: Any, *labels: str) -> Any:
        """
        The labelled child of ``metric``, cached: ``labels()`` takes a lock and validates
        on every call. The key is the already-bounded label values, so the cache is
        bounded too.
        """
        key = (name, labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def path_label(self, path: str) -> str:
        """The label for an upstream path: its own for known endpoints, else capped."""
        label = label_for_path(path)
        if label in _OWN_PATHS or label == OTHER:
            return label
        return self._bounded("path", label)

    def method_label(self, method: str) -> str:
        """The label :meth:`observe_rpc` uses for ``method``."""
        return label_for_method(method, self.methods)

    # -- recording ------------------------------------------------------------------

    def observe_rpc(
        self, method: str, outcome: str, seconds: float, label: str | None = None
    ) -> None:
        """
        Count one answered docker call and record how long it took.

        :param label: the service label it was posted to (the status page groups by it;
            Prometheus does not, as labels are chosen by whoever configures the docker).
        """
        if self.history is not None and label is not None:
            self.history.docker_call(label, outcome, seconds)
        method_label = self.method_label(method)
        outcome_label = self._bounded("outcome", _word(outcome))
        self._child("rpc_total", self.rpc_total, method_label, outcome_label).inc()
        self._child("rpc_duration", self.rpc_duration, method_label, outcome_label).observe(
            max(seconds, 0.0)
        )

    def rpc_started(self) -> None:
        """A docker call was accepted (pair with :meth:`rpc_finished`)."""
        self.rpc_inflight.inc()

    def rpc_finished(self) -> None:
        """A docker call was answered."""
        self.rpc_inflight.dec()

    def observe_upstream(self, path: str, status: int | str, seconds: float) -> None:
        """
        Count one HTTP request to OKX and record its duration.

        :param path: the request path or URL (query and host are dropped).
        :param status: the HTTP status, or a word such as ``"timeout"`` when no
            response arrived.
        """
        if self.history is not None:
            self.history.upstream_call(path, status, seconds)
        path_label = self.path_label(path)
        status_label = self._bounded("status", label_for_status(status))
        self._child("upstream_total", self.upstream_total, path_label, status_label).inc()
        self._child("upstream_duration", self.upstream_duration, path_label).observe(
            max(seconds, 0.0)
        )

    def count_retry(self, path: str, reason: str) -> None:
        """Count one retried OKX request (``reason``: e.g. ``"timeout"``, ``"50011"``)."""
        path_label = self.path_label(path)
        self.upstream_retries.labels(path_label, self._bounded("reason", _word(reason))).inc()

    def count_okx_code(self, path: str, code: str | int) -> None:
        """
        Record an OKX error code worth alerting on: 50011 (rate limited) and 50102
        (timestamp expired) have their own counters; other codes are ignored here.
        """
        text = str(code).strip()
        if self.history is not None:
            self.history.okx_code(path, text)
        if text in codes.RATE_LIMITED:
            self.okx_rate_limited.labels(self.path_label(path)).inc()
        elif text == codes.TIMESTAMP_EXPIRED:
            self.okx_timestamp_rejected.inc()

    def count_reconciliation(self, outcome: str) -> None:
        """
        Count one reconciliation of an ambiguous order outcome, by what it found
        (e.g. ``"found"``, ``"not-placed"``, ``"unknown"``).
        """
        if self.history is not None:
            self.history.order_outcome(outcome)
        self.reconciliations.labels(self._bounded("reconciliation", _word(outcome))).inc()

    def order_placed(self) -> None:
        """An order OKX accepted at once (the status page's "placed")."""
        if self.history is not None:
            self.history.order_outcome("placed")

    def record_error(self, label: str, method: str, message: str) -> None:
        """An error answered to the docker, for the status page's latest errors."""
        if self.history is not None:
            self.history.error(label, method, message)

    def set_clock_offset(self, seconds: float) -> None:
        """Publish the latest measured offset of OKX's clock from ours."""
        self.clock_offset.set(seconds)

    def observe_pacing_wait(self, scope: str, seconds: float) -> None:
        """
        Record how long a call queued for rate-limit budget.

        ``scope`` names the *kind* of limit (``"public"``, ``"private"``, ``"trade"``...),
        never the account or key it applies to.
        """
        if self.history is not None:
            self.history.pacing_wait(scope, seconds)
        scope_label = self._bounded("scope", _word(scope))
        self._child("pacing_wait", self.pacing_wait, scope_label).observe(max(seconds, 0.0))

    def count_joined(self, path: str) -> None:
        """Count one read that shared an identical waiting read's call instead of its own."""
        path_label = self._bounded("path", label_for_path(path))
        self._child("upstream_joined", self.upstream_joined, path_label).inc()

    def count_access_denied(self, reason: str) -> None:
        """Count one request refused with 403, by :attr:`AccessDecision.reason`."""
        self.access_denied.labels(self._bounded("access", _word(reason))).inc()

    def set_connections(self, count: int) -> None:
        """Publish how many connections the RPC site holds."""
        self.connections.set(count)

    def count_connection_closed(self, reason: str) -> None:
        """Count one connection closed by the connection guard, by reason."""
        label = self._bounded("connection", _word(reason))
        self._child("connections_closed", self.connections_closed, label).inc()

    # -- the WebSocket market data (a StreamObserver) ---------------------------------

    def stream_message(self, channel: str, lag: float | None) -> None:
        """One push on ``channel``; ``lag`` seconds behind its ``ts`` when it has one."""
        label = self._bounded("channel", _word(channel))
        self._child("stream_messages", self.stream_messages, label).inc()
        if lag is not None:
            self._child("stream_lag", self.stream_lag, label).observe(max(lag, 0.0))

    def stream_resync(self, channel: str, reason: str) -> None:
        """One book rebuilt from a new snapshot."""
        self.stream_resyncs.labels(
            self._bounded("channel", _word(channel)), self._bounded("reason", _word(reason))
        ).inc()

    def stream_fallback(self, method: str, reason: str) -> None:
        """One ticker/depth/trades query left to REST."""
        self._child(
            "stream_fallbacks",
            self.stream_fallbacks,
            self._bounded("stream_method", _word(method)),
            self._bounded("reason", _word(reason)),
        ).inc()

    def stream_reconnect(self, path: str) -> None:
        """One lost WebSocket connection (``path`` as ``/ws/v5/public``)."""
        self.stream_reconnects.labels(
            self._bounded("ws_path", _word(path.rstrip("/").rsplit("/", 1)[-1]))
        ).inc()

    def watch_streams(self, health: Callable[[], Mapping[str, Any]]) -> None:
        """
        Publish the stream's state at every scrape: ``fmzokx_stream_channels`` (channels
        by mode, channel and state) and ``fmzokx_stream_connection`` (1 for the state of
        each path's connections), read from ``health()`` (the StreamSet's).
        """
        self.registry.register(_StreamState(health))

    # -- the private WebSocket copies (a PrivateObserver) -----------------------------

    def private_answer(self, method: str, source: str, reason: str) -> None:
        """One private read answered from the ``copy`` or over ``rest``."""
        self._child(
            "private_answers", self.private_answers, self._bounded("read", _word(method)),
            _word(source), self._bounded("reason", _word(reason) if reason else "none"),
        ).inc()

    def private_difference(self, view: str) -> None:
        """Reconciliation found a copy's ``view`` different from REST."""
        self._child(
            "private_differences", self.private_differences, self._bounded("view", _word(view))
        ).inc()

    def watch_private(self, health: Callable[[], Mapping[str, Any]]) -> None:
        """
        Publish the private sessions at every scrape (``fmzokx_private_sessions`` by
        state, ``fmzokx_private_logged_in``, ``fmzokx_private_push_age_seconds``), read
        from ``health()`` (PrivateSessions'); never a key, only counts and ages.
        """
        self.registry.register(_PrivateState(health))

    # -- serving --------------------------------------------------------------------

    def render(self) -> tuple[bytes, str]:
        """The ``/metrics`` body in Prometheus text format, and its content type."""
        body: bytes = generate_latest(self.registry)
        content_type: str = CONTENT_TYPE_LATEST
        return body, content_type


class _StreamState:
    """A collector reading the WebSocket copies' state when ``/metrics`` is scraped."""

    def __init__(self, health: Callable[[], Mapping[str, Any]]) -> None:
        self._health = health

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterable[Any]:
        channels = GaugeMetricFamily(
            "fmzokx_stream_channels",
            "Subscribed OKX WebSocket channels by mode (live/demo), channel and state "
            "(live, stale, subscribing, resyncing, refused).",
            labels=["mode", "channel", "state"],
        )
        connections = GaugeMetricFamily(
            "fmzokx_stream_connection",
            "1 for the state of each path's OKX WebSocket connections (open when all are, "
            "else the one holding them back: waiting, connecting, idle).",
            labels=["mode", "path", "state"],
        )
        health = self._health()
        for mode in ("live", "demo"):
            part = health.get(mode)
            if not isinstance(part, Mapping):
                continue
            for channel, states in part.get("channels", {}).items():
                for state, count in states.items():
                    channels.add_metric([mode, _word(channel), _word(state)], count)
            for path, state in part.get("connections", {}).items():
                name = _word(str(path).rstrip("/").rsplit("/", 1)[-1])
                connections.add_metric([mode, name, _word(state)], 1)
        yield channels
        yield connections


class _PrivateState:
    """A collector reading the private sessions when ``/metrics`` is scraped."""

    def __init__(self, health: Callable[[], Mapping[str, Any]]) -> None:
        self._health = health

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterable[Any]:
        sessions = GaugeMetricFamily(
            "fmzokx_private_sessions",
            "Private WebSocket sessions (one per API key in use) by state (live, "
            "connecting, logging_in, subscribing, seeding, refused...).",
            labels=["state"],
        )
        logged_in = GaugeMetricFamily(
            "fmzokx_private_logged_in", "Private sessions logged in at OKX now."
        )
        push_age = GaugeMetricFamily(
            "fmzokx_private_push_age_seconds",
            "Seconds since the last push and since anything (a push, a pong) was heard, "
            "over live sessions: the oldest and the newest.",
            labels=["what", "which"],
        )
        health = self._health()
        states: dict[str, int] = {}
        ages: dict[str, list[float]] = {"push": [], "heard": []}
        for session in health.get("sessions", []):
            state = _word(str(session.get("state", "")))
            states[state] = states.get(state, 0) + 1
            if session.get("state") == "live":
                for what in ages:
                    age = session.get(f"{what}_age")
                    if isinstance(age, (int, float)):
                        ages[what].append(float(age))
        for state, count in sorted(states.items()):
            sessions.add_metric([state], count)
        logged_in.add_metric([], int(health.get("logged_in", 0)))
        for what, values in ages.items():
            if values:
                push_age.add_metric([what, "oldest"], max(values))
                push_age.add_metric([what, "newest"], min(values))
        yield sessions
        yield logged_in
        yield push_age
