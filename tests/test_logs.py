"""The log redaction rule: no credential reaches an observer."""

from __future__ import annotations

from typing import Any

from twisted.logger import LogPublisher, formatEvent
from twisted.python.failure import Failure

from fmzokx.logs import REDACTED, SecretRegistry, install_redaction, logger, redact_event, secrets

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


def test_logger_events_arrive_redacted() -> None:
    """Events from fmzokx loggers are redacted before the global publisher sees them."""
    from twisted.logger import globalLogPublisher

    secrets.add(SECRET)
    seen: list[dict[str, Any]] = []
    globalLogPublisher.addObserver(seen.append)
    try:
        logger("tests").info("request {body}", body=f"secret={SECRET}", passphrase="pp-value")
    finally:
        globalLogPublisher.removeObserver(seen.append)
    (event,) = [e for e in seen if e.get("log_namespace") == "tests"]
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


def test_level_threshold_drops_debug_by_default() -> None:
    """fmzokx debug events are dropped at the default info level, kept at debug."""
    from twisted.logger import globalLogPublisher

    from fmzokx.logs import get_level, set_level

    seen: list[dict[str, Any]] = []
    globalLogPublisher.addObserver(seen.append)
    previous = get_level()
    try:
        set_level("info")
        logger("tests.level").debug("hidden")
        logger("tests.level").info("shown")
        set_level("debug")
        logger("tests.level").debug("now shown")
    finally:
        set_level(previous)
        globalLogPublisher.removeObserver(seen.append)
    texts = [formatEvent(e) for e in seen if e.get("log_namespace") == "tests.level"]
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
