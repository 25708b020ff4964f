"""
The access policy: IP allowlist, path token, the documented defaults, and that no
decision ever carries the token.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress

from fmzokx.fmz import access
from fmzokx.fmz.access import (
    ANY,
    LOCAL_PEER,
    LOOPBACK,
    AccessDecision,
    AccessPolicy,
    load_token,
    parse_allow,
    peer_of,
    validate_token,
)

TOKEN = "9f8e7d6c5b4a3210-_XYZ"
OFFICE = ipaddress.ip_network("10.1.0.0/16")


def test_default_policy_is_loopback_only() -> None:
    """Without options, loopback peers pass and any other address gets peer-not-allowed."""
    policy = AccessPolicy.from_options()
    assert policy == AccessPolicy()
    assert policy.check("127.0.0.1", "OKX") == AccessDecision(True, "allowed", "OKX")
    assert policy.check("127.8.9.10", "OKX").allowed
    assert policy.check("::1", "OKX").allowed
    refused = policy.check("192.168.1.7", "OKX")
    assert refused == AccessDecision(False, "peer-not-allowed", "OKX")
    assert "--allow-ip" in refused.message
    assert not policy.open_to_network


def test_allowlist_is_exact() -> None:
    """With --allow-ip, members pass, others (loopback included) are refused."""
    policy = AccessPolicy.from_options(allow=[OFFICE])
    assert policy.check("10.1.200.3", "OKX").allowed
    assert not policy.check("10.2.0.1", "OKX").allowed
    assert not policy.check("127.0.0.1", "OKX").allowed
    assert policy.open_to_network
    assert policy.check_peer("10.1.0.9").allowed
    assert not policy.check_peer("127.0.0.1").allowed


def test_ipv4_mapped_peers_match_ipv4_networks() -> None:
    """A dual-stack listener's ::ffff:a.b.c.d peer is checked as a.b.c.d."""
    policy = AccessPolicy.from_options(allow=[OFFICE])
    assert policy.check("::ffff:10.1.2.3", "OKX").allowed
    assert not policy.check("::ffff:10.9.2.3", "OKX").allowed
    assert AccessPolicy().check("::ffff:127.0.0.1", "OKX").allowed


def test_unparsable_peer_is_refused_and_unix_socket_peer_is_local() -> None:
    """A peer that is not an IP address is refused; a UNIX-socket peer passes the IP rule."""
    policy = AccessPolicy.from_options(allow=[OFFICE])
    assert policy.check("not-an-ip", "OKX").reason == "peer-not-allowed"
    assert policy.check(LOCAL_PEER, "OKX").allowed
    assert policy.check_peer(LOCAL_PEER).allowed


def test_scoped_ipv6_peer_is_parsed() -> None:
    """A link-local peer with a zone id (fe80::1%eth0) is matched on its address."""
    policy = AccessPolicy.from_options(allow=parse_allow("fe80::/10"))
    assert policy.check("fe80::1%eth0", "OKX").allowed


def test_token_alone_opens_rpc_to_any_address_but_not_operations() -> None:
    """With only a token, any address may call with the token; /metrics stays loopback-only."""
    policy = AccessPolicy.from_options(token=TOKEN)
    assert policy.allow == ANY and policy.operations == LOOPBACK
    assert policy.open_to_network
    decision = policy.check("203.0.113.9", f"OKX-{TOKEN}")
    assert decision == AccessDecision(True, "allowed", "OKX")
    assert policy.check_peer("127.0.0.1").allowed
    assert not policy.check_peer("203.0.113.9").allowed


