"""
``twistd okxsim`` command line: options as data, validation errors, and the service tree;
plus one end-to-end run on a real loopback port with a signed treq request.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import pytest_twisted
import treq
from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import IServiceMaker
from twisted.internet.defer import Deferred
from twisted.plugin import getPlugins
from twisted.python import usage

from fmzokx.okx.rest.signing import encode_body, format_timestamp, sign
from fmzokx.sim import DEFAULT_ACCOUNT, SimAccount
from fmzokx.sim.tap import Options, SimulatorOptions, SimulatorService, makeService


def parse(*argv: str) -> SimulatorOptions:
    options = SimulatorOptions()
    options.parseOptions(list(argv))
    return options


def test_defaults() -> None:
    """No options: loopback port 8443, the demo account, seed 1, limits on, no latency."""
    options = parse()
    assert options["listen"] == ["tcp:8443:interface=127.0.0.1"]
    assert options["accounts"] == [DEFAULT_ACCOUNT]
    assert (options["seed"], options["rate-limits"], options["latency"]) == (1, True, 0.0)


def test_all_options() -> None:
    """Repeatable --listen and --account; --seed, --latency, --rate-limits off."""
    options = parse(
        "--listen", "tcp:0:interface=127.0.0.1", "--listen", "unix:/tmp/okxsim.sock",
        "--account", "k1:s1:p1", "--account", "k2:s2:pass:with:colons",
        "--seed", "42", "--latency", "12.5", "--rate-limits", "OFF",
    )
    assert options["listen"] == ["tcp:0:interface=127.0.0.1", "unix:/tmp/okxsim.sock"]
    assert options["accounts"] == [
        SimAccount("k1", "s1", "p1"),
        SimAccount("k2", "s2", "pass:with:colons"),
    ]
    assert (options["seed"], options["latency"], options["rate-limits"]) == (42, 12.5, False)


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--account", "onlykey"], "KEY:SECRET:PASSPHRASE"),
        (["--account", "k::p"], "KEY:SECRET:PASSPHRASE"),
        (["--account", "k:s:p", "--account", "k:t:q"], "different KEY"),
        (["--seed", "x"], "--seed must be an integer"),
        (["--latency", "fast"], "--latency must be a number"),
        (["--latency", "-1"], "--latency must be between"),
        (["--rate-limits", "maybe"], "'on' or 'off'"),
    ],
)
def test_bad_options(argv: list[str], fragment: str) -> None:
    """Invalid values raise UsageError with a message saying what is expected."""
    with pytest.raises(usage.UsageError, match=fragment):
        parse(*argv)


def test_make_service_builds_one_listener_per_endpoint() -> None:
    """makeService returns a MultiService with a listener per --listen, not started."""
    service = makeService(parse("--listen", "tcp:0", "--listen", "tcp:0", "--seed", "3"))
    assert isinstance(service, SimulatorService)
    children = list(service)
    assert len(children) == 2
    assert all(isinstance(child, StreamServerEndpointService) for child in children)
    assert service.simulator.seed == 3
    assert not service.running


def test_plugin_is_found() -> None:
    """twistd finds the okxsim plugin and it points at this module."""
    makers = {maker.tapname: maker for maker in getPlugins(IServiceMaker)}
    assert makers["okxsim"].options is Options  # type: ignore[attr-defined]


@pytest_twisted.ensureDeferred
async def test_loopback_signed_order() -> None:
    """On a real port, a signed order placed with treq is filled and shows in the state."""
    from twisted.internet import reactor

    service = makeService(parse("--listen", "tcp:0:interface=127.0.0.1"))
    assert isinstance(service, SimulatorService)
    service.startService()
    try:
        (server,) = list(service)
        port = await server._waitingForPort  # type: ignore[attr-defined]
        base = f"http://127.0.0.1:{port.getHost().port}"
        path = "/api/v5/trade/order"
        body = encode_body({"instId": "BTC-USDT", "tdMode": "cash", "side": "buy",
                            "ordType": "market", "sz": "25"})
        stamp = format_timestamp(reactor.seconds())  # type: ignore[attr-defined]
        headers = {
            "OK-ACCESS-KEY": DEFAULT_ACCOUNT.key,
            "OK-ACCESS-PASSPHRASE": DEFAULT_ACCOUNT.passphrase,
            "OK-ACCESS-TIMESTAMP": stamp,
            "OK-ACCESS-SIGN": sign(DEFAULT_ACCOUNT.secret, stamp, "POST", path, body),
            "Content-Type": "application/json",
        }
        response = await treq.post(base + path, data=body, headers=headers, persistent=False)
        assert response.code == 200
        reply: dict[str, Any] = json.loads(await response.content())
        assert reply["code"] == "0"
        ord_id = reply["data"][0]["ordId"]
        response = await treq.get(base + "/_sim/state", persistent=False)
        state = json.loads(await response.content())
        assert [o["ordId"] for o in state["orders"]] == [ord_id]
        assert state["orders"][0]["state"] == "filled"
        response = await treq.get(base + "/api/v5/public/time", persistent=False)
        server_ms = int(json.loads(await response.content())["data"][0]["ts"])
        assert abs(server_ms / 1000 - reactor.seconds()) < 5  # type: ignore[attr-defined]
    finally:
        await service.stopService()
        waiter: Deferred[None] = Deferred()
        reactor.callLater(0, waiter.callback, None)  # type: ignore[attr-defined]
        await waiter


@pytest_twisted.ensureDeferred
async def test_loopback_drop_after_commit() -> None:
    """On a real connection, drop-after-commit does the work and closes without a reply."""
    from twisted.internet import reactor

    service = makeService(parse("--listen", "tcp:0:interface=127.0.0.1"))
    assert isinstance(service, SimulatorService)
    service.startService()
    try:
        (server,) = list(service)
        port = await server._waitingForPort  # type: ignore[attr-defined]
        base = f"http://127.0.0.1:{port.getHost().port}"
        service.simulator.add_fault("/api/v5/trade/order", "drop-after-commit")
        path = "/api/v5/trade/order"
        body = encode_body({"instId": "ETH-USDT", "tdMode": "cash", "side": "buy",
                            "ordType": "market", "sz": "25"})
        stamp = format_timestamp(reactor.seconds())  # type: ignore[attr-defined]
        headers = {
            "OK-ACCESS-KEY": DEFAULT_ACCOUNT.key,
            "OK-ACCESS-PASSPHRASE": DEFAULT_ACCOUNT.passphrase,
            "OK-ACCESS-TIMESTAMP": stamp,
            "OK-ACCESS-SIGN": sign(DEFAULT_ACCOUNT.secret, stamp, "POST", path, body),
            "Content-Type": "application/json",
        }
        with pytest.raises(Exception) as caught:
            await treq.post(base + path, data=body, headers=headers, persistent=False)
        assert "Response" in type(caught.value).__name__
        state = service.simulator.state()
        assert [o["state"] for o in state["orders"]] == ["filled"]
    finally:
        await service.stopService()
        waiter: Deferred[None] = Deferred()
        reactor.callLater(0, waiter.callback, None)  # type: ignore[attr-defined]
        await waiter
