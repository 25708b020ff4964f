"""
The simulator's clock offset (``POST /_sim/clock``): an exchange whose clock is not the
client's. Its timestamps, the 30 s signature window (50102) and ``expTime`` (50037)
follow the offset; GET /_sim/state shows it and a reset clears it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from fmzokx.okx.rest.signing import encode_body, format_timestamp

from .support import START, Harness

ORDER = {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit",
         "px": "1000", "sz": "0.001"}


def control(harness: Harness, path: str, payload: Any = None) -> tuple[int, Any]:
    body = None if payload is None else json.dumps(payload).encode()
    method = "GET" if payload is None else "POST"
    return harness.send(method, path, body, {"Content-Type": "application/json"})


def server_ms(harness: Harness) -> int:
    (row,) = harness.ok("/api/v5/public/time", private=False)
    return int(row["ts"])


def test_offset_moves_the_servers_time_and_shows_in_state() -> None:
    """POST /_sim/clock moves /public/time by the offset from then on; state shows it."""
    harness = Harness()
    assert server_ms(harness) == int(START * 1000)
    status, body = control(harness, "/_sim/clock", {"offset_ms": 61_500})
    assert (status, body["code"]) == (200, "0")
    assert body["data"] == [{"offset_ms": 61_500, "ts": str(int(START * 1000) + 61_500)}]
    assert server_ms(harness) == int(START * 1000) + 61_500
    harness.clock.advance(2)
    assert server_ms(harness) == int(START * 1000) + 63_500
    _, state = control(harness, "/_sim/state")
    assert state["clock_offset_ms"] == 61_500
    assert state["ts"] == str(int(START * 1000) + 63_500)
    harness.sim.set_clock_offset(-5_000)
    assert server_ms(harness) == int(START * 1000) + 2_000 - 5_000


@pytest.mark.parametrize("offset_ms", [60_000, -60_000])
def test_signature_window_follows_the_offset(offset_ms: int) -> None:
    """With the server 60 s off, a request stamped with the client's clock is 50102 and
    one stamped with the server's clock passes."""
    harness = Harness()
    harness.sim.set_clock_offset(offset_ms)
    status, body = harness.get("/api/v5/account/balance")
    assert (status, body["code"]) == (401, "50102")
    stamp = format_timestamp(harness.clock.seconds() + offset_ms / 1000)
    target = "/api/v5/account/balance"
    headers = harness.headers("GET", target, b"", timestamp=stamp)
    status, body = harness.send("GET", target, None, headers)
    assert (status, body["code"]) == (200, "0")


def signed_order(harness: Harness, exp_time: int, stamp: str) -> tuple[int, Any]:
    path = "/api/v5/trade/order"
    body = encode_body(ORDER)
    headers = harness.headers("POST", path, body, timestamp=stamp)
    headers["expTime"] = str(exp_time)
    return harness.send("POST", path, body, headers)


def test_exptime_is_checked_against_the_servers_clock() -> None:
    """expTime is judged by the server's clock: 10 s ahead, an order the client thinks has
    5 s left is already expired; 10 s behind, one that expired 1 s ago is still in time."""
    harness = Harness()
    here = int(harness.clock.seconds() * 1000)
    harness.sim.set_clock_offset(10_000)
    stamp = format_timestamp(harness.clock.seconds() + 10)
    status, body = signed_order(harness, here + 5_000, stamp)
    assert (status, body["code"]) == (200, "50036")
    assert harness.sim.state()["orders"] == []
    harness.sim.set_clock_offset(-10_000)
    stamp = format_timestamp(harness.clock.seconds() - 10)
    status, body = signed_order(harness, here - 1_000, stamp)
    assert (status, body["code"]) == (200, "0")
    assert len(harness.sim.state()["orders"]) == 1


@pytest.mark.parametrize(
    "payload",
    [{}, {"offset_ms": "100"}, {"offset_ms": 1.5}, {"offset_ms": True},
     {"offset_ms": 400 * 86_400_000}, ["offset_ms", 1]],
)
def test_bad_offsets_are_refused(payload: Any) -> None:
    """The offset must be an integer number of ms within a year; anything else is a 400
    that leaves the clock alone."""
    harness = Harness()
    status, body = control(harness, "/_sim/clock", payload)
    assert (status, body["code"]) == (400, "51000")
    assert body["msg"]
    assert harness.sim.clock_offset_ms == 0


def test_reset_restores_the_clock() -> None:
    """POST /_sim/reset puts the simulator's clock back on the injected clock."""
    harness = Harness()
    harness.sim.set_clock_offset(30_000)
    harness.sim.reset()
    assert harness.sim.clock_offset_ms == 0
    assert server_ms(harness) == int(START * 1000)
