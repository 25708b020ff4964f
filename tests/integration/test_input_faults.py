"""
Bad input from both sides, through real processes: ``twistd okxsim`` and ``twistd fmzokx``
as children on 127.0.0.1, the daemon with its order journal in its working directory.

* okxsim answers page 2 of the open orders with an envelope that has no ``data`` field
  (its fault control API): the docker gets an error, never the first 100 of 260 orders
  as if they were all;
* a lone surrogate (``"\\ud800"``) in ``method`` or a param: a JSON error naming the
  field, no HTTP 500, no critical log line, and the daemon keeps serving;
* parameters carrying the caller's own secret, key or passphrase: refused naming the
  field, and no piece of the credential in a reply, the daemon's log, its journal or a
  request to OKX.

Run alone: ``python -m pytest tests/integration/test_input_faults.py``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.procs import http_call
from tests.integration.processes import Daemon, Exchange

PENDING = "/api/v5/trade/orders-pending"
KEY = "5c0ffee1-9d2a-4b7e-8f31-2a6c9e0d7b14"
SECRET = "7F3A9C2E5B1D8046E2C4A6F8B0D1E3F5"
PASSPHRASE = "Qz7-Hk2m-Wp9x"


class Rig:
    """okxsim with one account, and the daemon in front of it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.exchange = Exchange(directory, "--account", f"{KEY}:{SECRET}:{PASSPHRASE}")
        # REST's pages are what is tested: no private-stream copy answering orders.
        self.fmzokx = Daemon(directory, self.exchange, "--private-stream", "off")
        self.daemon = self.fmzokx.proc
        self.port = self.fmzokx.port

    def post(self, body: bytes) -> tuple[int, Any]:
        status, reply = http_call(self.port, "POST", "/OKX", body, timeout=60)
        return status, json.loads(reply)

    def call(self, method: str, params: dict[str, Any]) -> Any:
        envelope = {"access_key": KEY, "secret_key": f"{SECRET},{PASSPHRASE}",
                    "method": method, "params": params, "nonce": time.time_ns()}
        status, reply = self.post(json.dumps(envelope).encode())
        assert status == 200, reply
        return reply

    def sim(self, method: str, path: str, spec: Any = None) -> Any:
        return self.exchange.control(method, path, spec)

    def stop(self) -> None:
        self.fmzokx.stop()
        self.exchange.stop()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    running = Rig(tmp_path)
    try:
        yield running
    finally:
        running.stop()


def test_a_page_without_data_is_an_error_not_a_short_list(rig: Rig) -> None:
    for _ in range(260):
        placed = rig.call("trade", {"symbol": "BTC_USDT", "type": "buy", "price": "1000",
                                    "amount": "0.001"})
        assert "data" in placed, placed
    assert len(rig.call("orders", {"symbol": "BTC_USDT"})["data"]) == 260
    # Page 2, and each of the daemon's retries of it (4 attempts in all), has no data.
    rig.sim("POST", "/_sim/faults", {"path": PENDING, "mode": "reply", "skip": 1,
                                      "count": 4, "body": {"code": "0", "msg": ""}})
    reply = rig.call("orders", {"symbol": "BTC_USDT"})
    assert set(reply) == {"error"}, str(reply)[:300]
    assert "page 2" in reply["error"] and "no data field" in reply["error"]


@pytest.mark.parametrize("body", [
    b'{"method": "\\ud800", "params": {}}',
    b'{"method": "ticker", "params": {"symbol": "BTC_USDT\\udc00"}}',
])
def test_a_lone_surrogate_is_a_clear_error(rig: Rig, body: bytes) -> None:
    status, reply = rig.post(body)
    assert status == 200
    assert set(reply) == {"error"} and "lone UTF-16 surrogate" in reply["error"]
    assert "data" in rig.call("ticker", {"symbol": "BTC_USDT"})  # still serving
    time.sleep(0.3)  # let the log lines of both calls reach the pipe
    logged = rig.daemon.output(None)
    assert '"critical"' not in logged and "internal error" not in logged
    assert "Traceback" not in logged


def _pieces(value: str, width: int = 8) -> list[str]:
    return [value[i:i + width].casefold() for i in range(len(value) - width + 1)]


def test_the_callers_own_credentials_in_params_reach_no_surface(rig: Rig) -> None:
    placed = rig.call("trade", {"symbol": "BTC_USDT", "type": "buy", "price": "1000",
                                "amount": "0.001"})
    assert "data" in placed  # the journal exists and holds a record
    requests_before = rig.sim("GET", "/_sim/state")["requests"]
    replies = [
        rig.call("trade", {"symbol": "BTC_USDT", "type": SECRET, "price": "1000",
                           "amount": "0.001"}),
        rig.call("trade", {"symbol": "BTC_USDT", "type": "buy", "price": "1000",
                           "amount": "0.001", "clientOrderId": SECRET.lower()}),
        rig.call("cancel", {"id": f"{SECRET}-0123456789abcdef0123456789"}),
        rig.call("order", {"id": f"BTC-USDT,{PASSPHRASE}"}),
        rig.call("__api_/api/v5/trade/order", {"instId": KEY, "side": "buy"}),
    ]
    for reply in replies:
        assert set(reply) == {"error"} and "carries this request's" in reply["error"], reply
    assert rig.sim("GET", "/_sim/state")["requests"] == requests_before
    time.sleep(0.3)
    journal = b"".join(
        path.read_bytes() for path in rig.directory.rglob("*") if path.is_file()
        and "journal" in path.name
    )
    assert journal, "no journal file in the daemon's directory"
    surfaces = {
        "replies": json.dumps(replies).casefold(),
        "log": rig.daemon.output(None).casefold(),
        "journal": journal.decode("latin-1").casefold(),
    }
    for name, text in surfaces.items():
        for credential in (SECRET, PASSPHRASE):
            for piece in _pieces(credential):
                assert piece not in text, (name, piece)
    # The API key itself is in the journal (its fingerprint is not enough to reconcile);
    # the error and the log never show it.
    for piece in _pieces(KEY):
        assert piece not in surfaces["replies"] and piece not in surfaces["log"], piece
