"""
``fmzokx-call``: the docker's envelope goes out, the reply comes back pretty-printed, and
the exit status says what happened -- against an in-memory server (``StubTreq``), a real
loopback daemon resource, and as a real subprocess.
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from treq.client import HTTPClient
from treq.testing import StubTreq
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.task import Clock
from twisted.internet.utils import getProcessOutputAndValue
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.iweb import IRequest
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from fmzokx.call import ENV_KEY, ENV_SECRET, envelope, parse_args, run, shown_url
from fmzokx.fmz.envelope import RpcRequest
from fmzokx.fmz.registry import MethodRegistry, Param, RpcResult
from fmzokx.fmz.resource import RpcServer
from fmzokx.fmz.site import rpc_site
from tests.helpers import drive

KEY = "call-test-access-key"
SECRET = "call-test-secret-value"
PASSPHRASE = "call-test-passphrase"
URL = "http://127.0.0.1:6666/OKX"
ROOT = Path(__file__).resolve().parents[2]


class Recorder(Resource):
    """A fake fmzokx: records each POST and answers with a fixed status and body."""

    isLeaf = True

    def __init__(self, body: bytes, status: int = 200, hang: bool = False) -> None:
        super().__init__()
        self.body = body
        self.status = status
        self.hang = hang
        self.seen: list[tuple[bytes, dict[str, list[str]], Any]] = []

    def render_POST(self, request: IRequest) -> bytes | int:
        assert request.content is not None
        headers = {
            name.decode().lower(): [value.decode() for value in values]
            for name, values in request.requestHeaders.getAllRawHeaders()
        }
        self.seen.append((request.path, headers, json.loads(request.content.read())))
        if self.hang:
            return NOT_DONE_YET
        request.setResponseCode(self.status)
        return self.body


def call(
    argv: list[str],
    resource: Resource,
    environ: dict[str, str] | None = None,
) -> tuple[int, str, str]:
    """Run the tool against ``resource`` in memory; return (status, stdout, stderr)."""
    clock = Clock()
    stub = StubTreq(resource)
    out, err = io.StringIO(), io.StringIO()
    code = drive(
        run(
            argv,
            http=stub,
            clock=clock,
            stdout=out,
            stderr=err,
            environ=environ or {},
            nonce=1730275031047002000,
        ),
        clock=clock,
        stubs=(stub,),
    )
    return code, out.getvalue(), err.getvalue()


def test_data_reply_prints_json_and_exits_0() -> None:
    """A data reply is pretty-printed (indent 2, non-ASCII kept) and the status is 0."""
    reply = {"data": {"symbol": "BTC_USDT", "note": "价格"}, "raw": {"code": "0"}}
    server = Recorder(json.dumps(reply).encode())
    code, out, err = call(["--url", URL, "ticker", "symbol=BTC_USDT", "limit=5"], server)
    assert code == 0
    assert err == ""
    assert json.loads(out) == reply
    assert '\n  "data": {' in out and "价格" in out
    ((path, headers, body),) = server.seen
    assert path == b"/OKX"
    assert headers["content-type"] == ["application/json"]
    assert "http-method" not in headers
    assert body == {
        "access_key": "",
        "secret_key": "",
        "method": "ticker",
        "params": {"symbol": "BTC_USDT", "limit": "5"},
        "nonce": 1730275031047002000,
    }


class ClosedPipe(io.StringIO):
    """Standard output whose reader went away (``fmzokx-call ... | head -1``)."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_closed_stdout_is_quiet_exit_141() -> None:
    """A reader that stops early is no error worth a traceback: exit 141, nothing said."""
    server = Recorder(json.dumps({"data": {"symbol": "BTC_USDT"}, "raw": {}}).encode())
    clock = Clock()
    stub = StubTreq(server)
    err = io.StringIO()
    code = drive(
        run(["--url", URL, "ticker"], http=stub, clock=clock, stdout=ClosedPipe(),
            stderr=err, environ={}, nonce=1),
        clock=clock,
        stubs=(stub,),
    )
    assert code == 141
    assert err.getvalue() == ""


