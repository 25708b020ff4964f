# -*- test-case-name: tests.test_tap -*-
"""
``twistd fmzokx``: what twistd calls, as in ``twisted.web.tap``.

:data:`Options` is :class:`fmzokx.options.Options` with one-line usage errors, and
:func:`makeService` builds the service tree (:func:`build`) and does the fallible
start-up work before twistd daemonises (:func:`fmzokx.startup.built_or_exit`): ports
bound, the order journal locked and checked. The reactor is imported inside the
functions, so loading the plugin never installs one.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from twisted.application.service import IService

from fmzokx import options as _options
from fmzokx.logs import logger
from fmzokx.options import DEFAULT_LISTEN, is_loopback_endpoint, split_endpoint
from fmzokx.startup import built_or_exit, command_line

if TYPE_CHECKING:
    from fmzokx.okx.pacing.shared.settings import SharedStateService

__all__ = ["Options", "build", "makeService"]

Options = command_line(_options.Options, "fmzokx")
"""The command line as twistd parses it: a usage error is one line and exit status 1."""

log = logger(__name__)


SANDBOX_BANNER = """
==================================================================================
 fmzokx sandbox: trading against an embedded simulated OKX at {url}
 In FMZ, add a Custom Protocol exchange with
   Service address: %(address)s
   Access Key:      %(key)s
   Secret Key:      %(secret)s,%(passphrase)s
 Status page:       %(status)s
 No real money is involved; balances reset when the daemon restarts.
==================================================================================
"""


def _http_url(description: str, path: str) -> str | None:
    """``http://host:port/path`` for a TCP listen endpoint, else ``None``."""
    kind, *parts = split_endpoint(description)
    if kind.lower() in ("tcp", "tcp6") and parts and parts[0].isdigit():
        host = "127.0.0.1"
        for part in parts[1:]:
            name, _, value = part.partition("=")
            if name == "interface" and value not in ("0.0.0.0", "::", ""):
                host = f"[{value}]" if ":" in value else value
        return f"http://{host}:{parts[0]}{path}"
    return None


def _service_address(description: str, token_file: str | None = None) -> str:
    """
    The service address to type into FMZ for a listen endpoint (best effort). With a
    token the address ends in ``-<token>``: the token itself never reaches the log.
    """
    path = "/OKX" if token_file is None else "/OKX-<token>"
    address = _http_url(description, path)
    if address is None:
        address = f"http://<this daemon's address>{path} (listening on {description})"
    if token_file is not None:
        address += f", <token> being the text in {token_file}"
    return address


def _bound(description: str, listener: Any) -> str:
    """``description`` with port 0 replaced by the port its listener was given."""
    kind, *parts = split_endpoint(description)
    port = getattr(listener, "port", None)
    if kind.lower() in ("tcp", "tcp6") and parts[:1] == ["0"] and port is not None:
        return description.replace(":0", f":{port.getHost().port}", 1)
    return description


def _status_url(options: Any, listeners: dict[str, list[Any]]) -> str:
    """
    Where a browser opens the status page (the status port, else the RPC port), or, on a
    port browsers refuse (6666 with ``--status-listen none``), where it is and the way out.
    """
    from fmzokx.status.site import BROWSER_REFUSED_PORTS

    for listener in [*listeners["--status-listen"], *listeners["--listen"]]:
        url = _http_url(_bound(listener.description, listener), "/status")
        if url is not None:
            port = urlsplit(url).port
            if port in BROWSER_REFUSED_PORTS:
                # On a line of its own, under the address in the banner.
                url += f"\n{' ' * 20}(browsers refuse port {port}: curl it, or use --status-listen)"
            return url
    return f"/status on {options['listen'][0]}"


def journal_path(options: Any) -> str:
    """
    The order journal's file: ``--journal``, else the default name, relative to
    twistd's ``--rundir`` (the directory twistd moves to after ``makeService``, which
    locks the file first).
    """
    from fmzokx.journal import DEFAULT_JOURNAL, SANDBOX_JOURNAL

    path = options["journal"] or (SANDBOX_JOURNAL if options["sandbox"] else DEFAULT_JOURNAL)
    parent = getattr(options, "parent", None)
    rundir = parent.get("rundir") if parent is not None else None
    if rundir and not os.path.isabs(path):
        path = os.path.join(rundir, path)
    return os.path.abspath(path)


