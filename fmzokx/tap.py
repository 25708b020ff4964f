# -*- test-case-name: tests.test_tap -*-
"""
``twistd fmzokx``: command-line options and service wiring.

Only two things live here, as in ``twisted.web.tap``: :class:`Options` (parsing and
validation, raising :class:`~twisted.python.usage.UsageError` with a helpful message)
and :func:`makeService`, which builds the :class:`MultiService` and imports the reactor
inside the function so that loading the plugin never installs one.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from twisted.application.service import IService, MultiService
from twisted.python import usage

from fmzokx.logs import logger

if TYPE_CHECKING:
    from fmzokx.okx.pacing.shared.settings import SharedStateService

__all__ = ["Options", "is_loopback_endpoint", "makeService"]

DEFAULT_LISTEN = "tcp:6666:interface=127.0.0.1"
DEFAULT_OKX_URL = "https://www.okx.com"

log = logger(__name__)


def is_loopback_endpoint(description: str) -> bool:
    """
    Whether a server endpoint string only accepts connections from this machine.

    ``tcp``/``ssl`` endpoints without ``interface=`` listen on every interface; UNIX
    sockets are local by nature.
    """
    kind, *parts = _split_endpoint(description)
    kind = kind.strip().lower()
    if kind == "unix":
        return True
    if kind not in ("tcp", "tcp6", "ssl"):
        return False
    for part in parts:
        name, sep, value = part.partition("=")
        if sep and name.strip().lower() == "interface":
            return _is_loopback_host(value.strip().strip("[]"))
    return False


def _split_endpoint(description: str) -> list[str]:
    """Split an endpoint string on ``:``, honouring backslash escapes (``\\:\\:1``)."""
    parts = [""]
    escaped = False
    for char in description:
        if escaped:
            parts[-1] += char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ":":
            parts.append("")
        else:
            parts[-1] += char
    return parts


class Options(usage.Options):
    """Options for ``twistd fmzokx``."""

    synopsis = (
        "[--listen ENDPOINT ...] [--okx-url URL] [--timeout SECONDS] [--rate-limits on|off] "
        "[--max-body BYTES] [--sandbox] [--market-data ws|rest] [--okx-ws-url URL] "
        "[--allow-ip CIDR ...] [--token-file PATH] "
        "[--ca-bundle PEM] [--log-level LEVEL] [--max-connections N] "
        "[--request-timeout SECONDS] "
        "[--shared-state redis://HOST:PORT/DB] [--shared-state-password-file PATH] "
        "[--shared-state-ca PEM] [--shared-hosts N] [--shared-ip] "
        "[--shared-state-timeout MS] [--shared-namespace NAME] "
        "[--journal PATH] [--journal-days DAYS]"
    )
    longdesc = (
        "Serve the FMZ Quant custom protocol and forward each call to OKX v5 as signed "
        "REST calls. Point the FMZ exchange's service address at "
        "http://127.0.0.1:6666/OKX, put the OKX API key in Access Key and "
        "SECRET,PASSPHRASE (or SECRET,PASSPHRASE,simulate for demo trading) in Secret Key. "
        "With --sandbox, an embedded simulated OKX is used instead of the real one."
    )

    optFlags = [
        ["sandbox", None, "Run an embedded simulated OKX (okxsim) and trade against it."],
        [
            "shared-ip",
            None,
            "With --shared-state: the daemons reach OKX through one egress address, so "
            "OKX's per-IP budgets (market data) are shared too.",
        ],
    ]
    optParameters = [
        [
            "okx-url",
            None,
            DEFAULT_OKX_URL,
            "OKX REST base URL (https; plain http only for a simulator on this machine).",
        ],
        [
            "market-data",
            None,
            "ws",
            "ws: answer ticker, depth and trades from a live copy of OKX's WebSocket "
            "market data when it is in sync and under 1 s old, else over REST; rest: always "
            "over REST.",
        ],
        [
            "okx-ws-url",
            None,
            None,
            "OKX WebSocket base URL (wss; plain ws only for a simulator on this machine). "
            "Default: derived from --okx-url (https://www.okx.com -> wss://ws.okx.com:8443, "
            "demo keys wss://wspap.okx.com:8443; http://127.0.0.1:PORT -> ws://127.0.0.1:PORT).",
        ],
        ["timeout", None, "10", "Total deadline for each upstream OKX call, in seconds."],
        [
            "rate-limits",
            None,
            "on",
            "on: pace calls within OKX's published limits; off: no pacing (benchmarks "
            "against okxsim only).",
        ],
        ["max-body", None, str(1024 * 1024), "Largest accepted request body, in bytes."],
        [
            "max-connections",
            None,
            None,
            "Most connections the RPC service holds at once; past it the longest idle "
            "connection is closed first (default: the open-files limit minus 128, at most "
            "4096).",
        ],
        [
            "request-timeout",
            None,
            "10",
            "Seconds a connection has to deliver one whole request (headers and body).",
        ],
        [
            "log-level",
            None,
            "info",
            "Lowest level of fmzokx events to log: debug (every upstream call), info (one "
            "line per docker call), warn, error.",
        ],
        [
            "token-file",
            None,
            None,
            "File holding an access token (16+ characters of A-Z a-z 0-9 _ -); the "
            "service address must then end in -<token>, e.g. http://host:6666/OKX-<token>.",
        ],
        [
            "ca-bundle",
            None,
            None,
            "PEM file of CA certificates to trust for OKX instead of the system store "
            "(e.g. an inspecting proxy's CA). TLS is always verified.",
        ],
        [
            "shared-state",
            None,
            None,
            "redis://[:PASSWORD@]HOST:PORT/DB or rediss:// (TLS): share OKX's per-account "
            "(and per-account-per-instrument) rate budgets with the other daemons trading "
            "the same accounts through this Redis.",
        ],
        [
            "shared-state-password-file",
            None,
            None,
            "File holding the Redis password (first line), instead of putting it in the URL.",
        ],
        [
            "shared-state-ca",
            None,
            None,
            "PEM file of CA certificates to trust for a rediss:// Redis instead of the "
            "system store.",
        ],
        [
            "shared-hosts",
            None,
            None,
            "How many daemons share the budgets (default 2): while Redis is unreachable "
            "each paces on floor(limit / N) of every budget.",
        ],
        [
            "shared-state-timeout",
            None,
            None,
            "Milliseconds a call may wait for Redis before pacing on the local share "
            "(default 50).",
        ],
        [
            "shared-namespace",
            None,
            None,
            "Prefix of the Redis keys (default fmzokx), to keep separate groups of "
            "daemons apart in one Redis.",
        ],
        [
            "journal",
            None,
            None,
            "The order journal (SQLite): every order, cancel and leverage change, written "
            "before it is sent. Default: fmzokx-journal.sqlite3 in the working directory "
            "(twistd --rundir); fmzokx-sandbox-journal.sqlite3 with --sandbox. One daemon "
            "per journal.",
        ],
        ["journal-days", None, "30", "Keep order journal entries this many days."],
    ]

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self["listen"] = []
        self["allow-ip"] = []

    def opt_allow_ip(self, value: str) -> None:
        """
        Accept RPC calls (and /metrics, /status, /healthz) from this address or CIDR network
        (repeatable; default: this machine only).
        """
        from fmzokx.fmz.access import parse_allow

        try:
            self["allow-ip"].extend(parse_allow(value))
        except ValueError as error:
            raise usage.UsageError(str(error)) from None

    def opt_listen(self, description: str) -> None:
        """
        Listen on this endpoint (repeatable; default tcp:6666:interface=127.0.0.1).
        A non-loopback address logs a warning: the docker's requests carry your keys.
        """
        description = description.strip()
        if not description or ":" not in description:
            raise usage.UsageError(
                f"--listen needs a Twisted endpoint string such as {DEFAULT_LISTEN}, "
                f"got {description!r}"
            )
        self["listen"].append(description)

    def postOptions(self) -> None:
        if not self["listen"]:
            self["listen"] = [DEFAULT_LISTEN]
        self["timeout"] = _positive_float("--timeout", self["timeout"], maximum=300)
        self["max-body"] = int(_positive_float("--max-body", self["max-body"], maximum=64 << 20))
        self["request-timeout"] = _positive_float(
            "--request-timeout", self["request-timeout"], maximum=300
        )
        if self["max-connections"] is not None:
            self["max-connections"] = _positive_int(
                "--max-connections", self["max-connections"], maximum=1_000_000
            )
        self["journal-days"] = _positive_float(
            "--journal-days", self["journal-days"], maximum=3650
        )
        if self["journal"] is not None:
            self["journal"] = str(self["journal"]).strip()
            if not self["journal"]:
                raise usage.UsageError("--journal needs a file path")
        value = str(self["rate-limits"]).strip().lower()
        if value not in ("on", "off"):
            raise usage.UsageError(f"--rate-limits must be 'on' or 'off', got {value!r}")
        self["rate-limits"] = value == "on"
        url = str(self["okx-url"]).strip().rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise usage.UsageError(
                f"--okx-url must be an absolute URL such as {DEFAULT_OKX_URL}, got {url!r}"
            )
        if parts.path or parts.query:
            raise usage.UsageError(
                f"--okx-url must be a base URL without a path (e.g. {DEFAULT_OKX_URL}), got {url!r}"
            )
        if parts.scheme == "http" and not _is_loopback_host(parts.hostname):
            raise usage.UsageError(
                "--okx-url must use https for a remote host (plain http is only for a "
                f"simulator on this machine), got {url!r}"
            )
        self["okx-url"] = url
        self._market_data_options()
        level = str(self["log-level"]).strip().lower()
        if level not in ("debug", "info", "warn", "error", "critical"):
            raise usage.UsageError(
                f"--log-level must be debug, info, warn or error, got {self['log-level']!r}"
            )
        self["log-level"] = level
        self["token"] = None
        if self["token-file"] is not None:
            from fmzokx.fmz.access import load_token

            try:
                self["token"] = load_token(self["token-file"])
            except ValueError as error:
                raise usage.UsageError(str(error)) from None
        self._shared_state()
        if self["ca-bundle"] is not None:
            from pathlib import Path

            from fmzokx.okx.rest.transport import load_trust_root

            if not Path(self["ca-bundle"]).is_file():
                raise usage.UsageError(f"--ca-bundle {self['ca-bundle']!r} is not a readable file")
            if self["sandbox"]:
                raise usage.UsageError("--ca-bundle has no effect with --sandbox (plain HTTP)")
            try:
                load_trust_root(self["ca-bundle"])
            except Exception as error:
                # A truncated or mangled certificate raises from OpenSSL; either way it
                # is a usage error, not a traceback at start-up.
                raise usage.UsageError(
                    f"--ca-bundle {self['ca-bundle']!r} is not a PEM file of CA certificates "
                    f"({type(error).__name__})"
                ) from None


    def _market_data_options(self) -> None:
        """Check ``--market-data`` and find the WebSocket bases (live, demo) it needs."""
        from fmzokx.okx.stream.urls import UnknownWebSocket, ws_base_url

        mode = str(self["market-data"]).strip().lower()
        if mode not in ("ws", "rest"):
            raise usage.UsageError(f"--market-data must be 'ws' or 'rest', got {mode!r}")
        self["market-data"] = mode
        self["ws-bases"] = None
        given = self["okx-ws-url"]
        if given is not None:
            if self["sandbox"]:
                raise usage.UsageError(
                    "--okx-ws-url has no effect with --sandbox (the embedded okxsim's "
                    "WebSocket is used)"
                )
            if mode == "rest":
                raise usage.UsageError("--okx-ws-url has no effect with --market-data rest")
            base = str(given).strip().rstrip("/")
            parts = urlsplit(base)
            if parts.scheme not in ("wss", "ws") or not parts.hostname or parts.query:
                raise usage.UsageError(
                    f"--okx-ws-url must be a base URL such as wss://ws.okx.com:8443, got {base!r}"
                )
            if parts.scheme == "ws" and not _is_loopback_host(parts.hostname):
                raise usage.UsageError(
                    "--okx-ws-url must use wss for a remote host (plain ws is only for a "
                    f"simulator on this machine), got {base!r}"
                )
            live = f"{parts.scheme}://{parts.netloc}"
            try:
                demo = ws_base_url(self["okx-url"], simulated=True)
            except UnknownWebSocket:
                demo = live
            self["ws-bases"] = (live, demo)
        elif mode == "ws" and not self["sandbox"]:
            try:
                self["ws-bases"] = (
                    ws_base_url(self["okx-url"]),
                    ws_base_url(self["okx-url"], simulated=True),
                )
            except UnknownWebSocket as error:
                raise usage.UsageError(str(error)) from None

    def _shared_state(self) -> None:
        """``--shared-*`` into ``self["shared"]``: the settings, or ``None``."""
        from fmzokx.okx.pacing.shared.settings import settings_from_options

        try:
            shared = settings_from_options(
                self["shared-state"],
                password_file=self["shared-state-password-file"],
                ca_bundle=self["shared-state-ca"],
                hosts=self["shared-hosts"],
                shared_ip=bool(self["shared-ip"]),
                timeout_ms=self["shared-state-timeout"],
                namespace=self["shared-namespace"],
            )
        except ValueError as error:
            raise usage.UsageError(str(error)) from None
        if shared is not None and not self["rate-limits"]:
            raise usage.UsageError(
                "--shared-state shares the rate budgets, which --rate-limits off turns off"
            )
        self["shared"] = shared


def _is_loopback_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _positive_float(option: str, value: Any, maximum: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise usage.UsageError(f"{option} must be a number, got {value!r}") from None
    if not 0 < number <= maximum:
        raise usage.UsageError(f"{option} must be between 0 and {maximum:g}, got {value!r}")
    return number


def _positive_int(option: str, value: Any, maximum: int) -> int:
    text = str(value).strip()
    if not text.isascii() or not text.isdigit():
        raise usage.UsageError(f"{option} must be a whole number, got {value!r}")
    number = int(text)
    if not 0 < number <= maximum:
        raise usage.UsageError(f"{option} must be between 1 and {maximum}, got {value!r}")
    return number


SANDBOX_BANNER = """
==================================================================================
 fmzokx sandbox: trading against an embedded simulated OKX at {url}
 In FMZ, add a Custom Protocol exchange with
   Service address: %(address)s
   Access Key:      %(key)s
   Secret Key:      %(secret)s,%(passphrase)s
 No real money is involved; balances reset when the daemon restarts.
