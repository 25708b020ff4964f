# -*- test-case-name: tests.test_credentials -*-
"""
The docker's key fields as OKX credentials.

The FMZ docker sends the key in ``access_key`` and ``SECRET,PASSPHRASE[,simulate]`` in
``secret_key`` on every request (the exchange's Secret Key field in FMZ holds both OKX's
secret and its passphrase). Errors never repeat any part of the input.
"""

from __future__ import annotations

from fmzokx.okx.credentials import Credentials

__all__ = ["CredentialsError", "SIMULATE_FLAG", "credentials_from_fmz"]

SIMULATE_FLAG = "simulate"


class CredentialsError(ValueError):
    """
    The ``secret_key`` field is not ``SECRET,PASSPHRASE[,simulate]``.

    The message never repeats any part of the input.
    """


def credentials_from_fmz(access_key: str, secret_key: str) -> Credentials | None:
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
    return Credentials(key=access_key, secret=parts[0], passphrase=parts[1], simulated=simulated)
