"""The log redaction rule: no credential reaches an observer."""

from __future__ import annotations

import random
import re
import time
from typing import Any

import pytest
from twisted.logger import LogPublisher, formatEvent
from twisted.python.failure import Failure

from fmzokx.logs import REDACTED, SecretRegistry, install_redaction, logger, redact_event, secrets
from tests.helpers import LogEvents

SECRET = "super-secret-value-123"


def test_named_fields_are_redacted_whatever_their_value() -> None:
    """Fields named like credentials are masked even when the value is unknown."""
    event: dict[str, Any] = {
        "log_format": "x",
        "secret_key": "abc",
        "passphrase": "p",
        "OK-ACCESS-SIGN": "sig",
        "api_key": "k",
        "headers": {"OK-ACCESS-PASSPHRASE": "p", "Content-Type": "application/json"},
        "method": "ticker",
    }
    redact_event(event, SecretRegistry())
    assert event["secret_key"] == event["passphrase"] == event["OK-ACCESS-SIGN"] == REDACTED
    assert event["api_key"] == REDACTED
    assert event["headers"] == {
        "OK-ACCESS-PASSPHRASE": REDACTED,
        "Content-Type": "application/json",
    }
    assert event["method"] == "ticker"


def test_known_values_are_masked_anywhere() -> None:
    """A registered secret is masked inside any string, nested container or format."""
    registry = SecretRegistry()
    registry.add(SECRET)
    event: dict[str, Any] = {
        "log_format": f"body was {SECRET}",
        "body": f'{{"secret_key": "{SECRET},x"}}',
        "items": [SECRET, (f"a{SECRET}b",)],
        "raw": SECRET.encode(),
    }
    redact_event(event, registry)
    text = repr(event)
    assert SECRET not in text
    assert event["items"] == [REDACTED, (f"a{REDACTED}b",)]


def test_failures_with_secrets_are_replaced() -> None:
    """An attached failure whose message holds a secret is replaced by a scrubbed one."""
    registry = SecretRegistry()
    registry.add(SECRET)
    try:
        raise ValueError(f"bad {SECRET}")
    except ValueError:
        failure = Failure()
    event: dict[str, Any] = {"log_format": "oops", "log_failure": failure}
    redact_event(event, registry)
    assert SECRET not in event["log_failure"].getTraceback()


def test_short_values_are_not_registered() -> None:
    """Very short 'secrets' would mask every line; they are ignored."""
    registry = SecretRegistry()
    registry.add("ab", "")
    assert registry.scrub("abc ab") == "abc ab"


def test_registry_is_bounded() -> None:
    """The registry forgets the oldest secrets past its capacity."""
    registry = SecretRegistry(capacity=2)
    registry.add("first-secret", "second-secret", "third-secret")
    assert "first-secret" not in registry and "third-secret" in registry


def test_registry_bound_holds_under_a_stream_of_keys() -> None:
    """
    10,000 distinct keys (30,000 values) leave at most ``capacity`` values, the newest
    ones, all still masked; a pinned value (the access token) is never evicted.
    """
    registry = SecretRegistry(capacity=300)
    registry.add("pinned-access-token-0123456789", pinned=True)
    for n in range(10_000):
        registry.add(f"KEY{n:08d}-uuid", f"SECRET{n:08d}HEX", f"pass{n:06d}")
    assert len(registry) == 301
    assert "pinned-access-token-0123456789" in registry
    assert "KEY00000000-uuid" not in registry
    newest = "a KEY00009999-uuid b SECRET00009999HEX c pass009999 d"
    assert registry.scrub(newest) == f"a {REDACTED} b {REDACTED} c {REDACTED} d"
    assert registry.scrub("t=pinned-access-token-0123456789") == f"t={REDACTED}"
    # Evicted values are gone from the index too: nothing else is masked.
    assert registry.scrub("KEY00000000-uuid") == "KEY00000000-uuid"
    assert len(registry._by_prefix) <= 301  # type: ignore[attr-defined]


