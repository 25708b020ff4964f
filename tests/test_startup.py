"""
makeService's start-up work, in process: ports bound and the journal locked before
twistd daemonises, a failure one line (SystemExit) with everything taken so far given
back.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest
import pytest_twisted

from bench.procs import free_port
from fmzokx.journal.lock import JournalLock
from fmzokx.options import DEFAULT_LISTEN, DEFAULT_STATUS_LISTEN, Options
from fmzokx.startup import ListenService
from fmzokx.tap import _status_url, makeService
from tests.helpers import LogEvents
from tests.helpers import real_sleep as sleep


def parse(*argv: str) -> Options:
    options = Options()
    options.parseOptions(list(argv))
    return options


@pytest_twisted.ensureDeferred
async def test_make_service_binds_and_locks_before_start(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite3"
    top = makeService(parse("--listen", "tcp:0:interface=127.0.0.1", "--status-listen",
                            "tcp:0:interface=127.0.0.1", "--okx-url", "http://127.0.0.1:9",
                            "--journal", str(journal)))
    try:
        listeners = [s for s in top if isinstance(s, ListenService)]
        ports = [s.port.getHost().port for s in listeners]
        assert len(ports) == 2 and 0 not in ports
        assert not top.running
        with pytest.raises(Exception, match="in use by another fmzokx"):
            JournalLock.acquire(str(journal))
    finally:
        await top.stopService()
    JournalLock.acquire(str(journal)).release()
    for port in ports:
        with socket.socket() as probe:  # the port was closed again
            assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_a_taken_port_fails_before_the_journal_is_touched(
    tmp_path: Path, busy_port: int
) -> None:
    journal = tmp_path / "j.sqlite3"
    listen = f"tcp:{busy_port}:interface=127.0.0.1"
    with pytest.raises(SystemExit) as caught:
        makeService(parse("--listen", listen, "--status-listen", "tcp:0:interface=127.0.0.1",
                          "--okx-url", "http://127.0.0.1:9", "--journal", str(journal)))
    assert caught.value.code == (
        f"twistd fmzokx: cannot listen on {listen}: the address is already in use (another "
        "fmzokx, or another program, holds this port: stop it or choose another port with "
        "--listen)"
    )
    assert list(tmp_path.iterdir()) == []


@pytest_twisted.ensureDeferred
async def test_a_failure_gives_back_what_was_taken(tmp_path: Path) -> None:
    """A journal locked by another daemon after the ports were bound: they close again."""
    journal = tmp_path / "j.sqlite3"
    port = free_port()
    other = JournalLock.acquire(str(journal))
    try:
        with pytest.raises(SystemExit) as caught:
            makeService(parse("--listen", f"tcp:{port}:interface=127.0.0.1",
                              "--status-listen", "none", "--okx-url", "http://127.0.0.1:9",
                              "--journal", str(journal)))
    finally:
        other.release()
    assert str(caught.value.code).startswith(
        f"twistd fmzokx: order journal {journal} is in use by another fmzokx"
    )
    await sleep(0.05)  # the port's close completes on the reactor
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))


def test_files_made_before_twistd_drops_privileges_belong_to_its_user(tmp_path: Path) -> None:
    """``twistd --uid U --gid G``: the journal and its lock, made as root, go to U:G."""
    from twisted.scripts.twistd import ServerOptions

    from fmzokx.service import GatewayService
    from fmzokx.tap import build

    if os.geteuid() != 0:
        pytest.skip("only root can give files away")
    journal = tmp_path / "j.sqlite3"
    command = ServerOptions()
    command.parseOptions(["--uid", "65534", "--gid", "65534", "fmzokx", "--listen",
                          "tcp:0:interface=127.0.0.1", "--status-listen", "none",
                          "--okx-url", "http://127.0.0.1:9", "--journal", str(journal)])
    top = build(command.subOptions)
    (gateway,) = [s for s in top if isinstance(s, GatewayService)]
    assert gateway.journal_service is not None
    gateway.journal_service.prepare()
    try:
        for path in (journal, tmp_path / "j.sqlite3.lock"):
            assert (path.stat().st_uid, path.stat().st_gid) == (65534, 65534), path
    finally:
        gateway.journal_service.abandon()


@pytest_twisted.ensureDeferred
async def test_the_sandbox_banner_names_the_ports_given_for_port_0(
    tmp_path: Path, info_events: LogEvents
) -> None:
    """--listen tcp:0: the banner names the port the daemon got, not port 0."""
    top = makeService(parse("--sandbox", "--listen", "tcp:0:interface=127.0.0.1",
                            "--status-listen", "tcp:0:interface=127.0.0.1",
                            "--journal", str(tmp_path / "j.sqlite3")))
    status_port, rpc_port = [
        s.port.getHost().port for s in top if isinstance(s, ListenService)
    ]
    try:
        with info_events.during() as events:
            top.startService()
    finally:
        await top.stopService()
    (banner,) = [str(e["banner"]) for e in events if "banner" in e]
    assert f"Service address: http://127.0.0.1:{rpc_port}/OKX\n" in banner
    assert f"Status page:       http://127.0.0.1:{status_port}/status\n" in banner


def test_the_banner_says_when_browsers_refuse_the_status_pages_port() -> None:
    """
    --status-listen none: the page is on the RPC port, 6666 by default, which browsers
    refuse (ERR_UNSAFE_PORT); the banner says so and names the way out instead of
    printing an address a browser will not open. The status port's address stays plain.
    """
    rpc = SimpleNamespace(description=DEFAULT_LISTEN, port=None)
    options = {"listen": [DEFAULT_LISTEN]}
    assert _status_url(options, {"--status-listen": [], "--listen": [rpc]}) == (
        "http://127.0.0.1:6666/status\n"
        "                    (browsers refuse port 6666: curl it, or use --status-listen)"
    )
    status = SimpleNamespace(description=DEFAULT_STATUS_LISTEN, port=None)
    assert _status_url(options, {"--status-listen": [status], "--listen": [rpc]}) == (
        "http://127.0.0.1:6680/status"
    )
    other = SimpleNamespace(description="tcp:7000:interface=127.0.0.1", port=None)
    assert _status_url(options, {"--status-listen": [], "--listen": [other]}) == (
        "http://127.0.0.1:7000/status"
    )
