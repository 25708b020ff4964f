# -*- test-case-name: tests.okx.test_exacturl -*-
"""
The URL of an OKX call, handed to treq already parsed and already a URI.

treq turns a URL string into a hyperlink ``EncodedURL``, then runs ``to_uri()`` (idna
over the host, percent-encoding every path segment and query part) and ``to_text()`` on
every request: about a tenth of the daemon's CPU per call in the profile (issue 17). An
OKX call's URL is already an ASCII URI -- the base URL is checked at start-up and the
target is the exact percent-encoded text that was signed -- so that work cannot change
it. :func:`exact_url` parses it once (the same URL text recurs: one per endpoint and
query) and answers ``to_uri()`` with itself and ``to_text()`` with the text it came from.
"""

from __future__ import annotations

from hyperlink import EncodedURL

from fmzokx.lru import LruDict

__all__ = ["ExactURL", "exact_url"]

EXACT_URLS = 512
"""How many distinct URL texts are kept parsed (least recently used out first)."""


class ExactURL(EncodedURL):
    """An ASCII URI that is sent as the text it was parsed from."""

    _exact_text: str

    def to_uri(self) -> ExactURL:
        return self

    def to_text(self, with_password: bool = False) -> str:
        return self._exact_text


_parsed: LruDict[str, EncodedURL | str] = LruDict(EXACT_URLS)


def exact_url(text: str) -> EncodedURL | str:
    """``text`` as an :class:`ExactURL`, or unchanged when it is not a plain ASCII URI."""
    found = _parsed.get(text)
    if found is None:
        # No user info (to_text would hide a password), nothing that is not plain ASCII.
        if text.isascii() and text.isprintable() and "@" not in text:
            url = ExactURL.from_text(text)
            assert isinstance(url, ExactURL)
            url._exact_text = text
            found = url
        else:
            found = text
        _parsed[text] = found
    return found