def test_error_reply_exits_1_with_message_on_stderr() -> None:
    """An error reply is printed, its message goes to stderr, and the status is 1."""
    server = Recorder(json.dumps({"error": "unsupported method: nosuch"}).encode())
    code, out, err = call(["nosuch"], server)
    assert code == 1
    assert json.loads(out) == {"error": "unsupported method: nosuch"}
    assert err == "fmzokx-call: unsupported method: nosuch\n"


def test_http_error_status_is_shown() -> None:
    """A 403 from the access policy exits 1 and names the HTTP status."""
    server = Recorder(json.dumps({"error": "access denied: token"}).encode(), status=403)
    code, _, err = call(["ticker"], server)
    assert code == 1
    assert err == "fmzokx-call: HTTP 403: access denied: token\n"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"<html>Not Found</html>", 404, "not JSON"),
        (b'{"data": 1', 200, "not JSON"),
        (b"\xff\xfe", 200, "not JSON"),
        (b"[1, 2]", 200, "neither 'data' nor 'error'"),
        (b'{"result": 1}', 200, "neither 'data' nor 'error'"),
        (b'{"data": 1}', 500, "neither 'data' nor 'error'"),
    ],
)
def test_unusable_reply_exits_3(body: bytes, status: int, message: str) -> None:
    """A reply that is not the daemon's JSON envelope exits 3 with a reason."""
    code, _, err = call(["ticker"], Recorder(body, status=status))
    assert code == 3
    assert message in err


def test_keys_come_from_the_environment_and_are_never_printed() -> None:
    """Without --key/--secret the env vars are sent; no output shows them, even --verbose."""
    server = Recorder(b'{"data": []}')
    environ = {ENV_KEY: KEY, ENV_SECRET: f"{SECRET},{PASSPHRASE},simulate"}
    code, out, err = call(["--verbose", "accounts"], server, environ)
    assert code == 0
    body = server.seen[0][2]
    assert body["access_key"] == KEY
    assert body["secret_key"] == f"{SECRET},{PASSPHRASE},simulate"
    assert "<redacted>" in err and "POST http://127.0.0.1:6666/OKX" in err
    for secret in (KEY, SECRET, PASSPHRASE):
        assert secret not in out and secret not in err


def test_options_override_the_environment_and_warn_about_history() -> None:
    """--key/--secret win over the env vars; --secret on the command line earns a note."""
    server = Recorder(b'{"data": []}')
    environ = {ENV_KEY: "env-key", ENV_SECRET: "env-secret,env-pass"}
    code, _, err = call(
        ["--key", KEY, "--secret", f"{SECRET},{PASSPHRASE}", "accounts"], server, environ
    )
    assert code == 0
    assert server.seen[0][2]["access_key"] == KEY
    assert server.seen[0][2]["secret_key"] == f"{SECRET},{PASSPHRASE}"
    assert "shell history" in err and SECRET not in err


def test_http_method_header_and_json_values() -> None:
    """--http-method sets the Http-Method header; name:=JSON sends a JSON value."""
    server = Recorder(b'{"data": {}}')
    code, _, _ = call(
        [
            "--http-method",
            "post",
            "__api_/api/v5/trade/batch-orders",
            "instId=BTC-USDT",
            "sz:=2",
            "tags:=[1, 2]",
            "expr=a=b",
        ],
        server,
    )
    assert code == 0
    _, headers, body = server.seen[0]
    assert headers["http-method"] == ["POST"]
    assert body["method"] == "__api_/api/v5/trade/batch-orders"
    assert body["params"] == {"instId": "BTC-USDT", "sz": 2, "tags": [1, 2], "expr": "a=b"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ticker", "symbol"], "must be written key=value"),
        (["ticker", "=BTC_USDT"], "must be written key=value"),
        (["ticker", "a=1", "a=2"], "given twice"),
        (["ticker", "a:={"], "not JSON"),
        (["--url", "ftp://host/OKX", "ticker"], "--url must be an http"),
        (["--url", "127.0.0.1:6666/OKX", "ticker"], "--url must be an http"),
        (["--timeout", "0", "ticker"], "--timeout must be a positive"),
        (["--http-method", "GET /x", "ticker"], "--http-method must be a verb"),
        ([" ", "a=1"], "METHOD must not be empty"),
    ],
)
def test_usage_errors_exit_2(argv: list[str], message: str) -> None:
    """Malformed command lines exit 2 with a message and send nothing."""
    server = Recorder(b'{"data": 1}')
    code, out, err = call(argv, server)
    assert code == 2
    assert message in err
    assert out == "" and server.seen == []


