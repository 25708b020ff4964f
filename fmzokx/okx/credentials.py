# -*- test-case-name: tests.test_credentials -*-
"""
OKX API credentials as a value type that cannot leak.

The FMZ docker sends the key in ``access_key`` and ``SECRET,PASSPHRASE[,simulate]`` in
``secret_key`` on every request. :class:`Credentials` holds them with a ``repr`` that
shows only a short, non-reversible key fingerprint, so a credentials object can be put in a
log event or an exception without exposing anything an attacker could use.
"""

from __future__ import annotations

import hashlib

from attrs import field, frozen

__all__ = ["Credentials", "CredentialsError", "SIMULATE_FLAG"]

SIMULATE_FLAG = "simulate"


class CredentialsError(ValueError):
    """
    The ``secret_key`` field is not ``SECRET,PASSPHRASE[,simulate]``.

    The message never repeats any part of the input.
    """


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

    @classmethod
    def from_fmz(cls, access_key: str, secret_key: str) -> Credentials | None:
        """
        Parse the docker's ``access_key`` and ``secret_key`` fields.

        Both empty means "no credentials" (public market data only) and gives ``None``.

        :raises CredentialsError: when the secret field is malformed.
        """
        access_key = access_key.strip()
        secret_key = secret_key.strip()
        if not access_key and not secret_key:
            return None
        if not access_key:
            raise CredentialsError(
                "access_key is empty: put the OKX API key in the exchange's Access Key field"
            )
        parts = [part.strip() for part in secret_key.split(",")]
        if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
            raise CredentialsError(
                "secret_key must be SECRET,PASSPHRASE or SECRET,PASSPHRASE,simulate "
                f"(got {len(parts)} comma-separated part(s))"
            )
        simulated = False
        if len(parts) == 3:
            if parts[2].lower() != SIMULATE_FLAG:
                raise CredentialsError(
                    "the third part of secret_key may only be 'simulate' (OKX demo trading)"
                )
            simulated = True
        return cls(key=access_key, secret=parts[0], passphrase=parts[1], simulated=simulated)

    @property
    def fingerprint(self) -> str:
        """A log-safe tag for this key."""
        return fingerprint(self.key)

    def __repr__(self) -> str:
        mode = "demo" if self.simulated else "live"
        return f"<Credentials {self.fingerprint} {mode}>"

    __str__ = __repr__
