"""``twistd fmzokx`` options as data, and the service tree they build (not yet bound)."""

from __future__ import annotations

import pytest
from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import MultiService
from twisted.python.usage import UsageError

from fmzokx.options import Options, is_loopback_endpoint
from fmzokx.tap import build
from tests.helpers import LogEvents


def parse(*argv: str) -> Options:
    options = Options()
    options.parseOptions(list(argv))
    return options


def test_defaults() -> None:
    """With no arguments: loopback port 6666, real OKX, 10 s deadline, pacing on."""
    options = parse()
    assert options["listen"] == ["tcp:6666:interface=127.0.0.1"]
    assert options["okx-url"] == "https://www.okx.com"
    assert options["timeout"] == 10.0
    assert options["rate-limits"] is True
    assert options["sandbox"] == 0
    assert options["max-body"] == 1024 * 1024
    assert options["allow-ip"] == [] and options["token"] is None
    assert options["ca-bundle"] is None
    assert options["max-connections"] is None
    assert options["request-timeout"] == 10.0
    assert options["journal"] is None and options["journal-days"] == 30.0


def test_everything_set() -> None:
    """Every option parses into its typed value; --listen repeats."""
    options = parse(
        "--listen", "tcp:7000:interface=127.0.0.1",
        "--listen", "unix:/tmp/fmzokx.sock",
        "--okx-url", "https://eea.okx.com/",
        "--timeout", "2.5",
        "--rate-limits", "OFF",
        "--max-body", "4096",
        "--max-connections", "500",
        "--request-timeout", "2.5",
        "--sandbox",
    )
    assert options["listen"] == ["tcp:7000:interface=127.0.0.1", "unix:/tmp/fmzokx.sock"]
    assert options["okx-url"] == "https://eea.okx.com"
    assert options["timeout"] == 2.5
    assert options["rate-limits"] is False
    assert options["max-body"] == 4096
    assert options["max-connections"] == 500
    assert options["request-timeout"] == 2.5
    assert options["sandbox"] == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--timeout", "soon"], "--timeout must be a number"),
        (["--timeout", "0"], "--timeout must be between 0 and 300"),
        (["--timeout", "-3"], "--timeout must be between"),
        (["--rate-limits", "maybe"], "--rate-limits must be 'on' or 'off'"),
        (["--okx-url", "www.okx.com"], "--okx-url must be an absolute URL"),
        (["--okx-url", "ftp://www.okx.com"], "--okx-url must be an absolute URL"),
        (["--okx-url", "https://www.okx.com/api/v5"], "without a path"),
        (["--okx-url", "http://www.okx.com"], "must use https for a remote host"),
        (["--listen", "6666"], "--listen needs a Twisted endpoint string"),
        (["--max-body", "lots"], "--max-body must be a number"),
        (["--log-level", "loud"], "--log-level must be debug, info, warn or error"),
        (["--max-connections", "many"], "--max-connections must be a whole number"),
        (["--max-connections", "\u0661\u0660"], "--max-connections must be a whole number"),
        (["--max-connections", "0"], "--max-connections must be between 1 and"),
        (["--request-timeout", "0"], "--request-timeout must be between 0 and 300"),
        (["--request-timeout", "soon"], "--request-timeout must be a number"),
    ],
)
def test_bad_options_say_what_is_expected(argv: list[str], message: str) -> None:
    """Invalid values raise UsageError naming the option and the expected form."""
    with pytest.raises(UsageError, match=message):
        parse(*argv)


def test_access_options(tmp_path: object) -> None:
    """--allow-ip repeats and accepts CIDRs; --token-file reads and validates the token."""
    from pathlib import Path

    token_file = Path(str(tmp_path)) / "token"
    token_file.write_text("abcdefghijklmnop_-XYZ\n")
    options = parse("--allow-ip", "10.0.0.0/8", "--allow-ip", "192.168.1.20,::1",
                    "--token-file", str(token_file))
    assert [str(n) for n in options["allow-ip"]] == ["10.0.0.0/8", "192.168.1.20/32", "::1/128"]
    assert options["token"] == "abcdefghijklmnop_-XYZ"


