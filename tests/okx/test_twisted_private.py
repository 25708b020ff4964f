"""
The private Twisted APIs fmzokx relies on, each pinned by a test that fails first if
Twisted changes it. There are three; each has a comment at its use saying why.
"""

from __future__ import annotations

import inspect

from twisted.internet import tcp
from twisted.internet.task import Clock
from twisted.logger import LogPublisher
from twisted.web.client import HTTPConnectionPool, _HTTP11ClientFactory

from fmzokx.logs import install_redaction
from fmzokx.okx.rest.transport import build_agent


def test_pool_factory_hook_still_exists() -> None:
    """HTTPConnectionPool still builds connections through its _factory attribute."""
    pool = HTTPConnectionPool(Clock())
    assert pool._factory is _HTTP11ClientFactory
    _, ours = build_agent(Clock())
    assert issubclass(ours._factory, _HTTP11ClientFactory)
    assert ours._factory.noisy is False


def test_log_publisher_keeps_a_list_of_observers() -> None:
    """LogPublisher still delivers in the order of its _observers list (redaction goes first)."""
    seen: list[str] = []
    publisher = LogPublisher(lambda event: seen.append("early"))
    assert isinstance(publisher._observers, list)
    install_redaction(publisher)
    assert publisher._observers[0] is not None and len(publisher._observers) == 2
    assert publisher._observers[1] is not publisher._observers[0]
    publisher({"log_format": "x", "log_namespace": "t"})
    assert seen == ["early"]


def test_the_tcp_port_accepts_numberaccepts_connections_per_read() -> None:
    """
    tcp.Port.doRead still accepts up to its numberAccepts attribute per call, set when it
    starts listening (fmzokx.fmz.connections.bound_accepts bounds it before each call).
    """
    assert "numAccepts = self.numberAccepts" in inspect.getsource(tcp.Port.doRead)
    assert "self.numberAccepts = 100" in inspect.getsource(tcp.Port.startListening)