def _twistd_owner(options: Any) -> tuple[int | None, int | None]:
    """twistd's ``--uid`` and ``--gid`` (the user the daemon becomes after start-up)."""
    parent = getattr(options, "parent", None)
    if parent is None:
        return (None, None)
    return (parent.get("uid"), parent.get("gid"))


def makeService(options: _options.Options) -> IService:  # noqa: N802 (twistd's name)
    """The daemon's service tree, its ports bound and its journal locked (see :func:`build`)."""
    return built_or_exit(build, options, "fmzokx")


def build(options: Any) -> IService:
    """
    Build the daemon, every collaborator complete: the OKX client and domain layer, the
    FMZ call context, the gateway's service tree, then one RPC web server per
    ``--listen`` endpoint and the status listener (and, with ``--sandbox``, okxsim
    first, its port bound here so the client knows its URL). Nothing is bound or locked
    yet: :func:`fmzokx.startup.prepare` does that.
    """
    from twisted.internet import reactor

    from fmzokx import __version__
    from fmzokx.fmz.access import AccessPolicy
    from fmzokx.fmz.context import CallContext
    from fmzokx.fmz.methods import default_registry
    from fmzokx.fmz.resource import RpcServer
    from fmzokx.fmz.site import rpc_site
    from fmzokx.logs import install_redaction, secrets, set_level
    from fmzokx.metrics import Metrics, known_methods
    from fmzokx.okx.api import OkxApi
    from fmzokx.okx.errors import OkxError
    from fmzokx.okx.placement.orders import OrderPlacer
    from fmzokx.okx.rest.client import OkxClient
    from fmzokx.service import GC_FREEZE_AFTER, GatewayService, InOrder, health_document
    from fmzokx.startup import listen_service
    from fmzokx.status.history import History
    from fmzokx.status.site import status_only
    from fmzokx.status.view import StatusView

    install_redaction()
    set_level(options["log-level"])
    max_connections = _connection_budget(options["max-connections"])
    if options["token"]:
        # The token travels in the request path: mask it wherever it might be logged.
        secrets.add(options["token"], pinned=True)
    top = InOrder()  # type: ignore[no-untyped-call]
    # The ListenServices of each option, for the banner (it names the ports bound).
    listeners: dict[str, list[Any]] = {"--status-listen": [], "--listen": []}
    base_url = options["okx-url"]
    if options["sandbox"]:
        from fmzokx.service import SandboxService
        from fmzokx.sim import DEFAULT_ACCOUNT, Simulator

        def banner() -> str:
            # At start: the ports are bound by then, port 0 included.
            return SANDBOX_BANNER % {
                "address": _service_address(
                    _bound(options["listen"][0], listeners["--listen"][0]),
                    options["token-file"],
                ),
                "key": DEFAULT_ACCOUNT.key,
                "secret": DEFAULT_ACCOUNT.secret,
                "passphrase": DEFAULT_ACCOUNT.passphrase,
                "status": _status_url(options, listeners),
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
    # Orders are refused until the journal service has opened the journal.
    placer = OrderPlacer(client=client, clock=reactor, metrics=metrics, require_journal=True)
    private = _private_sessions(
        options, reactor, base_url, client, metrics,
        limiter=None if streams is None else streams.limiter,
    )
    okx = OkxApi(client, reactor, placer, streams, private)

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
            journal=lambda: None if placer.journal is None else placer.journal.health(),
            private=None if private is None else private.health,
        ).page,
        call_scope=client.read_scope,
    )
    GatewayService(
        okx=okx, server=server, journal_path=journal_path(options),
        journal_days=options["journal-days"], reactor=reactor,
        gc_freeze_after=GC_FREEZE_AFTER, journal_owner=_twistd_owner(options),
    ).setServiceParent(top)  # type: ignore[no-untyped-call]

    def site(resource: Any) -> Any:
        return rpc_site(
            resource,
            max_body=options["max-body"],
            max_connections=max_connections,
            request_timeout=options["request-timeout"],
            clock=reactor,
            metrics=metrics,
        )

    if options["status-listen"] is not None:
        # Behind the same access policy as the RPC port; it answers nothing else.
        status = listen_service(
            options["status-listen"], site(status_only(server.resource())), "--status-listen"
        )
        listeners["--status-listen"].append(status)
        status.setServiceParent(top)  # type: ignore[no-untyped-call]
    rpc = site(server.resource())
    for description in options["listen"]:
        _warn_if_public(description, options)
        listener = listen_service(description, rpc)
        listeners["--listen"].append(listener)
        listener.setServiceParent(top)  # type: ignore[no-untyped-call]
    return top