@pytest.mark.parametrize("keys", [1, 10, 100, 1000])
def test_scrub_matches_a_plain_reference(keys: int) -> None:
    """Both scrub strategies (few values: ``in``; many: the prefix index) mask the same."""
    rng = random.Random(keys)
    alphabet = "abcdefABCDEF0123456789-_"
    values = ["".join(rng.choice(alphabet) for _ in range(rng.randint(6, 20)))
              for _ in range(keys * 3)]
    registry = SecretRegistry()
    registry.add(*values)
    reference = re.compile("|".join(re.escape(v) for v in sorted(values, key=len,
                                                                  reverse=True)))
    for _ in range(300):
        pieces = [rng.choice(values) if rng.random() < 0.3 else
                  "".join(rng.choice(alphabet + " ,:") for _ in range(rng.randint(0, 12)))
                  for _ in range(rng.randint(1, 8))]
        text = "".join(pieces)
        scrubbed = registry.scrub(text)
        assert not any(v in scrubbed for v in values), (text, scrubbed)
        if len(values) > 48:
            # The indexed walk is one leftmost-longest pass, as the old pattern was.
            assert scrubbed == reference.sub(REDACTED, text), text


def test_adding_a_key_stays_cheap_with_many_keys() -> None:
    """Adding a value no longer recompiles one pattern of every value (~30 ms each)."""
    registry = SecretRegistry()
    for n in range(3000):
        registry.add(f"K{n:09d}x", f"S{n:09d}y", f"P{n:09d}z")
    started = time.perf_counter()
    for n in range(3000, 3300):
        registry.add(f"K{n:09d}x", f"S{n:09d}y", f"P{n:09d}z")
    assert (time.perf_counter() - started) / 300 < 0.005  # per key, on a loaded machine


def test_logger_events_arrive_redacted(info_events: LogEvents) -> None:
    """Events from fmzokx loggers are redacted before the global publisher sees them."""
    secrets.add(SECRET)
    logger("tests").info("request {body}", body=f"secret={SECRET}", passphrase="pp-value")
    (event,) = [e for e in info_events if e.get("log_namespace") == "tests"]
    assert SECRET not in formatEvent(event)
    assert event["passphrase"] == REDACTED


def test_install_redaction_goes_first() -> None:
    """install_redaction puts the rule ahead of observers added earlier."""
    publisher = LogPublisher()
    seen: list[dict[str, Any]] = []
    publisher.addObserver(lambda event: seen.append(dict(event)))
    install_redaction(publisher)
    install_redaction(publisher)
    publisher({"log_format": "x", "secret": "value"})
    assert seen == [{"log_format": "x", "secret": REDACTED}]


def test_level_threshold_drops_debug_by_default(info_events: LogEvents) -> None:
    """
    fmzokx debug events are dropped at the default info level, kept at debug (the
    fixture puts the level back after).
    """
    from fmzokx.logs import set_level

    logger("tests.level").debug("hidden")
    logger("tests.level").info("shown")
    set_level("debug")
    logger("tests.level").debug("now shown")
    texts = [formatEvent(e) for e in info_events if e.get("log_namespace") == "tests.level"]
    assert texts == ["shown", "now shown"]


def test_fmzokx_events_are_redacted_once() -> None:
    """The first-observer redactor passes fmzokx events on without redacting them again."""
    from fmzokx import logs

    calls: list[int] = []
    real = logs.redact_event

    def counting(event: dict[str, Any], registry: SecretRegistry | None = None) -> dict[str, Any]:
        calls.append(1)
        return real(event, registry)

    publisher = LogPublisher()
    logs._installed[:] = [p for p in logs._installed if p is not publisher]
    install_redaction(publisher)
    original = logs.redact_event
    logs.redact_event = counting  # type: ignore[assignment]
    try:
        event = {"log_format": "x", "log_logger": logger("tests.once"), "secret": "v"}
        logs._redacting_publisher(dict(event))  # through the fmzokx path: redacted once
        once = len(calls)
        publisher(event)  # the first-observer redactor sees an fmzokx event: no second pass
        assert len(calls) == once
        publisher({"log_format": "y", "secret": "v"})  # a foreign event is redacted
        assert len(calls) == once + 1
    finally:
        logs.redact_event = original