def test_bad_access_options(tmp_path: object) -> None:
    """Bad allowlists, missing or weak token files and CA bundles are usage errors."""
    from pathlib import Path

    weak = Path(str(tmp_path)) / "weak"
    weak.write_text("short")
    with pytest.raises(UsageError, match="--allow-ip needs an IP address"):
        parse("--allow-ip", "not-an-ip")
    with pytest.raises(UsageError, match="does not exist"):
        parse("--token-file", str(Path(str(tmp_path)) / "missing"))
    with pytest.raises(UsageError, match="at least 16 characters"):
        parse("--token-file", str(weak))
    with pytest.raises(UsageError, match="--ca-bundle"):
        parse("--ca-bundle", str(Path(str(tmp_path)) / "missing.pem"))


@pytest.mark.parametrize("content", [
    b"not a certificate at all\n",
    b"-----BEGIN CERTIFICATE-----\nbm90IGRlcg==\n-----END CERTIFICATE-----\n",
    b"",
])
def test_ca_bundle_must_be_pem(tmp_path: object, content: bytes) -> None:
    """A --ca-bundle that holds no valid PEM certificate is a usage error naming it."""
    from pathlib import Path

    bundle = Path(str(tmp_path)) / "bundle.pem"
    bundle.write_bytes(content)
    with pytest.raises(UsageError, match="is not a PEM file of CA certificates"):
        parse("--ca-bundle", str(bundle))


def test_plain_http_allowed_for_local_simulator() -> None:
    """http:// is accepted for a simulator on this machine only."""
    assert parse("--okx-url", "http://127.0.0.1:8443")["okx-url"] == "http://127.0.0.1:8443"


@pytest.mark.parametrize(
    ("description", "loopback"),
    [
        ("tcp:6666:interface=127.0.0.1", True),
        ("tcp:6666:interface=127.0.0.2", True),
        ("tcp6:6666:interface=\\:\\:1", True),
        ("tcp:6666:interface=localhost", True),
        ("unix:/run/fmzokx.sock", True),
        ("tcp:6666", False),
        ("tcp:6666:interface=0.0.0.0", False),
        ("tcp:6666:interface=192.168.1.5", False),
        ("ssl:6666:privateKey=k.pem", False),
        ("tcp6:6666", False),
    ],
)
def test_loopback_detection(description: str, loopback: bool) -> None:
    """Only endpoints bound to loopback (or UNIX sockets) count as local."""
    assert is_loopback_endpoint(description) is loopback


def test_make_service_listens_on_each_endpoint() -> None:
    """The tree has one server per --listen, and one for the status page."""
    service = build(
        parse("--listen", "tcp:0:interface=127.0.0.1", "--listen", "tcp:0:interface=127.0.0.1")
    )
    assert isinstance(service, MultiService)
    servers = [s for s in service if isinstance(s, StreamServerEndpointService)]
    assert [s.description for s in servers] == [  # type: ignore[attr-defined]
        "tcp:6680:interface=127.0.0.1", "tcp:0:interface=127.0.0.1", "tcp:0:interface=127.0.0.1"
    ]
    assert not any(s.running or s._waitingForPort for s in servers)  # type: ignore[attr-defined]
    assert len(servers) == 3


def test_make_service_warns_on_public_listen(info_events: LogEvents) -> None:
    """A non-loopback listen address logs a warning about the keys in every request."""
    from twisted.logger import LogLevel

    with info_events.during() as events:
        build(parse("--listen", "tcp:0"))
    warnings = [e for e in events if e.get("log_level") == LogLevel.warn]
    assert any(e.get("endpoint") == "tcp:0" for e in warnings)