def _warn_if_public(description: str, options: Any) -> None:
    if is_loopback_endpoint(description):
        return
    log.warn(
        "listening on {endpoint}, which is reachable from other machines: the "
        "docker's requests carry your OKX keys; prefer {default}. Access: {access}",
        endpoint=description,
        default=DEFAULT_LISTEN,
        access=(
            "calls need the path token"
            if options["token"]
            else "only the --allow-ip networks may call"
            if options["allow-ip"]
            else "only this machine may call until you add --allow-ip or --token-file"
        ),
    )


def _shared_state(options: Any, reactor: Any, registry: Any) -> SharedStateService | None:
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


def _shared_scopes(options: Any) -> frozenset[Any]:
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


def _websocket_reach(options: Any, reactor: Any, base_url: str) -> tuple[str, str, Any]:
    """
    The live and demo WebSocket bases (``--okx-ws-url``, else derived from ``--okx-url``)
    and the connector to them (trusting ``--ca-bundle`` when given), shared by the market
    data and the private sessions.
    """
    from fmzokx.okx.stream.client import endpoint_connector
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
    return live, demo, endpoint_connector(reactor, policy)


def _market_streams(options: Any, reactor: Any, base_url: str, metrics: Any) -> Any:
    """
    The WebSocket market-data copies for ``--market-data ws`` (``None`` for rest): at
    ``--okx-ws-url`` or the URL derived from ``--okx-url``, or, with ``--sandbox``, the
    embedded okxsim's WebSocket on its REST port.
    """
    if options["market-data"] != "ws":
        log.info("market data: over REST (--market-data rest)")
        return None
    from fmzokx.okx.stream.streams import StreamSet

    live, demo, connect = _websocket_reach(options, reactor, base_url)
    streams = StreamSet(reactor, live, demo, connect, observer=metrics)
    metrics.watch_streams(streams.health)
    log.info(
        "market data: ticker, depth and trades from OKX's WebSocket at {live} (demo keys: "
        "{demo}) when in sync and fresh, else over REST",
        live=live, demo=demo,
    )
    return streams


def _private_sessions(
    options: Any, reactor: Any, base_url: str, client: Any, metrics: Any, limiter: Any = None
) -> Any:
    """
    The private WebSocket copies for ``--private-stream on`` (``None`` for off), at the
    same WebSocket bases as the market data (or the embedded okxsim's), and under the
    market data's connection ``limiter`` when there is one: OKX allows 3 new connections
    a second per IP, whatever the path.
    """
    if options["private-stream"] != "on":
        log.info("balances, positions and orders: over REST (--private-stream off)")
        return None
    from fmzokx.okx.stream.privatesessions import PrivateSessions

    live, demo, connect = _websocket_reach(options, reactor, base_url)
    private = PrivateSessions(
        reactor, client, live, demo, connect, observer=metrics, limiter=limiter
    )
    metrics.watch_private(private.health)
    log.info(
        "balances, positions and orders: from each key's private WebSocket at {live} (demo "
        "keys: {demo}) while fresh, else over REST",
        live=live, demo=demo,
    )
    return private
