"""
The ``twistd --logger fmzokx.jsonlog.observer`` sink: one redacted JSON object per line.
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest_twisted
from twisted.internet.utils import getProcessOutputAndValue
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure

from fmzokx.jsonlog import debug_observer, event_as_line, observer
from fmzokx.logs import secrets

ROOT = Path(__file__).resolve().parents[2]


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    """Parse every line written to ``stream`` as JSON."""
    text = stream.getvalue()
    assert text.endswith("\n") or text == ""
    return [json.loads(line) for line in text.splitlines()]


def test_rpc_event_becomes_one_flat_json_line() -> None:
    """An RPC event keeps its fields at top level next to time, level, namespace, message."""
    out = io.StringIO()
    log = Logger(namespace="fmzokx.fmz.resource", observer=observer(out))
    log.info(
        "rpc {label} {method} -> {outcome} in {duration:.1f} ms",
        label="OKX",
        method="ticker",
        outcome="ok",
        duration=1.25,
    )
    (line,) = lines(out)
    assert line["level"] == "info"
    assert line["namespace"] == "fmzokx.fmz.resource"
    assert line["message"] == "rpc OKX ticker -> ok in 1.2 ms"
    assert line["time"].endswith("+00:00") and line["time"][:2] == "20"
    assert {key: line[key] for key in ("label", "method", "outcome", "duration")} == {
        "label": "OKX",
        "method": "ticker",
        "outcome": "ok",
        "duration": 1.25,
    }
    assert not any(key.startswith("log_") for key in line)


def test_level_filter() -> None:
    """observer() drops debug events; debug_observer() keeps them."""
    quiet, loud = io.StringIO(), io.StringIO()
    Logger(observer=observer(quiet)).debug("upstream GET {path}", path="/api/v5/x")
    Logger(observer=debug_observer(loud)).debug("upstream GET {path}", path="/api/v5/x")
    assert quiet.getvalue() == ""
    assert lines(loud)[0]["level"] == "debug"
    warn_only = io.StringIO()
    sink = observer(warn_only, LogLevel.warn)
    Logger(observer=sink).info("hidden")
    Logger(observer=sink).warn("shown")
    assert [line["message"] for line in lines(warn_only)] == ["shown"]


def test_secrets_are_redacted_by_name_and_value() -> None:
    """Credential-named fields and values of seen credentials never reach the line."""
    secret = "jsonlog-secret-value-42"
    secrets.add(secret)
    try:
        out = io.StringIO()
        log = Logger(namespace="fmzokx.test", observer=observer(out))
        log.info("got {body}", body={"note": f"x {secret} y"}, secret_key="abc,def")
        try:
            raise ValueError(f"bad {secret}")
        except ValueError:
            log.failure("boom")
        text = out.getvalue()
        assert secret not in text and "abc,def" not in text
        first, second = lines(out)
        assert first["secret_key"] == "<redacted>"
        assert "<redacted>" in first["message"]
        assert "ValueError" in second["failure"] and second["level"] == "critical"
    finally:
        secrets.clear()


def test_unserialisable_values_and_legacy_events_still_make_a_line() -> None:
    """Objects are left out (no reprs), bytes become text, sets sorted lists; nothing raises."""
    event: dict[str, Any] = {
        "log_format": "thing {thing}",
        "log_level": LogLevel.warn,
        "log_namespace": "x",
        "log_time": 0.0,
        "thing": object(),
        "blob": b"\xffabc",
        "tags": {"b", "a"},
        "log_system": "HTTPChannel,0,127.0.0.1",
    }
    line = json.loads(event_as_line(event))
    assert line["level"] == "warn"
    assert line["time"] == "1970-01-01T00:00:00.000000+00:00"
    assert "thing" not in line
    assert line["message"] == "thing object"
    assert line["blob"] == "\ufffdabc"
    assert line["tags"] == ["a", "b"]
    assert line["system"] == "HTTPChannel,0,127.0.0.1"


def test_a_broken_event_still_yields_valid_json() -> None:
    """Even an event whose formatting explodes is logged as an error line, not raised."""

    class Exploding:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    line = json.loads(event_as_line({"log_format": "{x!r}", "x": Exploding(), "y": Exploding()}))
    assert line["level"] == "error"
    assert line["message"] == (
        "unloggable event: ValueError: its format '{x!r}' cannot be filled in"
    )


def test_no_object_reprs_or_class_names() -> None:
    """
    Twisted's factory chatter is left out, its legacy listening line reworded, object
    reprs become class names, namespaces lose class names, exceptions keep their text.
    """

    class _QuietSite:
        pass

    out = io.StringIO()
    sink = observer(out)
    site = _QuietSite()
    Logger(namespace="fmzokx.fmz.site._QuietSite", observer=sink).info(
        "Starting factory {factory!r}", factory=site
    )
    legacy = {
        "log_namespace": "log_legacy", "log_level": LogLevel.info, "log_time": 0.0,
        "log_format": "{log_text}", "log_text": "_QuietSite starting on 6666",
    }
    sink(legacy)
    Logger(namespace="fmzokx.okx.rest.clocksync.ClockSync", observer=sink).info(
        "handler {handler!r} failed: {error}", handler=site, error=ValueError("bad <x>"),
        nested={"a": [site, 1]},
    )
    Logger(namespace="twisted.scripts._twistd_unix.UnixAppLogger", observer=sink).info("up")
    listening, failed, up = lines(out)
    assert listening["message"] == "listening on port 6666"
    assert listening["namespace"] == "twisted"
    assert failed["namespace"] == "fmzokx.okx.rest.clocksync"
    assert failed["message"] == "handler QuietSite failed: bad <x>"
    assert "handler" not in failed and failed["error"] == "bad <x>"
    assert failed["nested"] == {"a": [1]}
    assert up["namespace"] == "twisted.scripts"
    assert " object at 0x" not in out.getvalue()


def test_failure_field_holds_the_traceback() -> None:
    """log.failure() adds the traceback text under "failure"."""
    out = io.StringIO()
    failure = Failure(ZeroDivisionError("division by zero"))
    Logger(observer=observer(out)).failure("oops", failure)
    (line,) = lines(out)
    assert "ZeroDivisionError" in line["failure"]


@pytest_twisted.ensureDeferred
async def test_twistd_accepts_the_observer_factory() -> None:
    """twistd --logger fmzokx.jsonlog.observer resolves and is called with no arguments."""
    script = (
        "import sys; from twisted.scripts.twistd import ServerOptions; "
        "o = ServerOptions(); o.parseOptions(['--logger', 'fmzokx.jsonlog.observer', 'fmzokx']); "
        "sink = o['logger'](); "
        "from twisted.logger import Logger; Logger(observer=sink).info('hello {who}', who='x')"
    )
    environ = {**os.environ, "PYTHONPATH": str(ROOT)}
    out, err, code = await getProcessOutputAndValue(
        sys.executable, ["-c", script], env=environ, path=str(ROOT)
    )
    assert code == 0, err
    (line,) = [json.loads(text) for text in out.decode().splitlines()]
    assert line["message"] == "hello x" and line["who"] == "x"


def test_a_lone_surrogate_makes_a_writable_line() -> None:
    """
    A value holding a lone surrogate (``"\\ud800"``) is escaped: the line can be written
    as UTF-8 (it once failed at the write, outside the sink's own guard).
    """
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    log = Logger(namespace="fmzokx.fmz.resource", observer=observer(out))
    log.info("rpc {method} -> refused", method="ticker\ud800", where="é")
    out.flush()
    raw = out.buffer.getvalue()  # type: ignore[attr-defined]
    (line,) = [json.loads(text) for text in raw.decode("utf-8").splitlines()]
    assert line["method"] == "ticker\ud800" and line["where"] == "é"


def test_a_reply_with_a_lone_surrogate_is_valid_json() -> None:
    """The docker's reply carries a lone surrogate (from OKX's text) escaped, not as a 500."""
    from fmzokx.fmz.jsonout import dumps

    assert json.loads(dumps({"error": "x\ud800é"}).decode("utf-8")) == {"error": "x\ud800é"}