def test_make_service_bounds_the_rpc_site(
    monkeypatch: pytest.MonkeyPatch, info_events: LogEvents
) -> None:
    """
    makeService raises the open-files limit, logs the budget, and gives the RPC site a
    connection cap that fits it (a larger --max-connections is lowered, with a warning).
    """
    from twisted.logger import LogLevel

    from fmzokx import descriptors
    from fmzokx.fmz.site import RpcSite

    limit = descriptors.DescriptorLimit(soft=1024, hard=1024, before=512)
    monkeypatch.setattr(descriptors, "raise_soft_limit", lambda: limit)
    with info_events.during() as events:
        service = build(parse("--listen", "tcp:0:interface=127.0.0.1", "--status-listen", "none",
                              "--max-connections", "5000", "--request-timeout", "3"))
    (server,) = [s for s in service if isinstance(s, StreamServerEndpointService)]
    site = server.factory
    assert isinstance(site, RpcSite)
    assert site.guard.max_connections == 1024 - 128
    assert site.guard.request_timeout == 3.0
    assert any(e.get("cap") == 896 and e.get("before") == 512 for e in events)
    assert any(e.get("log_level") == LogLevel.warn and e.get("requested") == 5000
               for e in events)


def test_market_data_defaults_to_the_websocket_derived_from_the_okx_url() -> None:
    """--market-data ws by default; OKX's live and demo WebSocket hosts follow --okx-url."""
    options = parse()
    assert options["market-data"] == "ws"
    assert options["ws-bases"] == ("wss://ws.okx.com:8443", "wss://wspap.okx.com:8443")
    assert parse("--okx-url", "https://eea.okx.com")["ws-bases"] == (
        "wss://wseea.okx.com:8443", "wss://wseeapap.okx.com:8443"
    )
    assert parse("--okx-url", "http://127.0.0.1:8443")["ws-bases"] == (
        "ws://127.0.0.1:8443", "ws://127.0.0.1:8443"
    )
    assert parse("--market-data", "REST", "--private-stream", "off")["ws-bases"] is None
    assert parse("--sandbox")["ws-bases"] is None  # the embedded okxsim's, known later


def test_private_stream_is_on_by_default_whatever_the_market_data() -> None:
    """--private-stream on by default, with --market-data rest too: it needs the bases."""
    assert parse()["private-stream"] == "on"
    options = parse("--market-data", "rest")
    assert options["private-stream"] == "on"
    assert options["ws-bases"] == ("wss://ws.okx.com:8443", "wss://wspap.okx.com:8443")
    assert parse("--private-stream", "OFF")["private-stream"] == "off"
    with pytest.raises(UsageError, match="--private-stream must be 'on' or 'off'"):
        parse("--private-stream", "sometimes")
    with pytest.raises(UsageError, match="--private-stream off"):
        parse("--okx-url", "https://proxy.example.net", "--market-data", "rest")


