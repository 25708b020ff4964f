"""
The ``--shared-*`` options as one validated value (every mistake named, no password in
any message), and the service that connects and disconnects with the daemon.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_twisted
from prometheus_client import CollectorRegistry

from fmzokx.okx.pacing.shared.metrics import SharedStateMetrics
from fmzokx.okx.pacing.shared.settings import (
    SharedStateService,
    SharedStateSettings,
    settings_from_options,
)
from fmzokx.okx.pacing.shared.url import parse_redis_url
from tests.redisserver import RedisServer

from .support import until


def test_absent_means_nothing_changes() -> None:
    assert settings_from_options(None) is None


def test_defaults_and_every_option(tmp_path: Path) -> None:
    assert settings_from_options("redis://10.0.0.5") == SharedStateSettings(
        parse_redis_url("redis://10.0.0.5")
    )
    password = tmp_path / "pw"
    password.write_text("from-a-file-123\n")
    settings = settings_from_options(
        "redis://10.0.0.5:6380/2", password_file=str(password), hosts="3", shared_ip=True,
        timeout_ms="20", namespace="desk-1",
    )
    assert settings is not None
    assert settings.target.password == "from-a-file-123"
    assert (settings.hosts, settings.shared_ip, settings.call_deadline, settings.namespace) == (
        3, True, 0.02, "desk-1"
    )


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"hosts": "0"}, "--shared-hosts must be between 1"),
        ({"hosts": "2.5"}, "whole number"),
        ({"hosts": "many"}, "--shared-hosts must be a number"),
        ({"timeout_ms": "0"}, "--shared-state-timeout must be between 1"),
        ({"timeout_ms": "9000"}, "--shared-state-timeout"),
        ({"namespace": "a b"}, "--shared-namespace"),
        ({"namespace": ""}, "--shared-namespace"),
        ({"ca_bundle": "/etc/hostname"}, "needs a rediss://"),
    ],
)
def test_mistakes_are_named(options: dict[str, str], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        settings_from_options("redis://h", **options)  # type: ignore[arg-type]


def test_companions_need_the_url() -> None:
    with pytest.raises(ValueError, match="--shared-ip needs --shared-state"):
        settings_from_options(None, shared_ip=True)
    with pytest.raises(ValueError, match="--shared-state-password-file needs"):
        settings_from_options(None, password_file="/x")


def test_password_twice_and_bad_ca(tmp_path: Path) -> None:
    password = tmp_path / "pw"
    password.write_text("pw-in-file-0001")
    with pytest.raises(ValueError, match="not both") as raised:
        settings_from_options("redis://:pw-in-url-0002@h", password_file=str(password))
    assert "pw-in-url-0002" not in str(raised.value)
    junk = tmp_path / "ca.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ValueError, match="not a PEM file"):
        settings_from_options("rediss://h", ca_bundle=str(junk))


@pytest_twisted.ensureDeferred
async def test_service_connects_and_disconnects(redis_server: RedisServer) -> None:
    from twisted.internet import reactor

    settings = settings_from_options(redis_server.url, hosts=3)
    assert settings is not None
    registry = CollectorRegistry()
    service = SharedStateService.create(reactor, settings, SharedStateMetrics.create(registry))
    assert not service.connection.ready
    service.startService()
    try:
        await until(lambda: not service.slots.degraded)
        assert registry.get_sample_value("fmzokx_shared_state_degraded") == 0
        assert service.slots.snapshot()["hosts"] == 3
    finally:
        await service.stopService()
    assert not service.connection.ready
    assert "connected_clients:1" in redis_server.cli("INFO", "clients")  # only redis-cli
