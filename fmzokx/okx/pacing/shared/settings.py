# -*- test-case-name: tests.okx.sharedbudget.test_settings -*-
"""
The ``--shared-*`` options as one validated value, and the service that runs them.

:func:`settings_from_options` turns the command line into :class:`SharedStateSettings`
(or ``None`` when ``--shared-state`` is not given: nothing changes and no Redis is
needed), with an error message for every mistake. :class:`SharedStateService` owns the
connection and the slot-taker for the daemon's life.
"""

from __future__ import annotations

import re
from typing import Any

from attrs import define, frozen
from twisted.application.service import Service
from twisted.internet.defer import Deferred

from fmzokx.okx.pacing.shared.connection import RedisConnection
from fmzokx.okx.pacing.shared.metrics import SharedStateMetrics
from fmzokx.okx.pacing.shared.script import RESERVE_SCRIPT
from fmzokx.okx.pacing.shared.slots import SharedSlots
from fmzokx.okx.pacing.shared.url import RedisTarget, parse_redis_url, read_password_file

__all__ = ["SharedStateService", "SharedStateSettings", "settings_from_options"]

_NAMESPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
MAX_HOSTS = 1000


@frozen
class SharedStateSettings:
    """
    Everything ``--shared-state`` and its companions say.

    :ivar hosts: daemons sharing the budgets; each takes ``1/hosts`` when degraded.
    :ivar shared_ip: the daemons leave through one egress address, so OKX's per-IP
        budgets are shared too.
    :ivar call_deadline: seconds a call may wait for Redis's answer.
    :ivar namespace: prefix of every Redis key.
    :ivar ca_bundle: PEM of CAs to trust for ``rediss://`` instead of the system's.
    """

    target: RedisTarget
    hosts: int = 2
    shared_ip: bool = False
    call_deadline: float = 0.05
    namespace: str = "fmzokx"
    ca_bundle: str | None = None


def _number(option: str, value: Any, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{option} must be a number, got {value!r}") from None
    if not low <= number <= high:
        raise ValueError(f"{option} must be between {low:g} and {high:g}, got {value!r}")
    return number


def settings_from_options(
    url: str | None,
    *,
    password_file: str | None = None,
    ca_bundle: str | None = None,
    hosts: Any = None,
    shared_ip: bool = False,
    timeout_ms: Any = None,
    namespace: str | None = None,
) -> SharedStateSettings | None:
    """
    Validate the ``--shared-*`` options; ``None`` without ``--shared-state``. An option
    left ``None`` takes its default (2 hosts, 50 ms, namespace ``fmzokx``).

    :raises ValueError: with a message naming the option (never a password).
    """
    if url is None:
        given = [
            name for name, value in (
                ("--shared-state-password-file", password_file),
                ("--shared-state-ca", ca_bundle),
                ("--shared-hosts", hosts),
                ("--shared-ip", shared_ip or None),
                ("--shared-state-timeout", timeout_ms),
                ("--shared-namespace", namespace),
            ) if value is not None
        ]
        if given:
            raise ValueError(f"{', '.join(given)} needs --shared-state redis://HOST:PORT/DB")
        return None
    target = parse_redis_url(url)
    if password_file is not None:
        if target.password is not None:
            raise ValueError(
                "give the Redis password in the URL or in --shared-state-password-file, "
                "not both"
            )
        target = target.with_password(read_password_file(password_file))
    if ca_bundle is not None:
        if not target.tls:
            raise ValueError("--shared-state-ca needs a rediss:// (TLS) --shared-state URL")
        from fmzokx.okx.rest.transport import load_trust_root

        try:
            load_trust_root(ca_bundle)
        except Exception as error:
            raise ValueError(
                f"--shared-state-ca {ca_bundle!r} is not a PEM file of CA certificates "
                f"({type(error).__name__})"
            ) from None
    count = _number("--shared-hosts", 2 if hosts is None else hosts, 1, MAX_HOSTS)
    if count != int(count):
        raise ValueError(f"--shared-hosts must be a whole number, got {hosts!r}")
    deadline = _number(
        "--shared-state-timeout", 50 if timeout_ms is None else timeout_ms, 1, 5000
    ) / 1000
    namespace = "fmzokx" if namespace is None else namespace
    if not _NAMESPACE.match(namespace):
        raise ValueError(
            "--shared-namespace must be 1-40 letters, digits, '_', '.' or '-', "
            f"got {namespace!r}"
        )
    return SharedStateSettings(
        target=target, hosts=int(count), shared_ip=shared_ip, call_deadline=deadline,
        namespace=namespace, ca_bundle=ca_bundle,
    )


@define(slots=False)
class SharedStateService(Service):
    """The Redis connection and the slot-taker, started and stopped with the daemon."""

    connection: RedisConnection
    slots: SharedSlots

    @classmethod
    def create(
        cls, reactor: Any, settings: SharedStateSettings, metrics: SharedStateMetrics | None
    ) -> SharedStateService:
        """Build both from the settings (nothing connects until the service starts)."""
        connection = RedisConnection(
            reactor, settings.target, scripts=[RESERVE_SCRIPT], ca_bundle=settings.ca_bundle
        )
        slots = SharedSlots(
            reactor,
            connection,
            hosts=settings.hosts,
            namespace=settings.namespace,
            call_deadline=settings.call_deadline,
            where=settings.target.display(),
            metrics=metrics,
        )
        return cls(connection, slots)

    def startService(self) -> None:
        super().startService()  # type: ignore[no-untyped-call]
        self.slots.start()
        self.connection.start()

    def stopService(self) -> Deferred[None]:
        super().stopService()  # type: ignore[no-untyped-call]
        self.slots.stop()
        return self.connection.stop()


