"""
The benchmark harness runs end to end in its ``--smoke`` mode and prints its table.

No timing is asserted: the machines are shared and noisy, and the figures belong in
docs/performance.rst, not in a pass/fail test. This only proves the harness works: it
starts okxsim and the daemon as real ``twistd`` processes on 127.0.0.1 (plain and TLS),
drives every phase with the asyncio generator (never wrk), and stops its children.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUN = REPO / "bench" / "run.py"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for memory")
def test_smoke_run_prints_the_table() -> None:
    """``python bench/run.py --smoke`` exits 0 and prints every row of the table."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH")
                                     else "")
    completed = subprocess.run(
        [sys.executable, str(RUN), "--smoke", "--max-seconds", "100"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert "asyncio (bench/load.py) for every figure" in completed.stdout
    for row in (
        "overhead ticker p50",
        "overhead trade p99",
        "daemon / floor ticker overhead p50",
        "floor accounts, same run",
        "daemon / floor accounts p99",
        "throughput accounts",
        "concurrency accounts p50 / p99",
        "TLS okxsim direct p50, new handshake per call",
        "pagination upstream pages",
        "memory growth",
        "adversarial memory (",
        "RSS start / middle / end",
        "io call p50, same key / a new key each call",
        "stream ticker p50 / p99",
        "depth REST calls during the load (ws, subscribed)",
        "start-up to first served request",
    ):
        assert row in completed.stdout, output
    assert "Figure" in completed.stdout and "Median" in completed.stdout


def test_children_are_stopped_on_exit(tmp_path: Path) -> None:
    """A child started inside ``procs.running`` has exited once the block is left."""
    from bench import procs

    with procs.running(tmp_path) as processes:
        port = procs.free_port()
        child = processes.start(
            "okxsim-leak-check", "okxsim",
            ["--listen", f"tcp:{port}:interface=127.0.0.1", "--rate-limits", "off"], port,
        )
    assert child.process.poll() is not None
