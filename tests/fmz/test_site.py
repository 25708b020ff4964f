"""The RPC site caps request bodies while they stream in and keeps no access log."""

from __future__ import annotations

from twisted.web.test.requesthelper import DummyChannel

from fmzokx.fmz.site import rpc_site


def make_request(max_body: int) -> object:
    site = rpc_site(resource=None, max_body=max_body)  # type: ignore[arg-type]
    channel = DummyChannel()
    channel.site = site
    return site.requestFactory(channel)


def test_declared_length_over_cap_buffers_nothing() -> None:
    """A Content-Length over the cap marks the request and buffers no byte of the body."""
    request = make_request(100)
    request.gotLength(10_000)  # type: ignore[attr-defined]
    request.handleContentChunk(b"x" * 10_000)  # type: ignore[attr-defined]
    assert request.body_too_large  # type: ignore[attr-defined]
    assert request.content.getvalue() == b""  # type: ignore[attr-defined]


def test_chunked_body_over_cap_is_discarded() -> None:
    """Without a Content-Length, bytes past the cap are dropped as they arrive."""
    request = make_request(100)
    request.gotLength(None)  # type: ignore[attr-defined]
    for _ in range(5):
        request.handleContentChunk(b"y" * 30)  # type: ignore[attr-defined]
    assert request.body_too_large  # type: ignore[attr-defined]
    request.content.seek(0, 2)  # type: ignore[attr-defined]
    assert request.content.tell() == 0  # type: ignore[attr-defined]


def test_body_within_cap_is_kept() -> None:
    """A body within the cap is buffered as usual."""
    request = make_request(100)
    request.gotLength(None)  # type: ignore[attr-defined]
    request.handleContentChunk(b"z" * 60)  # type: ignore[attr-defined]
    assert not request.body_too_large  # type: ignore[attr-defined]
    request.content.seek(0)  # type: ignore[attr-defined]
    assert request.content.read() == b"z" * 60  # type: ignore[attr-defined]


def test_no_access_log() -> None:
    """The site's access log is a no-op (the request line may carry a path token)."""
    site = rpc_site(resource=None)  # type: ignore[arg-type]
    assert site.log(object()) is None  # type: ignore[arg-type]
