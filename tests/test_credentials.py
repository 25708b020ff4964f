"""Credentials parsing from the docker's fields, and a repr that cannot leak."""

from __future__ import annotations

import pytest

from fmzokx.fmz.credentials import CredentialsError, credentials_from_fmz
from fmzokx.okx.credentials import Credentials

KEY = "f1a2b3c4-key-value"
SECRET = "ABCDEF0123456789SECRET"
PASSPHRASE = "My-Passphrase-1"


def test_secret_and_passphrase() -> None:
    """SECRET,PASSPHRASE is a live key."""
    credentials = credentials_from_fmz(KEY, f"{SECRET},{PASSPHRASE}")
    assert credentials == Credentials(KEY, SECRET, PASSPHRASE, simulated=False)


def test_simulate_flag() -> None:
    """A third part 'simulate' (any case, spaces ignored) selects demo trading."""
    credentials = credentials_from_fmz(f" {KEY} ", f"{SECRET}, {PASSPHRASE} ,Simulate")
    assert credentials is not None and credentials.simulated
    assert credentials.passphrase == PASSPHRASE


def test_no_keys_means_public_only() -> None:
    """Empty fields mean no credentials (public market data only)."""
    assert credentials_from_fmz("", "") is None


@pytest.mark.parametrize(
    ("access_key", "secret_key", "message"),
    [
        ("", f"{SECRET},{PASSPHRASE}", "access_key is empty"),
        (KEY, SECRET, "got 1 comma-separated part"),
        (KEY, f"{SECRET},", "got 2 comma-separated part"),
        (KEY, f",{PASSPHRASE}", "got 2 comma-separated part"),
        (KEY, f"{SECRET},{PASSPHRASE},live", "may only be 'simulate'"),
        (KEY, f"{SECRET},{PASSPHRASE},simulate,x", "got 4 comma-separated part"),
    ],
)
def test_malformed(access_key: str, secret_key: str, message: str) -> None:
    """Malformed fields raise a message with the expected form and none of the input."""
    with pytest.raises(CredentialsError, match=message) as caught:
        credentials_from_fmz(access_key, secret_key)
    text = str(caught.value)
    for secret in (KEY, SECRET, PASSPHRASE):
        assert secret not in text


def test_repr_hides_everything_but_a_fingerprint() -> None:
    """repr/str show a short key fingerprint and the mode, never the secrets or the key."""
    credentials = Credentials(KEY, SECRET, PASSPHRASE, simulated=True)
    for text in (repr(credentials), str(credentials), f"{credentials}", repr([credentials])):
        assert SECRET not in text and PASSPHRASE not in text and KEY not in text
        assert credentials.fingerprint in text and "demo" in text
    assert credentials.fingerprint.startswith("key-")
    assert credentials.fingerprint != Credentials("other", SECRET, PASSPHRASE).fingerprint
