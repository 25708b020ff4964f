"""
exact_url: the URL handed to treq is sent as exactly the text that was signed, parsed
once per distinct text, and anything that is not a plain ASCII URI is left to treq.
"""

from __future__ import annotations

from treq.client import HTTPClient
from treq.testing import RequestTraversalAgent
from twisted.web.resource import Resource
from twisted.web.server import Request

from fmzokx.okx.rest.exacturl import ExactURL, exact_url
from tests.helpers import drive

TARGET = "/api/v5/market/candles?instId=BTC-USDT&bar=1m&after=%2C&before=a%2Fb"
URL = "https://www.okx.com" + TARGET


def test_sent_as_the_text_it_was_built_from() -> None:
    url = exact_url(URL)
    assert isinstance(url, ExactURL)
    assert url.to_uri() is url
    assert url.to_uri().to_text() == URL
    assert (url.scheme, url.host, url.port) == ("https", "www.okx.com", 443)


def test_parsed_once_per_text() -> None:
    assert exact_url(URL) is exact_url(URL)
    assert exact_url(URL + "&x=1") is not exact_url(URL)


def test_not_plain_ascii_is_left_to_treq() -> None:
    for text in ("https://www.okx.com/api/v5/ü", "https://u:p@www.okx.com/api/v5/x",
                 "https://www.okx.com/api/v5/x\n"):
        assert exact_url(text) == text and not isinstance(exact_url(text), ExactURL)


class Echo(Resource):
    isLeaf = True

    def render_GET(self, request: Request) -> bytes:
        return request.uri


def test_treq_sends_exactly_the_signed_target() -> None:
    """Through treq and an Agent, the request line carries the target byte for byte."""
    agent = RequestTraversalAgent(Echo())
    client = HTTPClient(agent)

    async def go() -> bytes:
        response = await client.request("GET", exact_url(URL), allow_redirects=False)
        content: bytes = await response.content()
        return content

    assert drive(go(), stubs=(agent,)) == TARGET.encode()
