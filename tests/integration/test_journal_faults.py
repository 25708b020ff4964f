"""
Faults under the order journal, with real processes (``twistd okxsim`` and ``twistd
fmzokx`` as children on 127.0.0.1, as in ``test_journal_crash.py``):

- the journal's disk frozen with the kernel's own ``fsfreeze`` while the daemon runs (an
  ext4 file system in a loop device, so only the test's own disk freezes; needs root and
  loop devices, skipped otherwise): a trade answers "not placed" within the journal's
  deadline, ``/healthz`` and ``/status`` say the journal is stalled, and after the thaw
  the order is never sent;
- a second daemon on the same journal through a hard link or a symlink;
- the start-up messages of a journal whose directory is missing, that is read-only,
  locked or corrupt.

Run alone: ``python -m pytest tests/integration/test_journal_faults.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.procs import child_env, free_port, http_call, twistd_command
from fmzokx.okx.bounds import JOURNAL_WRITE, AnswerBounds
from fmzokx.sim import DEFAULT_ACCOUNT
from tests.integration import processes
from tests.integration.processes import Exchange, wait_for

TIMEOUT = 2.0
"""The daemons' ``--timeout``: a trade's documented bound is then 22 s."""
BUY = {"symbol": "BTC_USDT", "type": "buy", "price": "-1", "amount": "20"}


class Daemon(processes.Daemon):
    """``twistd fmzokx`` on okxsim with its journal at ``journal``."""

    call_timeout = 90.0

    def __init__(
        self, directory: Path, exchange: Exchange, journal: Path, *, wait: bool = True
    ) -> None:
        self.journal = journal
        super().__init__(
            directory, exchange, "--timeout", str(TIMEOUT), "--journal", str(journal),
            wait=wait,
        )

    def post_through(self, path: str, params: dict[str, str]) -> Any:
        """A POST to OKX through the ``__api_`` pass-through (``Http-Method: POST``)."""
        import http.client

        envelope = {
            "access_key": DEFAULT_ACCOUNT.key,
            "secret_key": f"{DEFAULT_ACCOUNT.secret},{DEFAULT_ACCOUNT.passphrase}",
            "method": f"__api_{path}", "params": params, "nonce": time.time_ns(),
        }
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request("POST", "/OKX", body=json.dumps(envelope).encode(), headers={
                "Content-Type": "application/json", "Http-Method": "POST"})
            return json.loads(connection.getresponse().read())
        finally:
            connection.close()


def entries(journal: Path) -> list[dict[str, Any]]:
    """The operator's reader, as a separate process."""
    done = subprocess.run(
        [sys.executable, "-m", "fmzokx.journal.cli", "--journal", str(journal), "--json",
         "--kind", "order"],
        env=child_env(), capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def settled(journal: Path, count: int) -> bool:
    found = entries(journal)
    return len(found) == count and all(e["outcome"] for e in found)


@pytest.fixture
def exchange(tmp_path: Path) -> Iterator[Exchange]:
    started = Exchange(tmp_path)
    try:
        yield started
    finally:
        started.proc.stop()


# -- a frozen disk -----------------------------------------------------------------------


class Disk:
    """An ext4 file system in a file, loop-mounted, that the kernel can freeze."""

    def __init__(self, root: Path) -> None:
        self.image = root / "disk.img"
        self.mount = root / "disk"
        self.mount.mkdir()
        with open(self.image, "wb") as image:
            image.truncate(32 * 1024 * 1024)
        self.frozen = False
        made = subprocess.run(["mkfs.ext4", "-q", "-F", str(self.image)],
                              capture_output=True, timeout=60, check=False)
        mounted = made.returncode == 0 and subprocess.run(
            ["mount", "-o", "loop", str(self.image), str(self.mount)],
            capture_output=True, timeout=60, check=False,
        ).returncode == 0
        if not mounted:
            pytest.skip("cannot loop-mount an ext4 file system here")

    def freeze(self) -> None:
        subprocess.run(["fsfreeze", "--freeze", str(self.mount)], timeout=30, check=True)
        self.frozen = True

    def thaw(self) -> None:
        if self.frozen:
            subprocess.run(["fsfreeze", "--unfreeze", str(self.mount)], timeout=30,
                           check=True)
            self.frozen = False

    def remove(self) -> None:
        self.thaw()
        for _ in range(50):
            if subprocess.run(["umount", str(self.mount)], capture_output=True, timeout=60,
                              check=False).returncode == 0:
                return
            time.sleep(0.2)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Disk]:
    if os.geteuid() != 0 or not all(shutil.which(t) for t in ("fsfreeze", "mkfs.ext4")):
        pytest.skip("freezing a file system needs root, fsfreeze and mkfs.ext4")
    made = Disk(tmp_path)
    try:
        yield made
    finally:
        made.remove()


