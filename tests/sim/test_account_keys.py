"""
Several API keys of one account (OKX: one User ID, several key pairs) see one state and
draw from one private rate budget; keys of different accounts do not.
"""

from __future__ import annotations

import pytest

from fmzokx.sim import DEFAULT_ACCOUNT, SimAccount, Simulator
from tests.sim.support import Harness

SECOND = SimAccount(key="k2", secret="s2", passphrase="p2", account_of=DEFAULT_ACCOUNT.key)
OTHER = SimAccount(key="k3", secret="s3", passphrase="p3")
TOO_MANY = {"code": "50011", "msg": "Too Many Requests", "data": []}


def _get(harness: Harness, account: SimAccount, target: str) -> tuple[int, object]:
    headers = harness.headers("GET", target, b"", account=account)
    return harness.send("GET", target, None, headers)


def test_a_second_key_sees_the_same_orders_balances_and_uid() -> None:
    harness = Harness(accounts=[DEFAULT_ACCOUNT, SECOND, OTHER])
    ord_id = harness.placed(instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit",
                            px="1000", sz="0.01")
    status, body = _get(harness, SECOND, "/api/v5/trade/orders-pending")
    assert status == 200
    assert [item["ordId"] for item in body["data"]] == [ord_id]  # type: ignore[index]
    first = harness.ok("/api/v5/account/balance")
    _, second = _get(harness, SECOND, "/api/v5/account/balance")
    assert second["data"][0]["details"] == first[0]["details"]  # type: ignore[index]
    (config,) = harness.ok("/api/v5/account/config")
    _, second_config = _get(harness, SECOND, "/api/v5/account/config")
    _, other_config = _get(harness, OTHER, "/api/v5/account/config")
    assert second_config["data"][0]["uid"] == config["uid"]  # type: ignore[index]
    assert other_config["data"][0]["uid"] != config["uid"]  # type: ignore[index]
    _, other_orders = _get(harness, OTHER, "/api/v5/trade/orders-pending")
    assert other_orders["data"] == []  # type: ignore[index]


def test_keys_of_one_account_share_its_private_budget() -> None:
    """account/balance allows 10 per 2 s per User ID (OKX counts per account, not key)."""
    harness = Harness(rate_limits=True, accounts=[DEFAULT_ACCOUNT, SECOND, OTHER])
    for index in range(10):
        account = DEFAULT_ACCOUNT if index % 2 else SECOND
        assert _get(harness, account, "/api/v5/account/balance")[0] == 200
    assert _get(harness, DEFAULT_ACCOUNT, "/api/v5/account/balance") == (429, TOO_MANY)
    assert _get(harness, SECOND, "/api/v5/account/balance") == (429, TOO_MANY)
    assert _get(harness, OTHER, "/api/v5/account/balance")[0] == 200


def test_a_key_must_name_an_account_of_its_own() -> None:
    stray = SimAccount(key="k4", secret="s4", passphrase="p4", account_of="nobody")
    with pytest.raises(ValueError, match="k4"):
        Harness(accounts=[DEFAULT_ACCOUNT, stray])


def test_the_simulator_lists_every_key() -> None:
    harness = Harness(accounts=[DEFAULT_ACCOUNT, SECOND])
    sim: Simulator = harness.sim
    assert [account.key for account in sim.accounts] == [DEFAULT_ACCOUNT.key, "k2"]


def test_a_second_keys_private_websocket_gets_the_accounts_pushes() -> None:
    """An order placed with the first key is pushed to a session logged in with the second."""
    from tests.sim.private_support import PrivateHarness, data

    def channel_data(messages: list[object], name: str) -> list[dict[str, object]]:
        return [item for push in data(messages) if push["arg"]["channel"] == name
                for item in push["data"]]

    harness = PrivateHarness(accounts=(DEFAULT_ACCOUNT, SECOND, OTHER))
    second = harness.session(SECOND, {"channel": "orders", "instType": "ANY"})
    other = harness.session(OTHER, {"channel": "orders", "instType": "ANY"})
    ord_id = harness.place(instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit",
                           px="1000", sz="0.01")
    pushed = channel_data(second.messages(), "orders")
    assert [item["ordId"] for item in pushed] == [ord_id]
    assert channel_data(other.messages(), "orders") == []
