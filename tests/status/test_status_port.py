"""
The status listener answers /status, /healthz and /metrics of the RPC resource, under
its access policy, and nothing else: not a second way in for the docker's calls.
"""

from __future__ import annotations

import json
from typing import Any

from treq.testing import StubTreq
from twisted.internet.task import Clock

from fmzokx.fmz.access import AccessPolicy
from fmzokx.fmz.registry import MethodRegistry
from fmzokx.fmz.resource import RpcServer
from fmzokx.status.site import status_only
from tests.helpers import drive


def server(access: AccessPolicy | None = None) -> RpcServer:
    return RpcServer(
        registry=MethodRegistry(),
        context=None,
        clock=Clock(),
        health=lambda: {"status": "ok"},
        status=lambda: ("<h1>fmzokx status</h1>", "default-src 'none'"),
        access=access or AccessPolicy(),
    )


def get(stub: StubTreq, method: str, url: str, body: bytes | None = None) -> tuple[int, Any]:
    response = drive(stub.request(method, url, data=body), stubs=[stub])
    return response.code, drive(response.content(), stubs=[stub])


def test_the_status_paths_answer() -> None:
    stub = StubTreq(status_only(server().resource()))
    code, body = get(stub, "GET", "http://127.0.0.1:6680/status")
    assert code == 200 and b"<h1>fmzokx status</h1>" in body
    code, body = get(stub, "GET", "http://127.0.0.1:6680/healthz")
    assert code == 200 and json.loads(body)["status"] == "ok"
    code, _ = get(stub, "GET", "http://127.0.0.1:6680/metrics")
    assert code == 404  # this server has no metrics; the route answers, as on 6666


def test_the_docker_cannot_call_through_it() -> None:
    stub = StubTreq(status_only(server().resource()))
    envelope = json.dumps({"access_key": "k", "secret_key": "s,p", "method": "ticker",
                           "params": {}, "nonce": 1}).encode()
    for path in ("/OKX", "/", "/OKX/", "/status/x"):
        code, body = get(stub, "POST", f"http://127.0.0.1:6680{path}", envelope)
        assert code == 404, path
        assert json.loads(body) == {"error": "this port serves only /healthz, /metrics, /status"}


def test_it_keeps_the_access_policy() -> None:
    from fmzokx.fmz.access import parse_allow

    policy = AccessPolicy.from_options(list(parse_allow("10.9.9.9")), None)
    stub = StubTreq(status_only(server(policy).resource()))
    code, _ = get(stub, "GET", "http://127.0.0.1:6680/status")
    assert code == 403


def test_browsers_refuse_the_dockers_port_and_open_the_status_port() -> None:
    """The Fetch standard's bad ports hold 6666 and its IRC neighbours, not 6680."""
    from fmzokx.options import DEFAULT_LISTEN, DEFAULT_STATUS_LISTEN
    from fmzokx.status.site import BROWSER_REFUSED_PORTS

    assert {6665, 6666, 6667, 6668, 6669, 6679, 6697} <= BROWSER_REFUSED_PORTS
    assert int(DEFAULT_LISTEN.split(":")[1]) in BROWSER_REFUSED_PORTS
    assert int(DEFAULT_STATUS_LISTEN.split(":")[1]) not in BROWSER_REFUSED_PORTS