def test_a_frozen_journal_disk(tmp_path: Path, disk: Disk, exchange: Exchange) -> None:
    """
    fsfreeze under a running daemon: the trade is answered "not placed" at the journal's
    deadline (not after the thaw), the health reports say so, and the order never
    reaches OKX, neither during the freeze nor after it.
    """
    journal = disk.mount / "fmzokx-journal.sqlite3"
    daemon = Daemon(tmp_path, exchange, journal)
    try:
        assert "data" in daemon.call("trade", BUY)
        wait_for(lambda: settled(journal, 1), "the first outcome", daemon.proc)
        assert daemon.health()[0] == 200

        disk.freeze()
        try:
            nonce = time.time_ns()
            began = time.monotonic()
            refused = daemon.call("trade", BUY, nonce=nonce)
            took = time.monotonic() - began
            assert "order not placed: order journal" in refused.get("error", ""), refused
            assert "did not answer within 2 s" in refused["error"]
            assert "never will be" in refused["error"]
            bound = AnswerBounds(TIMEOUT).trade
            assert JOURNAL_WRITE <= took < bound, took
            status, health = daemon.health()
            assert status == 503 and health["status"] == "degraded"
            assert health["journal"]["stalled"] is True, health
            assert health["journal"]["stalled_for_s"] >= JOURNAL_WRITE
            page = http_call(daemon.port, "GET", "/status")[1].decode()
            assert 'id="journal"' in page and "stalled" in page
            # Reads are unaffected; nothing reached OKX.
            assert "data" in daemon.call("ticker", {"symbol": "BTC_USDT"})
            assert len(exchange.orders()) == 1
            time.sleep(8)  # longer than the order's expTime and the placement's end
            assert len(exchange.orders()) == 1
        finally:
            disk.thaw()
        wait_for(lambda: daemon.health()[0] == 200, "the journal answering again",
                 daemon.proc)
        time.sleep(2)
        assert len(exchange.orders()) == 1, "the order refused during the freeze was sent"
        # The intent that was inside fsync when the disk froze became durable at the
        # thaw, and is marked not placed; the docker's repeat gets that answer.
        late = [e for e in entries(journal) if e["nonce"] == nonce]
        assert [e["outcome"] for e in late] in ([], ["not_placed"]), late
        again = daemon.call("trade", BUY, nonce=nonce)
        if late:
            assert "never sent" in again.get("error", ""), again
            assert len(exchange.orders()) == 1
        # New orders are placed again.
        assert "data" in daemon.call("trade", BUY)
    finally:
        disk.thaw()
        daemon.proc.kill()


# -- the repeat after an outage ----------------------------------------------------------


def test_a_repeat_after_an_outage_asks_okx_itself(tmp_path: Path, exchange: Exchange) -> None:
    """
    OKX unreachable (okxsim SIGSTOPped) after taking an order: the trade answers "order
    outcome unknown" and the background lookup backs off. OKX back, the docker's repeat
    is answered with the order at once -- it asks OKX itself instead of waiting for the
    background lookup's next try (it waited up to 18 s, then said "unknown" again).
    """
    journal = tmp_path / "fmzokx-journal.sqlite3"
    daemon = Daemon(tmp_path, exchange, journal)
    try:
        assert "data" in daemon.call("trade", BUY)
        (before,) = exchange.orders()
        nonce = time.time_ns()
        exchange.fault("delay", delay_ms=120_000)  # the order is taken, its reply held
        answers: list[Any] = []
        first = threading.Thread(
            target=lambda: answers.append(daemon.call("trade", BUY, nonce=nonce)), daemon=True
        )
        first.start()
        wait_for(lambda: len(exchange.orders()) == 2, "the order at okxsim", daemon.proc)
        (order,) = [o for o in exchange.orders() if o["ordId"] != before["ordId"]]
        os.kill(exchange.proc.pid, signal.SIGSTOP)
        try:
            first.join(timeout=60)
            assert answers and "order outcome unknown" in answers[0].get("error", ""), answers
            time.sleep(30)  # the background lookup is well into its backoff now
        finally:
            os.kill(exchange.proc.pid, signal.SIGCONT)
        began = time.monotonic()
        again = daemon.call("trade", BUY, nonce=nonce)
        took = time.monotonic() - began
        assert again.get("data") == {"id": f"BTC-USDT,{order['ordId']}"}, again
        assert took < 4.0, f"the repeat took {took:.1f} s"
        assert len(exchange.orders()) == 2
    finally:
        daemon.proc.kill()


# -- the legacy io direction across a restart --------------------------------------------


def test_set_direction_survives_a_restart(tmp_path: Path, exchange: Exchange) -> None:
    """
    SetDirection("closebuy"), a SIGTERM restart, then ``trade sell``, in long/short
    position mode: the sell closes the long (it opened a short beside it before: the
    direction lived in memory only).
    """
    journal = tmp_path / "fmzokx-journal.sqlite3"
    swap = {"symbol": "BTC_USDT.swap", "price": "-1", "amount": "2"}
    daemon = Daemon(tmp_path, exchange, journal)
    try:
        mode = daemon.post_through("/api/v5/account/set-position-mode",
                                   {"posMode": "long_short_mode"})
        assert mode.get("data"), mode
        assert daemon.call("io", {"code": "2", "args": '["swap"]', "symbol": "BTC_USDT"})["data"]
        assert daemon.call("io", {"code": "1", "args": '["buy"]'})["data"] is True
        assert "data" in daemon.call("trade", dict(swap, type="buy"))
        (long,) = daemon.call("positions", {"symbol": "BTC_USDT.swap"})["data"]
        assert (long["type"], long["amount"]) == ("long", 2), long
        assert daemon.call("io", {"code": "1", "args": '["closebuy"]'})["data"] is True
        daemon.proc.stop()  # SIGTERM
        daemon = Daemon(tmp_path, exchange, journal)
        closed = daemon.call("trade", dict(swap, type="sell"))
        assert "data" in closed, closed
        assert daemon.call("positions", {"symbol": "BTC_USDT.swap"})["data"] == []
    finally:
        daemon.proc.kill()


