"""Deriving OKX's WebSocket URL from the REST URL."""

from __future__ import annotations

import pytest

from fmzokx.okx.stream.urls import UnknownWebSocket, ws_base_url, ws_url


@pytest.mark.parametrize(
    ("rest", "simulated", "expected"),
    [
        ("https://www.okx.com", False, "wss://ws.okx.com:8443"),
        ("https://www.okx.com/", True, "wss://wspap.okx.com:8443"),
        ("https://eea.okx.com", False, "wss://wseea.okx.com:8443"),
        ("https://my.okx.com", True, "wss://wseeapap.okx.com:8443"),
        ("https://us.okx.com", False, "wss://wsus.okx.com:8443"),
        ("https://app.okx.com", True, "wss://wsuspap.okx.com:8443"),
        ("http://127.0.0.1:8443", False, "ws://127.0.0.1:8443"),
        ("http://127.0.0.1:8443", True, "ws://127.0.0.1:8443"),
        ("http://localhost:9000", False, "ws://localhost:9000"),
        ("http://[::1]:9000", False, "ws://[::1]:9000"),
    ],
)
def test_derived_urls(rest: str, simulated: bool, expected: str) -> None:
    assert ws_base_url(rest, simulated) == expected


@pytest.mark.parametrize(
    "rest", ["https://proxy.example.com", "http://www.okx.com", "http://10.0.0.5:8443", "okx"]
)
def test_unknown_hosts_need_an_explicit_url(rest: str) -> None:
    with pytest.raises(UnknownWebSocket, match="--okx-ws-url"):
        ws_base_url(rest)


def test_ws_url_joins_the_path() -> None:
    assert ws_url("wss://ws.okx.com:8443/", "/ws/v5/public") == "wss://ws.okx.com:8443/ws/v5/public"
    assert ws_url("ws://127.0.0.1:1/ws/v5/public", "/ws/v5/business") == (
        "ws://127.0.0.1:1/ws/v5/business"
    )
    with pytest.raises(UnknownWebSocket):
        ws_url("https://ws.okx.com:8443", "/ws/v5/public")
