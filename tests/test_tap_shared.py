"""
``--shared-state`` and its companions on the command line, and what makeService builds
from them: the Redis-backed budget service, the pacer drawing on it for the account
scopes (the IP scopes too with --shared-ip), the password masked in every log line.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from twisted.python import usage

from fmzokx.logs import secrets
from fmzokx.okx.pacing.limits import Scope
from fmzokx.okx.pacing.pacer import PRIVATE_SCOPES
from fmzokx.okx.pacing.shared.settings import SharedStateService
from fmzokx.options import Options
from fmzokx.tap import build


def parse(*argv: str) -> Options:
    options = Options()
    options.parseOptions(list(argv))
    return options


def test_off_by_default() -> None:
    assert parse()["shared"] is None


def test_every_option(tmp_path: Path) -> None:
    password = tmp_path / "pw"
    password.write_text("tap-password-0042\n")
    options = parse(
        "--shared-state", "redis://10.1.2.3:6380/4",
        "--shared-state-password-file", str(password),
        "--shared-hosts", "3", "--shared-ip", "--shared-state-timeout", "20",
        "--shared-namespace", "desk",
    )
    shared = options["shared"]
    assert shared.target.host == "10.1.2.3" and shared.target.db == 4
    assert shared.target.password == "tap-password-0042"
    assert (shared.hosts, shared.shared_ip, shared.call_deadline, shared.namespace) == (
        3, True, 0.02, "desk"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--shared-state", "http://h"], "redis:// or rediss://"),
        (["--shared-hosts", "3"], "--shared-hosts needs --shared-state"),
        (["--shared-ip"], "--shared-ip needs --shared-state"),
        (["--shared-state", "redis://h", "--shared-hosts", "0"], "--shared-hosts must be"),
        (["--shared-state", "redis://h", "--rate-limits", "off"], "--rate-limits off"),
        (["--shared-state", "redis://h", "--shared-state-ca", "/etc/hostname"], "rediss://"),
    ],
)
def test_mistakes(argv: list[str], message: str) -> None:
    with pytest.raises(usage.UsageError, match=message):
        parse(*argv)


def test_make_service_wires_the_shared_budget() -> None:
    service = build(parse(
        "--listen", "tcp:0:interface=127.0.0.1",
        "--shared-state", "redis://:tap-url-password-77@127.0.0.1:9/0",
    ))
    (shared,) = [s for s in service if isinstance(s, SharedStateService)]
    assert shared.slots.hosts == 2 and shared.slots.where == "redis://:***@127.0.0.1:9/0"
    assert "tap-url-password-77" in secrets  # masked in every log line from now on
    pacer = _pacer(service)
    assert pacer.shared is shared.slots and pacer.shared_scopes == PRIVATE_SCOPES


def test_make_service_shares_ip_budgets_on_request() -> None:
    service = build(parse(
        "--listen", "tcp:0:interface=127.0.0.1", "--shared-state", "redis://127.0.0.1:9/0",
        "--shared-ip",
    ))
    assert _pacer(service).shared_scopes == frozenset(Scope)


def test_make_service_without_it_builds_no_redis() -> None:
    service = build(parse("--listen", "tcp:0:interface=127.0.0.1"))
    assert not [s for s in service if isinstance(s, SharedStateService)]
    assert _pacer(service).shared is None


def _pacer(service: object) -> object:
    from fmzokx.service import GatewayService

    (gateway,) = [s for s in service if isinstance(s, GatewayService)]  # type: ignore[attr-defined]
    return gateway.okx.client._pacer  # type: ignore[attr-defined]
