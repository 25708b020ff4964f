"""
A daemonised ``twistd fmzokx`` (no ``--nodaemon``) whose ports were bound and journal
locked by ``makeService`` before twistd forked: the forked daemon serves on those ports,
holds the journal's lock under its own pid, journals a trade, and on SIGTERM removes its
pidfile and releases the lock.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.procs import child_env, free_port, twistd_command
from fmzokx.journal.lock import JournalLock
from fmzokx.sim import DEFAULT_ACCOUNT

ROOT = Path(__file__).resolve().parents[2]


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return reply.status, reply.read()


def test_a_daemonised_start_serves_and_stops(tmp_path: Path) -> None:
    port, status_port = free_port(), free_port()
    pidfile, journal = tmp_path / "twistd.pid", tmp_path / "journal.sqlite3"
    started = subprocess.run(
        [*twistd_command(), "--pidfile", str(pidfile), "--logfile", str(tmp_path / "twistd.log"),
         "fmzokx", "--sandbox", "--listen", f"tcp:{port}:interface=127.0.0.1",
         "--status-listen", f"tcp:{status_port}:interface=127.0.0.1",
         "--journal", str(journal)],
        cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=60, check=False,
        stdin=subprocess.DEVNULL,
    )
    assert (started.returncode, started.stdout, started.stderr) == (0, "", "")
    pid = int(pidfile.read_text())
    try:
        assert (tmp_path / "journal.sqlite3.lock").read_text() == f"{pid}\n"
        deadline = time.monotonic() + 60
        while True:
            try:
                status, body = get(f"http://127.0.0.1:{port}/healthz")
                if json.loads(body)["status"] == "ok":
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "twistd.log").read_text()
            time.sleep(0.2)
        assert get(f"http://127.0.0.1:{status_port}/status")[0] == 200
        body = json.dumps({
            "access_key": DEFAULT_ACCOUNT.key,
            "secret_key": f"{DEFAULT_ACCOUNT.secret},{DEFAULT_ACCOUNT.passphrase}",
            "method": "trade", "nonce": time.time_ns(),
            "params": {"symbol": "BTC_USDT", "type": "buy", "price": "-1", "amount": "20"},
        }).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/OKX", data=body)
        with urllib.request.urlopen(request, timeout=30) as reply:
            assert json.load(reply)["data"]["id"].startswith("BTC-USDT,")
    finally:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while pidfile.exists():
        assert time.monotonic() < deadline, "the daemon did not stop in 30 s"
        time.sleep(0.1)
    log = (tmp_path / "twistd.log").read_text()
    assert "shut down cleanly" in log
    JournalLock.acquire(str(journal)).release()
    journal_listing = subprocess.run(
        [sys.executable, "-m", "fmzokx", "journal", "--journal", str(journal)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert "BTC-USDT" in journal_listing.stdout, journal_listing.stdout + journal_listing.stderr
