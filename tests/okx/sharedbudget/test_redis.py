"""
SharedSlots over a real connection to a real redis-server: shared slots, Redis stopped
or frozen mid-run (each call still answered within the 50 ms deadline, degraded state
reported), recovery with the local sends carried back, AUTH, TLS, and no key material
in any Redis key.
"""

from __future__ import annotations

import datetime
import ipaddress
import time
from pathlib import Path
from typing import Any

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred
from twisted.logger import formatEvent

from fmzokx.okx.credentials import fingerprint
from fmzokx.okx.pacing.limits import RateRule, Scope
from fmzokx.okx.pacing.pacer import budget_key
from fmzokx.okx.pacing.shared.connection import RedisConnection, RedisUnavailable
from fmzokx.okx.pacing.shared.patience import CAP
from fmzokx.okx.pacing.shared.script import RESERVE_SCRIPT
from fmzokx.okx.pacing.shared.slots import SharedSlots, Slot
from fmzokx.okx.pacing.shared.url import parse_redis_url
from tests.redisserver import RedisServer

from .support import connected, sleep, until

# a long window, so that sends made while Redis is away are still in it when it is back
RULE = RateRule("GET", "/api/v5/account/balance", 10, Scope.USER, window=20.0)
KEY = ("GET", "/api/v5/account/balance", "key-0123abcd")
REDIS_KEY = "fmzokx:slots:GET:/api/v5/account/balance:key-0123abcd"


async def shared_slots(
    url: str, ca_bundle: str | None = None, **options: Any
) -> tuple[SharedSlots, RedisConnection]:
    connection = await connected(url, ca_bundle=ca_bundle)
    slots = SharedSlots(
        reactor, connection, where=connection.target.display(), probe_interval=0.1, **options
    )
    slots.start()
    await until(lambda: not slots.degraded)
    return slots, connection


async def timed(slots: SharedSlots, key: tuple[str, ...] = KEY) -> tuple[Slot, float]:
    start = time.monotonic()
    slot = await ensureDeferred(slots.reserve(RULE, key, max_wait=60))
    return slot, time.monotonic() - start


@pytest_twisted.ensureDeferred
async def test_redis_stopped_mid_run_and_back(redis_server: RedisServer) -> None:
    slots, connection = await shared_slots(redis_server.url, hosts=2)
    try:
        for _ in range(3):
            slot, _ = await timed(slots)
            assert slot.shared and slot.taken
        tail = time.time()
        redis_server.stop()
        results = [await timed(slots) for _ in range(4)]
        assert all(not slot.shared for slot, _ in results)
        assert max(seconds for _, seconds in results) < 0.05 + 0.1
        snapshot = slots.snapshot()
        assert snapshot["degraded"] and snapshot["fallbacks"] == 1
        assert snapshot["reason"] in ("unavailable", "timeout")
        # the local share is 5; it opens once the three shared slots have left the
        # window (20 s) and the other daemon keeps this one's share free (1 s + 20 s
        # after the loss, the later): these four are queued behind that
        opens = max(tail + 20.1, time.time() - results[-1][1] + 1.0 + 20.1)
        for slot, _ in results:
            assert opens - 0.3 <= time.time() + slot.wait <= opens + 0.3

        redis_server.start()
        await until(lambda: slots.snapshot()["carried"] == 4, limit=15)
        assert not slots.degraded
        # the restarted Redis (no persistence) knows the four local sends
        assert int(redis_server.cli("ZCARD", REDIS_KEY)) == 4
        slot, _ = await timed(slots)
        assert slot.shared
    finally:
        slots.stop()
        await connection.stop()


@pytest_twisted.ensureDeferred
async def test_frozen_redis_costs_one_deadline(redis_server: RedisServer) -> None:
    slots, connection = await shared_slots(redis_server.url, hosts=3)
    try:
        redis_server.pause()
        paused = time.time()
        slot, seconds = await timed(slots)
        assert not slot.shared and slot.taken
        # its own deadline, or sooner when a heartbeat in flight timed out first
        assert seconds < 0.2
        # its share opens once the others keep it free: the patience cap after the last
        # call (this one, or a heartbeat up to 0.25 s before), the presence time, a window
        opens = time.time() + slot.wait - paused
        expected = min(CAP * 0.05, 1.0) + 0.1 + 1.0 + 20.1
        assert expected - 0.3 <= opens <= expected + 0.3
        assert slots.snapshot()["reason"] == "timeout"
        _, seconds = await timed(slots)
        assert seconds < 0.01  # degraded: Redis is not asked again per call
        redis_server.resume()
        await until(lambda: not slots.degraded, limit=15)
        slot, _ = await timed(slots)
        assert slot.shared
    finally:
        redis_server.resume()
        slots.stop()
        await connection.stop()