def test_an_explicit_websocket_url() -> None:
    """--okx-ws-url sets the live WebSocket; demo keys keep OKX's demo host."""
    options = parse("--okx-ws-url", "wss://ws.example.net:9443/")
    assert options["ws-bases"] == ("wss://ws.example.net:9443", "wss://wspap.okx.com:8443")
    options = parse("--okx-url", "https://proxy.example.net", "--okx-ws-url",
                    "wss://ws.example.net")
    assert options["ws-bases"] == ("wss://ws.example.net", "wss://ws.example.net")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--market-data", "sometimes"], "--market-data must be 'ws' or 'rest'"),
        (["--okx-url", "https://proxy.example.net"], "--okx-ws-url"),
        (["--okx-ws-url", "https://ws.okx.com:8443"], "--okx-ws-url must be a base URL"),
        (["--okx-ws-url", "ws://10.1.2.3:8443"], "must use wss for a remote host"),
        (["--okx-ws-url", "wss://ws.okx.com:8443", "--sandbox"], "no effect with --sandbox"),
        (["--okx-ws-url", "wss://ws.okx.com:8443", "--market-data", "rest",
          "--private-stream", "off"], "no effect with --market-data rest"),
    ],
)
def test_bad_market_data_options(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse(*argv)


def test_unknown_okx_host_is_fine_over_rest() -> None:
    assert parse("--okx-url", "https://proxy.example.net", "--market-data", "rest",
                 "--private-stream", "off")["market-data"] == "rest"


def test_make_service_wires_the_streams_to_the_embedded_okxsim() -> None:
    """--sandbox: the copies connect to okxsim's WebSocket on its REST port."""
    from fmzokx.service import GatewayService, SandboxService

    service = build(parse("--sandbox", "--listen", "tcp:0:interface=127.0.0.1"))
    (sandbox,) = [s for s in service if isinstance(s, SandboxService)]
    (gateway,) = [s for s in service if isinstance(s, GatewayService)]
    sandbox.listening.close()
    streams = gateway.okx.streams
    assert streams is not None
    assert streams.live_base == streams.demo_base == f"ws://127.0.0.1:{sandbox.port}"
    assert streams.live.connections["/ws/v5/public"].url == (
        f"ws://127.0.0.1:{sandbox.port}/ws/v5/public"
    )
    rest_only = build(parse("--market-data", "rest", "--listen", "tcp:0:interface=127.0.0.1"))
    (gateway,) = [s for s in rest_only if isinstance(s, GatewayService)]
    assert gateway.okx.streams is None


def test_market_data_and_private_sessions_share_one_connection_limit() -> None:
    """OKX allows 3 new WebSocket connections a second per IP, public and private alike."""
    from fmzokx.service import GatewayService, SandboxService

    service = build(parse("--sandbox", "--listen", "tcp:0:interface=127.0.0.1"))
    (sandbox,) = [s for s in service if isinstance(s, SandboxService)]
    (gateway,) = [s for s in service if isinstance(s, GatewayService)]
    sandbox.listening.close()
    streams, private = gateway.okx.streams, gateway.okx.private
    assert streams is not None and private is not None
    assert private.limiter is streams.limiter


def test_journal_options() -> None:
    """--journal names the file; --journal-days must be a positive number of days."""
    options = parse("--journal", " /var/lib/fmzokx/j.sqlite3 ", "--journal-days", "7.5")
    assert options["journal"] == "/var/lib/fmzokx/j.sqlite3"
    assert options["journal-days"] == 7.5
    with pytest.raises(UsageError, match="--journal-days must be between 0 and 3650"):
        parse("--journal-days", "0")
    with pytest.raises(UsageError, match="--journal-days must be a number"):
        parse("--journal-days", "a month")
    with pytest.raises(UsageError, match="--journal needs a file path"):
        parse("--journal", " ")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [((), "fmzokx-journal.sqlite3"), (("--sandbox",), "fmzokx-sandbox-journal.sqlite3"),
     (("--journal", "/srv/j.db"), "/srv/j.db")],
)
def test_the_service_opens_the_right_journal(argv: tuple[str, ...], expected: str) -> None:
    """The default file is in the working directory at start; the sandbox has its own."""
    import os

    from fmzokx.service import GatewayService, SandboxService

    service = build(parse("--listen", "tcp:0:interface=127.0.0.1", *argv))
    for sandbox in [s for s in service if isinstance(s, SandboxService)]:
        sandbox.listening.close()  # bound by build; never started here
    (gateway,) = [s for s in service if isinstance(s, GatewayService)]
    assert gateway.journal_path == os.path.abspath(expected) and gateway.journal_days == 30.0
    assert gateway.okx.placer.require_journal is True


def test_a_relative_journal_is_in_twistds_rundir() -> None:
    """
    makeService locks the journal before twistd moves to --rundir: a relative path is
    taken relative to --rundir, where the daemon will run, not where it was started.
    """
    from twisted.scripts.twistd import ServerOptions

    from fmzokx.tap import journal_path

    command = ServerOptions()
    command.parseOptions(["--rundir", "/var/lib/fmzokx", "fmzokx", "--journal", "j.sqlite3"])
    assert journal_path(command.subOptions) == "/var/lib/fmzokx/j.sqlite3"
    command = ServerOptions()
    command.parseOptions(["--rundir", "/var/lib/fmzokx", "fmzokx"])
    assert journal_path(command.subOptions) == "/var/lib/fmzokx/fmzokx-journal.sqlite3"
    command = ServerOptions()
    command.parseOptions(["--rundir", "/var/lib/fmzokx", "fmzokx", "--journal", "/srv/j"])
    assert journal_path(command.subOptions) == "/srv/j"