@pytest.mark.parametrize(
    ("segment", "allowed", "reason", "label"),
    [
        (f"OKX-{TOKEN}", True, "allowed", "OKX"),
        (TOKEN, True, "allowed", ""),
        (f"main-account-{TOKEN}", True, "allowed", "main-account"),
        ("OKX", False, "token-missing", "OKX"),
        ("", False, "token-missing", ""),
        (f"OKX{TOKEN}", False, "token-mismatch", ""),
        (f"OKX-{TOKEN[:-1]}X", False, "token-mismatch", "OKX"),
        (f"OKX-{TOKEN[:8]}", False, "token-mismatch", "OKX"),
        (f"{TOKEN}-OKX", False, "token-mismatch", ""),
        (f"OKX-{TOKEN}-x", False, "token-mismatch", "OKX"),
        (TOKEN[:-1] + "X", False, "token-mismatch", ""),
        (f"{TOKEN[:4]}-{TOKEN}", True, "allowed", ""),
        (f"OKX-{TOKEN.upper()}", False, "token-mismatch", "OKX"),
        ("x" * len(TOKEN), False, "token-mismatch", "x" * len(TOKEN)),
    ],
)
def test_token_rule(segment: str, allowed: bool, reason: str, label: str) -> None:
    """The segment must be <token> or <label>-<token>; refusals say whether it was missing."""
    policy = AccessPolicy.from_options(token=TOKEN)
    decision = policy.check("127.0.0.1", segment)
    assert decision == AccessDecision(allowed, reason, label)
    assert TOKEN not in decision.label and TOKEN not in decision.message


def test_token_and_allowlist_are_both_required() -> None:
    """With both options, the right token from a wrong address fails, and vice versa."""
    policy = AccessPolicy.from_options(allow=[OFFICE], token=TOKEN)
    assert policy.check("10.1.0.1", f"OKX-{TOKEN}").allowed
    wrong_address = policy.check("10.2.0.1", f"OKX-{TOKEN}")
    assert wrong_address == AccessDecision(False, "peer-not-allowed", "OKX")
    assert policy.check("10.1.0.1", "OKX-wrong").reason == "token-mismatch"


def test_comparison_uses_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    """
    The token is compared with hmac.compare_digest over equal-length bytes, even for an
    equal-length guess that differs only in its last character.
    """
    calls: list[tuple[bytes, bytes]] = []
    real = access.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(access.hmac, "compare_digest", spy)
    policy = AccessPolicy.from_options(token=TOKEN)
    guess = TOKEN[:-1] + ("A" if TOKEN[-1] != "A" else "B")
    assert not policy.check("127.0.0.1", f"OKX-{guess}").allowed
    assert calls == [(guess.encode(), TOKEN.encode())]
    calls.clear()
    assert policy.check("127.0.0.1", f"OKX-{TOKEN}").allowed
    assert calls == [(TOKEN.encode(), TOKEN.encode())]


def test_token_is_not_in_repr() -> None:
    """repr(policy) does not show the token (policies end up in log events)."""
    assert TOKEN not in repr(AccessPolicy.from_options(token=TOKEN))


def test_labels_without_token_are_sanitised() -> None:
    """Without a token the label passes through unless it is long or unusual text."""
    policy = AccessPolicy()
    assert policy.check("127.0.0.1", "OKX_main.1~a").label == "OKX_main.1~a"
    assert policy.check("127.0.0.1", "a b").label == "invalid"
    assert policy.check("127.0.0.1", "x" * 65).label == "invalid"


@given(segment=st.text(max_size=80))
def test_no_decision_ever_contains_the_token(segment: str) -> None:
    """
    Whatever the path segment (a mistyped token included), the decision's label, reason
    and message contain no four-character piece of the token.
    """
    policy = AccessPolicy.from_options(token=TOKEN)
    pieces = [TOKEN[start : start + 4] for start in range(len(TOKEN) - 3)]
    typo = TOKEN[:5] + segment[:1] + TOKEN[6:]
    for candidate in (segment, segment + TOKEN, segment + "-" + TOKEN, TOKEN + segment, typo):
        decision = policy.check("127.0.0.1", candidate)
        for text in (decision.label, decision.reason, decision.message):
            assert not any(piece in text for piece in pieces)