@pytest_twisted.ensureDeferred
async def test_redis_keys_carry_no_key_material(redis_server: RedisServer) -> None:
    api_key, secret, passphrase = "a1b2c3d4-e5f6-4711-8899-aabbccddeeff", "S3CR3T-XYZ", "pass-phr"
    slots, connection = await shared_slots(redis_server.url, namespace="desk7")
    try:
        order = RateRule("POST", "/api/v5/trade/order", 60, Scope.USER_INST_ID)
        key = budget_key(order, identity=fingerprint(api_key), body={"instId": "BTC-USDT-SWAP"})
        assert (await ensureDeferred(slots.reserve(order, key, max_wait=5))).shared
        await ensureDeferred(slots.reserve(RULE, budget_key(RULE, identity=api_key), max_wait=5))
        names = redis_server.cli("KEYS", "*").split()
        assert "desk7:hosts" in names  # the daemons heard from, by a random name
        names.remove("desk7:hosts")
        assert len(names) == 2 and all(name.startswith("desk7:slots:") for name in names)
        dump = " ".join(names) + redis_server.cli("ZRANGE", names[0], "0", "-1")
        dump += redis_server.cli("ZRANGE", "desk7:hosts", "0", "-1")
        for material in (api_key, api_key.split("-")[0], secret, passphrase):
            assert material not in dump
        assert f"desk7:slots:POST:/api/v5/trade/order:{fingerprint(api_key)}:BTC-USDT-SWAP" in names
    finally:
        slots.stop()
        await connection.stop()


@pytest_twisted.ensureDeferred
async def test_auth(tmp_path: Path, events: list[dict[str, Any]]) -> None:
    password = "pw-Shared-Budget-0042"
    server = RedisServer(tmp_path / "auth", password=password)
    server.start()
    try:
        wrong = RedisConnection(
            reactor, parse_redis_url(server.url).with_password("not-the-password"),
            min_backoff=0.05, max_backoff=0.2,
        )
        wrong.start()
        await until(lambda: "WRONGPASS" in wrong.last_error or "invalid" in wrong.last_error)
        assert not wrong.ready
        await wrong.stop()
        anonymous = RedisConnection(
            reactor, parse_redis_url(server.url).with_password(None), connect_timeout=1
        )
        anonymous.start()
        await sleep(0.3)
        refused = await anonymous.run(RESERVE_SCRIPT, ["k"], ["1", "1", "1", "m"]).addErrback(
            lambda failure: failure.value
        )
        assert not anonymous.ready
        assert isinstance(refused, RedisUnavailable) and "no connection" in str(refused)
        await anonymous.stop()
        slots, connection = await shared_slots(server.url)
        assert (await timed(slots))[0].shared
        texts = [formatEvent(e) for e in events] + [repr(slots.snapshot()), wrong.last_error]
        assert not any(password in text for text in texts)
        assert slots.snapshot()["where"] == f"redis://:***@127.0.0.1:{server.port}/0"
        slots.stop()
        await connection.stop()
    finally:
        server.stop()


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fmzokx test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(1)
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "server.pem", directory / "server.key", directory / "ca.pem"
    paths[0].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    paths[2].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return paths


@pytest_twisted.ensureDeferred
async def test_tls_verified(tmp_path: Path) -> None:
    tls = _certificates(tmp_path / "certs")
    server = RedisServer(tmp_path / "tls", tls=tls, password="pw-over-tls-123")
    server.start()
    try:
        assert server.url.startswith("rediss://")
        untrusted = RedisConnection(
            reactor, parse_redis_url(server.url), min_backoff=0.05, max_backoff=0.2
        )
        untrusted.start()
        await until(lambda: "certificate" in untrusted.last_error.lower(), limit=10)
        assert not untrusted.ready
        await untrusted.stop()
        slots, connection = await shared_slots(server.url, ca_bundle=str(tls[2]))
        try:
            assert connection.ready and (await timed(slots))[0].shared
            assert slots.snapshot()["where"].startswith("rediss://:***@127.0.0.1:")
        finally:
            slots.stop()
            await connection.stop()
    finally:
        server.stop()
