"""One rule for OKX base URLs: the --okx-url option, the client and the WebSocket URL agree."""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock
from twisted.python.usage import UsageError

from fmzokx.okx.baseurl import okx_base_url
from fmzokx.okx.rest.client import OkxClient
from fmzokx.okx.stream.urls import ws_base_url
from fmzokx.options import Options


def parse(*argv: str) -> Options:
    options = Options()
    options.parseOptions(list(argv))
    return options


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.2:8443", "http://127.0.0.1:8443/", "http://localhost:8443",
     "http://[::1]:8443", "https://www.okx.com", "https://eea.okx.com:443"],
)
def test_what_the_options_accept_the_client_accepts(url: str) -> None:
    """http://127.0.0.2:8443 passed the options, then the client raised a bare ValueError."""
    accepted = parse("--okx-url", url, "--market-data", "rest")["okx-url"]
    client = OkxClient(http=None, clock=Clock(), base_url=accepted)  # type: ignore[arg-type]
    assert client.base_url == accepted == okx_base_url(url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://10.0.0.2:8443", "must use https for a remote host"),
        ("https://www.okx.com/api/v5", "must be a base URL without a path"),
        ("https://www.okx.com/#x", "must be a base URL without a path"),
        ("ftp://www.okx.com", "must be an absolute URL"),
        ("www.okx.com", "must be an absolute URL"),
    ],
)
def test_what_the_options_refuse_the_client_refuses(url: str, message: str) -> None:
    with pytest.raises(UsageError, match=f"--okx-url {message}"):
        parse("--okx-url", url)
    with pytest.raises(ValueError, match=f"OKX base URL {message}"):
        OkxClient(http=None, clock=Clock(), base_url=url)  # type: ignore[arg-type]


def test_any_loopback_simulator_has_its_websocket_on_the_same_port() -> None:
    assert ws_base_url("http://127.0.0.2:8443") == "ws://127.0.0.2:8443"
    assert parse("--okx-url", "http://127.0.0.2:8443")["ws-bases"] == (
        "ws://127.0.0.2:8443", "ws://127.0.0.2:8443"
    )
