"""
The private Twisted and txredisapi APIs fmzokx relies on, each pinned by a test that fails
first if the library changes it; each has a comment at its use saying why.

Twisted: ``HTTPConnectionPool._factory`` (quiet client connections), ``LogPublisher
._observers`` (redaction runs first), ``tcp.Port.numberAccepts`` (accepts per turn).
txredisapi (:mod:`fmzokx.okx.pacing.shared.connection` builds its protocol by hand, to
own the connection's life and deadlines): the constructor's keywords, reply timeouts
scheduled through the protocol's ``callLater`` attribute, the exact set of calls the
protocol makes on its factory, the ``connected`` flag, ``whenConnected`` and
``ScriptDoesNotExist``.
"""

from __future__ import annotations

import inspect
import re

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


def _redis_protocol_source() -> str:
    import txredisapi

    return inspect.getsource(txredisapi.RedisProtocol)


def test_redis_protocol_takes_the_keywords_we_build_it_with() -> None:
    import txredisapi

    parameters = inspect.signature(txredisapi.RedisProtocol.__init__).parameters
    for name in ("charset", "password", "username", "dbid", "convertNumbers", "replyTimeout"):
        assert name in parameters, name


def test_redis_protocol_schedules_reply_timeouts_on_its_calllater_attribute() -> None:
    """We set ``protocol.callLater`` to the injected reactor's; txredisapi must use it."""
    assert "self.callLater(self.replyTimeout" in _redis_protocol_source()


def test_redis_protocol_asks_its_factory_for_exactly_what_ours_answers() -> None:
    from fmzokx.okx.pacing.shared.connection import _Factory

    # connectionQueue is used only inside MULTI transactions, which we never open.
    asked = set(re.findall(r"self\.factory\.(\w+)", _redis_protocol_source()))
    assert asked == {"connectionError", "connectionQueue", "isLazy", "stopTrying"}
    factory = _Factory.__dict__
    assert "stopTrying" in factory and "connectionError" in factory


def test_redis_protocol_keeps_its_connected_flag_and_helpers() -> None:
    import txredisapi

    source = _redis_protocol_source()
    assert "self.connected = 1" in source and "self.connected = 0" in source
    assert callable(txredisapi.RedisProtocol.whenConnected)
    assert issubclass(txredisapi.ScriptDoesNotExist, Exception)