==================================================================================
"""


def _service_address(description: str) -> str:
    """The service address to type into FMZ for a listen endpoint (best effort)."""
    kind, *parts = _split_endpoint(description)
    if kind.lower() in ("tcp", "tcp6") and parts and parts[0].isdigit():
        host = "127.0.0.1"
        for part in parts[1:]:
            name, _, value = part.partition("=")
            if name == "interface" and value not in ("0.0.0.0", "::", ""):
                host = f"[{value}]" if ":" in value else value
        return f"http://{host}:{parts[0]}/OKX"
    return f"http://<this daemon's address>/OKX (listening on {description})"


def makeService(options: Options) -> IService:
    """
    Build the daemon, every collaborator complete: the OKX client and domain layer, the
    FMZ call context, then one RPC web server per ``--listen`` endpoint (and, with
    ``--sandbox``, okxsim first, its port bound here so the client knows its URL).
    """
    from twisted.internet import reactor

    from fmzokx import __version__
    from fmzokx.fmz.access import AccessPolicy
    from fmzokx.fmz.context import CallContext
    from fmzokx.fmz.methods import default_registry
    from fmzokx.fmz.resource import RpcServer
    from fmzokx.fmz.site import rpc_site
    from fmzokx.journal import DEFAULT_JOURNAL, SANDBOX_JOURNAL
    from fmzokx.logs import install_redaction, secrets, set_level
    from fmzokx.metrics import Metrics, known_methods
    from fmzokx.okx.api import OkxApi
    from fmzokx.okx.errors import OkxError
    from fmzokx.okx.placement.orders import OrderPlacer
    from fmzokx.okx.rest.client import OkxClient
    from fmzokx.service import (
        GC_FREEZE_AFTER,
        GatewayService,
        SandboxService,
        health_document,
    )
    from fmzokx.startup import listen_service
    from fmzokx.status.history import History
    from fmzokx.status.view import StatusView

    install_redaction()
    set_level(options["log-level"])
    max_connections = _connection_budget(options["max-connections"])
    if options["token"]:
        # The token travels in the request path: mask it wherever it might be logged.
        secrets.add(options["token"], pinned=True)
    top = MultiService()
    base_url = options["okx-url"]
    if options["sandbox"]:
        from fmzokx.sim import DEFAULT_ACCOUNT, Simulator

        banner = SANDBOX_BANNER % {
            "address": _service_address(options["listen"][0]),
            "key": DEFAULT_ACCOUNT.key,
            "secret": DEFAULT_ACCOUNT.secret,
            "passphrase": DEFAULT_ACCOUNT.passphrase,
        }
        sandbox = SandboxService.bind(
            Simulator(reactor, rate_limits=options["rate-limits"]), reactor, banner
        )
        sandbox.setServiceParent(top)  # type: ignore[no-untyped-call]
        base_url = sandbox.url

    registry = default_registry()
    metrics = Metrics.create(known_methods(registry.specs()))
    # The status page's last hour is fed by the same hooks as /metrics.
    metrics.history = History(reactor)
    streams = _market_streams(options, reactor, base_url, metrics)
    shared = _shared_state(options, reactor, metrics.registry)
    if shared is not None:
        shared.setServiceParent(top)  # type: ignore[no-untyped-call]
    client = OkxClient.create(
        reactor,
        base_url,
        timeout=options["timeout"],
        rate_limits=options["rate-limits"],
        ca_bundle=options["ca-bundle"],
        metrics=metrics,
        shared_budget=None if shared is None else shared.slots,
        shared_scopes=_shared_scopes(options),
    )
    # Orders are refused until GatewayService has opened the journal (and if it cannot).
    placer = OrderPlacer(client=client, clock=reactor, metrics=metrics, require_journal=True)
    okx = OkxApi(client, reactor, placer, streams)

    def health() -> dict[str, Any]:
        document = health_document(client, streams, placer.journal)
        if shared is not None:
            document["shared_state"] = shared.slots.snapshot()
        return document

    server = RpcServer(
        registry=registry,
        context=CallContext(okx, reactor),
        clock=reactor,
        health=health,
        public_errors=(OkxError,),
        max_body=options["max-body"],
        access=AccessPolicy.from_options(options["allow-ip"], options["token"]),
        metrics=metrics,
        status=StatusView(
            history=metrics.history,
            version=__version__,
            started=reactor.seconds(),
            health=lambda: dict(health_document(client), rpc_in_flight=server.inflight),
            budgets=client.budget_usage,
            stream=None if streams is None else streams.status,
            shared=None if shared is None else shared.slots.snapshot,
        ).page,
        call_scope=client.read_scope,
    )
    journal = options["journal"] or (SANDBOX_JOURNAL if options["sandbox"] else DEFAULT_JOURNAL)
    GatewayService(
        okx=okx, server=server, journal_path=journal, journal_days=options["journal-days"],
        reactor=reactor, gc_freeze_after=GC_FREEZE_AFTER,
    ).setServiceParent(top)  # type: ignore[no-untyped-call]

    site = rpc_site(
        server.resource(),
        max_body=options["max-body"],
        max_connections=max_connections,
        request_timeout=options["request-timeout"],
        clock=reactor,
        metrics=metrics,
    )
    for description in options["listen"]:
        if not is_loopback_endpoint(description):
            log.warn(
                "listening on {endpoint}, which is reachable from other machines: the "
                "docker's requests carry your OKX keys; prefer "
                "tcp:6666:interface=127.0.0.1. Access: {access}",
                endpoint=description,
                access=(
                    "calls need the path token"
                    if options["token"]
                    else "only the --allow-ip networks may call"
                    if options["allow-ip"]
                    else "only this machine may call until you add --allow-ip or --token-file"
                ),
            )
        listen_service(description, site).setServiceParent(top)  # type: ignore[no-untyped-call]
    return top


def _shared_state(options: Options, reactor: Any, registry: Any) -> SharedStateService | None:
    """The Redis-backed budget service for ``--shared-state``, or ``None``."""
    settings = options.get("shared")
    if settings is None:
        return None
    from fmzokx.logs import secrets
    from fmzokx.okx.pacing.shared.metrics import SharedStateMetrics
    from fmzokx.okx.pacing.shared.settings import SharedStateService

    if settings.target.password:
        secrets.add(settings.target.password, pinned=True)
    return SharedStateService.create(reactor, settings, SharedStateMetrics.create(registry))


def _shared_scopes(options: Options) -> frozenset[Any]:
    """Which budgets are shared: the account ones, and the per-IP ones with --shared-ip."""
    from fmzokx.okx.pacing.limits import Scope
    from fmzokx.okx.pacing.pacer import PRIVATE_SCOPES

    settings = options.get("shared")
    if settings is not None and settings.shared_ip:
        return frozenset(Scope)
    return PRIVATE_SCOPES


def _connection_budget(requested: int | None) -> int:
    """
    Raise the open-files soft limit to the hard one, log both, and return the connection
    cap that fits (``--max-connections`` is lowered to it, with a warning, if needed).
    """
    from fmzokx.descriptors import HEADROOM, connection_cap, raise_soft_limit

    limit = raise_soft_limit()
    cap = connection_cap(limit.soft, requested)
    if limit.error:
        log.warn(
            "could not raise the open-files limit from {soft} to the hard limit {hard} "
            "({error}); raise LimitNOFILE (systemd) or ulimit -n",
            soft=limit.before, hard=limit.hard, error=limit.error,
        )
    log.info(
        "open-files limit {soft} (was {before}, hard {hard}); the RPC service holds at most "
        "{cap} connections",
        soft=limit.soft if limit.soft is not None else "unlimited",
        before=limit.before if limit.before is not None else "unlimited",
        hard=limit.hard if limit.hard is not None else "unlimited",
        cap=cap,
    )
    if requested is not None and cap < requested:
        log.warn(
            "--max-connections {requested} does not fit the open-files limit {soft} "
            "(minus {headroom} for OKX connections and logs): using {cap}",
            requested=requested, soft=limit.soft, headroom=HEADROOM, cap=cap,
        )
    return cap


def _market_streams(options: Options, reactor: Any, base_url: str, metrics: Any) -> Any:
    """
    The WebSocket market-data copies for ``--market-data ws`` (``None`` for rest): at
    ``--okx-ws-url`` or the URL derived from ``--okx-url``, or, with ``--sandbox``, the
    embedded okxsim's WebSocket on its REST port.
    """
    if options["market-data"] != "ws":
        log.info("market data: over REST (--market-data rest)")
        return None
    from fmzokx.okx.stream.client import endpoint_connector
    from fmzokx.okx.stream.streams import StreamSet
    from fmzokx.okx.stream.urls import ws_base_url

    if options["ws-bases"] is not None:
        live, demo = options["ws-bases"]
    else:
        live = demo = ws_base_url(base_url)
    policy = None
    if options["ca-bundle"] is not None:
        from twisted.web.client import BrowserLikePolicyForHTTPS

        from fmzokx.okx.rest.transport import load_trust_root

        policy = BrowserLikePolicyForHTTPS(trustRoot=load_trust_root(options["ca-bundle"]))
    streams = StreamSet(reactor, live, demo, endpoint_connector(reactor, policy), observer=metrics)
    metrics.watch_streams(streams.health)
    log.info(
        "market data: ticker, depth and trades from OKX's WebSocket at {live} (demo keys: "
        "{demo}) when in sync and fresh, else over REST",
        live=live, demo=demo,
    )
    return streams