# -- one daemon per journal, whatever the path -------------------------------------------


@pytest.mark.parametrize("link", ["hard", "symbolic"])
def test_a_second_daemon_through_a_link_does_not_start(
    tmp_path: Path, exchange: Exchange, link: str
) -> None:
    first_dir, second_dir = tmp_path / "a", tmp_path / "b"
    first_dir.mkdir()
    second_dir.mkdir()
    journal = first_dir / "fmzokx-journal.sqlite3"
    first = Daemon(first_dir, exchange, journal)
    second: Daemon | None = None
    try:
        alias = second_dir / "journal.sqlite3"
        if link == "hard":
            os.link(journal, alias)
        else:
            alias.symlink_to(journal)
        second = Daemon(second_dir, exchange, alias, wait=False)
        code = second.proc.process.wait(timeout=60)
        second.proc.stop()
        assert code != 0
        refusal = (
            f"fmzokx: order journal {alias} is in use by another fmzokx (pid {first.proc.pid} "
            "holds it, by this or another path to the same file); stop it, or give this "
            "daemon its own --journal"
        )
        assert any(line.endswith(refusal) for line in second.proc.lines), second.proc.output()
        assert sorted(p.name for p in second_dir.iterdir()) == ["journal.sqlite3"]
        assert "data" in first.call("trade", BUY)
        assert len(exchange.orders()) == 1
    finally:
        first.proc.kill()
        if second is not None:
            second.proc.kill()


# -- start-up messages --------------------------------------------------------------------


def start_up_line(journal: Path, cwd: Path, *, wrap: list[str] | None = None) -> str:
    """Start a daemon on ``journal`` (offline) and return the one line it exits with."""
    done = subprocess.run(
        [*(wrap or []), *twistd_command(), "-n", "--pidfile=", "fmzokx",
         "--listen", f"tcp:{free_port()}:interface=127.0.0.1", "--status-listen", "none",
         "--okx-url", "http://127.0.0.1:9", "--journal", str(journal)],
        cwd=cwd, env=child_env(), capture_output=True, text=True, timeout=90, check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode != 0
    lines = [line for line in (done.stdout + done.stderr).splitlines()
             if f"fmzokx: order journal {journal}" in line]
    assert len(lines) == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    return lines[0][lines[0].index("fmzokx: order journal"):]


def test_a_missing_directory_is_named(tmp_path: Path) -> None:
    journal = tmp_path / "nowhere" / "j.sqlite3"
    assert start_up_line(journal, tmp_path) == (
        f"fmzokx: order journal {journal} cannot be created: its directory "
        f"{journal.parent} does not exist; create it, or choose another --journal"
    )


def test_a_corrupt_journal_is_named_corrupt(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite3"
    journal.write_bytes(b"not a database\n" * 300)
    line = start_up_line(journal, tmp_path)
    assert line.startswith(f"fmzokx: order journal {journal} is corrupt or not an SQLite")
    assert "move it aside" in line


def read_only(directory: Path) -> list[str]:
    """Run a command with ``directory`` bind-mounted read-only in its own mount namespace."""
    if os.geteuid() != 0:
        directory.chmod(0o555)
        return []
    if shutil.which("unshare") is None or subprocess.run(
        ["unshare", "-m", "true"], capture_output=True, check=False
    ).returncode != 0:
        pytest.skip("cannot make a read-only mount here")
    script = (
        f'mount --bind "{directory}" "{directory}" && '
        f'mount -o remount,bind,ro "{directory}" "{directory}" && exec "$@"'
    )
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh"]


@pytest.mark.parametrize("existing", [True, False], ids=["existing", "new"])
def test_a_read_only_journal_is_not_called_corrupt(tmp_path: Path, existing: bool) -> None:
    place = tmp_path / "ro"
    place.mkdir()
    journal = place / "j.sqlite3"
    if existing:
        from twisted.internet.task import Clock

        from fmzokx.journal import ImmediateExecutor, Journal

        Journal.open(str(journal), Clock(), ImmediateExecutor()).close()
    wrap = read_only(place)
    try:
        line = start_up_line(journal, tmp_path, wrap=wrap)
    finally:
        place.chmod(0o755)
    verb = "written" if existing else "created"
    assert line.startswith(f"fmzokx: order journal {journal} cannot be {verb}: "), line
    assert "read-only file system" in line or "permission denied" in line, line
    assert "corrupt" not in line and "move it aside" not in line
