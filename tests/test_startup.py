"""
makeService's start-up work, in process: ports bound and the journal locked before
twistd daemonises, a failure one line (SystemExit) with everything taken so far given
back.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_twisted

from fmzokx.journal.lock import JournalLock
from fmzokx.options import Options
from fmzokx.startup import ListenService
from fmzokx.tap import makeService


def parse(*argv: str) -> Options:
    options = Options()
    options.parseOptions(list(argv))
    return options


@pytest.fixture
def busy_port() -> Iterator[int]:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        yield holder.getsockname()[1]
    finally:
        holder.close()


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


def test_a_failure_gives_back_what_was_taken(tmp_path: Path, busy_port: int) -> None:
    """A port in use after the journal was locked: one line, and the lock is released."""
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
    JournalLock.acquire(str(journal)).release()