def test_from_options_validates_the_token() -> None:
    """A policy cannot be built around a weak token."""
    with pytest.raises(ValueError, match="at least 16"):
        AccessPolicy.from_options(token="short")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.0/8", ("10.0.0.0/8",)),
        ("192.168.1.20", ("192.168.1.20/32",)),
        ("10.1.2.3/16", ("10.1.0.0/16",)),
        ("::1", ("::1/128",)),
        ("2001:db8::/32", ("2001:db8::/32",)),
        ("[::1]", ("::1/128",)),
        ("localhost", ("127.0.0.0/8", "::1/128")),
        (" 10.0.0.1 , 10.0.0.2 ,", ("10.0.0.1/32", "10.0.0.2/32")),
    ],
)
def test_parse_allow(text: str, expected: tuple[str, ...]) -> None:
    """--allow-ip takes addresses, CIDRs (host bits ignored), localhost, comma lists."""
    assert tuple(str(network) for network in parse_allow(text)) == expected


@pytest.mark.parametrize("text", ["", " , ", "10.0.0.0/33", "example.com", "10.0.0.1/8x"])
def test_parse_allow_refuses_garbage(text: str) -> None:
    """Anything else is a ValueError naming the expected form."""
    with pytest.raises(ValueError, match="--allow-ip needs an IP address or CIDR"):
        parse_allow(text)


def test_validate_token() -> None:
    """Tokens need 16+ characters of [A-Za-z0-9_-]; errors never repeat the token."""
    assert validate_token(TOKEN) == TOKEN
    with pytest.raises(ValueError, match="at least 16") as short:
        validate_token("abc123")
    assert "abc123" not in str(short.value)
    bad = "abcdefghijklmnop/q"
    with pytest.raises(ValueError, match="only contain letters") as slash:
        validate_token(bad)
    assert bad not in str(slash.value)


def test_load_token_reads_and_strips(tmp_path: Path) -> None:
    """--token-file: the token is the file's content without surrounding whitespace."""
    path = tmp_path / "token"
    path.write_text(f"  {TOKEN}\n", encoding="utf-8")
    assert load_token(str(path)) == TOKEN


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("\n  \n", "is empty"),
        (f"{TOKEN}\n{TOKEN}\n", "single line"),
        ("tooshort", "at least 16"),
        ("has space in the token value", "only contain"),
    ],
)
def test_load_token_refuses_bad_content(tmp_path: Path, content: str, message: str) -> None:
    """A malformed token file is a ValueError naming the file and the problem, not the content."""
    path = tmp_path / "token"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message) as raised:
        load_token(str(path))
    assert str(path) in str(raised.value)
    if content.strip():
        assert content.strip() not in str(raised.value)


def test_load_token_refuses_unreadable_paths(tmp_path: Path) -> None:
    """Missing files, directories, binary files and unreadable files are clear errors."""
    with pytest.raises(ValueError, match="does not exist"):
        load_token(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="is a directory"):
        load_token(str(tmp_path))
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe\x00token-token-token")
    with pytest.raises(ValueError, match="not a text file"):
        load_token(str(binary))
    locked = tmp_path / "locked"
    locked.write_text(TOKEN, encoding="utf-8")
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running as root: permissions do not stop reads")
        with pytest.raises(ValueError, match="not readable"):
            load_token(str(locked))
    finally:
        locked.chmod(0o600)


def test_peer_of_reads_twisted_addresses() -> None:
    """IP peers give their address, UNIX-socket peers LOCAL_PEER, anything else is refused."""
    assert peer_of(IPv4Address("TCP", "10.1.2.3", 5555)) == "10.1.2.3"
    assert peer_of(IPv6Address("TCP", "::1", 5555)) == "::1"
    assert peer_of(UNIXAddress(b"/run/fmzokx/sock")) == LOCAL_PEER
    assert peer_of(None) == ""
    assert not AccessPolicy().check(peer_of(None), "OKX").allowed
