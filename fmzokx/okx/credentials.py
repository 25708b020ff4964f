# -*- test-case-name: tests.test_credentials -*-
"""
OKX API credentials as a value type that cannot leak.

:class:`Credentials` holds a key, its secret and passphrase with a ``repr`` that shows only
a short, non-reversible key fingerprint, so a credentials object can be put in a log event
or an exception without exposing anything an attacker could use. (How the FMZ docker
spells them is the FMZ side's business: :mod:`fmzokx.fmz.credentials`.)
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from attrs import field, frozen

__all__ = ["Credentials", "fingerprint"]


@lru_cache(maxsize=4096)  # a hash per key, asked several times per docker call
def fingerprint(key: str) -> str:
    """
    A short stable tag for an API key: enough to tell keys apart in logs, useless to an attacker.
    """
    if not key:
        return "anonymous"
    return "key-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]


@frozen(repr=False)
class Credentials:
    """
    An OKX API key, its secret and passphrase, and whether it is a demo-trading key.

    ``simulated`` selects OKX demo trading (header ``x-simulated-trading: 1``).
    """

    key: str
    secret: str = field(repr=False)
    passphrase: str = field(repr=False)
    simulated: bool = False

    @property
    def fingerprint(self) -> str:
        """A log-safe tag for this key."""
        return fingerprint(self.key)

    def __repr__(self) -> str:
        mode = "demo" if self.simulated else "live"
        return f"<Credentials {self.fingerprint} {mode}>"

    __str__ = __repr__