def test_argparse_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """A missing METHOD or an unknown option is argparse's usage error: status 2."""
    server = Recorder(b'{"data": 1}')
    assert call([], server)[0] == 2
    assert call(["--bogus", "ticker"], server)[0] == 2
    assert "usage: fmzokx-call" in capsys.readouterr().err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    """--help prints usage mentioning the env vars and exits 0."""
    assert call(["--help"], Recorder(b""))[0] == 0
    assert ENV_SECRET in capsys.readouterr().out


def test_version_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    """--version prints fmzokx's version, as python -m fmzokx --version does."""
    from fmzokx import __version__

    server = Recorder(b"")
    assert call(["--version"], server)[0] == 0
    assert capsys.readouterr().out == f"fmzokx {__version__}\n"
    assert server.seen == []


def test_timeout_exits_3() -> None:
    """A daemon that never answers is abandoned after --timeout with status 3."""
    server = Recorder(b"", hang=True)
    code, out, err = call(["--timeout", "2", "ticker"], server)
    assert code == 3
    assert out == ""
    assert "no reply from http://127.0.0.1:6666/OKX within 2 s" in err


def test_shown_url_masks_tokens() -> None:
    """Anything shaped like a path token (16+ token characters) is masked for display."""
    token = "9f8e7d6c5b4a3210ffff"
    assert shown_url(f"http://u:p@host:6666/OKX-{token}?q=1") == "http://host:6666/OKX-<token>"
    assert shown_url(f"http://host/{token}") == "http://host/<token>"
    assert shown_url("http://127.0.0.1:6666/OKX") == "http://127.0.0.1:6666/OKX"


def test_envelope_shape() -> None:
    """The envelope holds exactly the docker's five fields."""
    args = parse_args(["ticker", "symbol=ETH_USDT"], {ENV_KEY: KEY, ENV_SECRET: "s,p"})
    assert envelope(args, 7) == {
        "access_key": KEY,
        "secret_key": "s,p",
        "method": "ticker",
        "params": {"symbol": "ETH_USDT"},
        "nonce": 7,
    }
    assert KEY not in repr(args) and "s,p" not in repr(args)


# -- a real daemon resource on a real loopback port -----------------------------------


def daemon_resource() -> Resource:
    """The real RpcServer with two methods, so the envelope passes the real parser."""
    registry: MethodRegistry[Any] = MethodRegistry()

    @registry.method("echo", summary="Echo the params", params=[Param("x", "anything")])
    async def echo(context: Any, request: RpcRequest) -> RpcResult:
        return RpcResult(data=dict(request.params.values), raw={"nonce": request.nonce})

    @registry.method("whoami", summary="Needs keys", private=True)
    async def whoami(context: Any, request: RpcRequest) -> RpcResult:
        credentials = request.require_credentials()
        return RpcResult(data={"simulated": credentials.simulated})

    server = RpcServer(registry=registry, context=None, clock=reactor)  # type: ignore[arg-type]
    resource: Resource = server.resource()  # type: ignore[assignment]
    return resource


