"""
``--shared-state`` URLs: what is accepted, what each part means, and that a password
never shows in a repr, a display string or an error.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fmzokx.okx.pacing.shared.url import RedisTarget, parse_redis_url, read_password_file


def test_defaults() -> None:
    assert parse_redis_url("redis://10.0.0.5") == RedisTarget("10.0.0.5", 6379, 0, False)


def test_every_part() -> None:
    target = parse_redis_url("rediss://desk:s%40cret%3Aword@Redis.Example.com:6380/3")
    assert target == RedisTarget(
        "redis.example.com", 6380, 3, tls=True, username="desk", password="s@cret:word"
    )


def test_password_without_user_and_ipv6() -> None:
    target = parse_redis_url(" redis://:hunter2hunter2@[::1]:7000/15 ")
    assert (target.host, target.port, target.db) == ("::1", 7000, 15)
    assert target.username is None and target.password == "hunter2hunter2"
    assert target.display() == "redis://:***@[::1]:7000/15"


def test_empty_password_means_none() -> None:
    assert parse_redis_url("redis://:@h:1/0").password is None


def test_password_never_shown() -> None:
    target = parse_redis_url("redis://ops:topsecretpass@h:6379/2")
    for text in (repr(target), str(target), target.display(), f"{target!r} {[target]}"):
        assert "topsecretpass" not in text
    assert target.display() == "redis://ops:***@h:6379/2"
    assert repr(target) == "<RedisTarget redis://ops:***@h:6379/2>"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://h:6379/0", "redis:// or rediss://"),
        ("h:6379", "redis:// or rediss://"),
        ("redis://", "needs a host"),
        ("redis://h:99999/0", "port"),
        ("redis://h:0/0", "port must be 1-65535"),
        ("redis://h:x/0", "not of the form"),
        ("redis://h/db1", "database number"),
        ("redis://h/70000", "database number"),
        ("redis://h/1/2", "database number"),
        ("redis://h/0?ssl=true", "no query"),
        ("redis://h/0#x", "no query"),
        ("redis://bad_host!/0", "not a host name"),
        ("redis://[::1/0", "not of the form"),
    ],
)
def test_mistakes_are_named(url: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_redis_url(url)


def test_errors_never_repeat_the_password() -> None:
    for url in ("redis://:pw-abcdefgh@h:99999/0", "redis://:pw-abcdefgh@h/db9x"):
        with pytest.raises(ValueError) as raised:
            parse_redis_url(url)
        assert "pw-abcdefgh" not in str(raised.value)


def test_password_with_line_break_refused() -> None:
    with pytest.raises(ValueError, match="line break"):
        parse_redis_url("redis://:a%0Ab@h/0")


def test_password_file(tmp_path: Path) -> None:
    path = tmp_path / "redis.pw"
    path.write_text("correct horse battery\nignored\n")
    assert read_password_file(str(path)) == "correct horse battery"
    target = parse_redis_url("redis://h/0").with_password("correct horse battery")
    assert target.password == "correct horse battery"
    assert target.display() == "redis://:***@h:6379/0"


def test_password_file_problems(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(ValueError, match="is empty"):
        read_password_file(str(empty))
    with pytest.raises(ValueError, match="cannot read"):
        read_password_file(str(tmp_path / "missing"))
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe secret")
    with pytest.raises(ValueError) as raised:
        read_password_file(str(binary))
    assert "secret" not in str(raised.value)
