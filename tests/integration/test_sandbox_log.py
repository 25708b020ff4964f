"""
What a sandbox daemon writes to its log, with a real ``twistd`` process: the banner once,
with a service address that works (the token's place marked when ``--token-file`` is
given) and the status page's address; no debug line at the default level (the embedded
okxsim's included); and a SIGTERM that ends with "shut down cleanly" and no warning from
the WebSocket library (the market-data stream and the key's private stream close with the
closing handshake).
"""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from pathlib import Path
from typing import Any

from fmzokx.sim import DEFAULT_ACCOUNT
from tests.integration.processes import Daemon, wait_for

TOKEN = "sandbox-token-0123456789"


def call(url: str, method: str, **params: str) -> Any:
    body = json.dumps({
        "access_key": DEFAULT_ACCOUNT.key,
        "secret_key": f"{DEFAULT_ACCOUNT.secret},{DEFAULT_ACCOUNT.passphrase}",
        "method": method, "params": params, "nonce": time.time_ns(),
    }).encode()
    request = urllib.request.Request(url, data=body, method="POST")
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.load(reply)


def test_a_sandbox_log_from_start_to_sigterm(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    # (the service address ends in the token: the rig's ticker at /OKX cannot tell it is up)
    daemon = Daemon(tmp_path, None, "--token-file", str(token_file),
                    "--journal", str(tmp_path / "j.sqlite3"),
                    rate_limits=True, status_page=True, wait=False)
    port, status_port, log = daemon.port, daemon.status_port, daemon.proc
    try:
        wait_for(lambda: "Service address:" in log.output(None), "the banner", log,
                 timeout=60)
        text = log.output(None)
        (line,) = [x for x in text.splitlines() if "Service address:" in x]
        address = line.split("Service address:", 1)[1].strip()
        assert address == (
            f"http://127.0.0.1:{port}/OKX-<token>, <token> being the text in {token_file}"
        )
        assert f"Status page:       http://127.0.0.1:{status_port}/status" in text
        assert TOKEN not in text
        url = address.split(",", 1)[0].replace("<token>", TOKEN)
        for _ in range(100):  # the ticker comes from the stream once it is subscribed
            ticker = call(url, "ticker", symbol="BTC_USDT")
            if "OKX WebSocket" in log.output(None) and "open" in log.output(None):
                break
            time.sleep(0.1)
        assert ticker["data"]["symbol"] == "BTC_USDT"
        call(url, "records", symbol="BTC_USDT", period="60", limit="5")
        # A balance read opens the key's private WebSocket too: open at the SIGTERM below.
        assert call(url, "accounts")["data"]
        wait_for(lambda: "/ws/v5/private open" in log.output(None), "the private stream",
                 log, timeout=30)
        time.sleep(1)
    finally:
        daemon.stop()
    text = log.output(None)
    assert log.returncode == -signal.SIGTERM, text  # twistd re-raises the signal
    assert text.count("fmzokx sandbox: trading against") == 1
    assert "OKX WebSocket ws://127.0.0.1:" in text  # the stream did run
    assert "/ws/v5/private closed: stopping" in text  # and the private one, to the end
    assert "shut down cleanly" in text
    assert "#debug]" not in text
    warnings = [x for x in text.splitlines() if "#warn]" in x or "#error]" in x]
    assert warnings == [], "\n".join(warnings)