async def listen() -> tuple[Any, str]:
    """Serve the daemon resource on a loopback port; return (port, base URL)."""
    endpoint = TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
    port = await endpoint.listen(rpc_site(daemon_resource()))  # type: ignore[arg-type]
    return port, f"http://127.0.0.1:{port.getHost().port}"


async def settle() -> None:
    """Let closed connections' cleanup run before the next test."""
    waiter: Deferred[None] = Deferred()
    reactor.callLater(0, waiter.callback, None)  # type: ignore[attr-defined]
    await waiter


async def call_real(argv: list[str], environ: dict[str, str]) -> tuple[int, str, str]:
    """Run the tool with a real treq client on the running reactor."""
    pool = HTTPConnectionPool(reactor, persistent=False)
    out, err = io.StringIO(), io.StringIO()
    code = await run(
        argv,
        http=HTTPClient(Agent(reactor, pool=pool)),  # type: ignore[arg-type]
        clock=reactor,  # type: ignore[arg-type]
        stdout=out,
        stderr=err,
        environ=environ,
    )
    await pool.closeCachedConnections()
    return code, out.getvalue(), err.getvalue()


@pytest_twisted.ensureDeferred
async def test_against_the_real_resource_on_loopback() -> None:
    """Over real TCP, the real envelope parser accepts the call; keys from env authenticate."""
    port, base = await listen()
    try:
        code, out, err = await call_real(["--url", f"{base}/OKX", "echo", "x=1"], {})
        assert (code, err) == (0, "")
        reply = json.loads(out)
        assert reply["data"] == {"x": "1"}
        assert isinstance(reply["raw"]["nonce"], int) and reply["raw"]["nonce"] > 10**18

        environ = {ENV_KEY: KEY, ENV_SECRET: f"{SECRET},{PASSPHRASE},simulate"}
        code, out, _ = await call_real(["--url", f"{base}/OKX", "whoami"], environ)
        assert (code, json.loads(out)) == (0, {"data": {"simulated": True}, "raw": None})

        code, out, err = await call_real(["--url", f"{base}/OKX", "whoami"], {})
        assert code == 1 and "needs an OKX API key" in err

        environ = {ENV_KEY: KEY, ENV_SECRET: SECRET}
        code, out, err = await call_real(["--url", f"{base}/OKX", "whoami"], environ)
        assert code == 1 and "SECRET,PASSPHRASE" in err
        assert SECRET not in out + err
    finally:
        await port.stopListening()
        await settle()


@pytest_twisted.ensureDeferred
async def test_connection_refused_exits_3() -> None:
    """A port nobody listens on gives status 3 and a hint that fmzokx is not running."""
    port, base = await listen()
    await port.stopListening()
    code, out, err = await call_real(["--url", f"{base}/OKX", "ticker"], {})
    assert code == 3
    assert out == ""
    assert "connection refused (is fmzokx running" in err
    await settle()


@pytest_twisted.ensureDeferred
async def test_console_script_main_in_a_subprocess() -> None:
    """main() under task.react: real exit statuses for data, usage and refused connections."""
    port, base = await listen()
    script = "import sys; from fmzokx.call import main; sys.exit(main(sys.argv[1:]))"
    environ = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        ENV_KEY: KEY,
        ENV_SECRET: f"{SECRET},{PASSPHRASE}",
    }

    async def invoke(*argv: str) -> tuple[bytes, bytes, int]:
        result: tuple[bytes, bytes, int] = await getProcessOutputAndValue(
            sys.executable, ["-c", script, *argv], env=environ, path=str(ROOT)
        )
        return result

    try:
        out, err, code = await invoke("--url", f"{base}/OKX", "echo", "x=é")
        assert code == 0, err
        assert json.loads(out)["data"] == {"x": "é"}
        out, err, code = await invoke("echo", "oops")
        assert code == 2 and b"key=value" in err
    finally:
        await port.stopListening()
    out, err, code = await invoke("--url", f"{base}/OKX", "echo")
    assert code == 3 and b"connection refused" in err
    assert SECRET.encode() not in out + err
    await settle()
