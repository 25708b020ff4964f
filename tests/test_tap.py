"""``twistd fmzokx`` options as data, and the service they build."""

from __future__ import annotations

import pytest
from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import MultiService
from twisted.python.usage import UsageError

from fmzokx.tap import Options, is_loopback_endpoint, makeService


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


def test_everything_set() -> None:
    """Every option parses into its typed value; --listen repeats."""
    options = parse(
        "--listen", "tcp:7000:interface=127.0.0.1",
        "--listen", "unix:/tmp/fmzokx.sock",
        "--okx-url", "https://eea.okx.com/",
        "--timeout", "2.5",
        "--rate-limits", "OFF",
        "--max-body", "4096",
        "--sandbox",
    )
    assert options["listen"] == ["tcp:7000:interface=127.0.0.1", "unix:/tmp/fmzokx.sock"]
    assert options["okx-url"] == "https://eea.okx.com"
    assert options["timeout"] == 2.5
    assert options["rate-limits"] is False
    assert options["max-body"] == 4096
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
    ],
)
def test_bad_options_say_what_is_expected(argv: list[str], message: str) -> None:
    """Invalid values raise UsageError naming the option and the expected form."""
    with pytest.raises(UsageError, match=message):
        parse(*argv)


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
    """makeService returns a MultiService with one server per --listen."""
    service = makeService(
        parse("--listen", "tcp:0:interface=127.0.0.1", "--listen", "tcp:0:interface=127.0.0.1")
    )
    assert isinstance(service, MultiService)
    servers = [s for s in service if isinstance(s, StreamServerEndpointService)]
    assert len(servers) == 2


def test_make_service_warns_on_public_listen() -> None:
    """A non-loopback listen address logs a warning about the keys in every request."""
    from twisted.logger import LogLevel, globalLogPublisher

    events: list[dict[str, object]] = []
    globalLogPublisher.addObserver(events.append)
    try:
        makeService(parse("--listen", "tcp:0"))
    finally:
        globalLogPublisher.removeObserver(events.append)
    warnings = [e for e in events if e.get("log_level") == LogLevel.warn]
    assert any(e.get("endpoint") == "tcp:0" for e in warnings)
