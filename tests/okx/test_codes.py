"""
The OKX code table: each named set drives the decision it is documented to drive, the
sets do not contradict each other, and no other OKX-side module spells a code itself.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from fmzokx.okx import codes
from fmzokx.okx.errors import (
    AUTH_CODES,
    OkxApiError,
    OkxAuthError,
    OkxError,
    OkxRateLimited,
    api_error,
)
from fmzokx.okx.rest.reply import interpret
from fmzokx.okx.rest.request import prepare
from fmzokx.okx.rest.retry import is_retryable_read

ORDER = "/api/v5/trade/order"


def refusal(code: str, *, method: str = "POST", status: int = 200) -> OkxError:
    """What the client makes of an OKX envelope carrying ``code``."""
    if method == "GET":
        request = prepare("GET", ORDER, {"ordId": "1"}, None, None, check_code=True, max_attempts=4)
    else:
        request = prepare(
            "POST", ORDER, None, {"instId": "BTC-USDT"}, None, check_code=True, max_attempts=1
        )
    body = json.dumps({"code": code, "msg": "m", "data": []}).encode()
    with pytest.raises(OkxError) as caught:
        interpret(request, status, body)
    return caught.value


def test_every_auth_code_has_an_explanation_and_no_more() -> None:
    """errors.AUTH_CODES (what to fix) covers exactly the codes the table calls auth."""
    assert set(AUTH_CODES) == codes.AUTH_REFUSED
    assert codes.TIMESTAMP_EXPIRED in codes.AUTH_REFUSED


def test_codes_are_okx_strings() -> None:
    """OKX sends codes as strings of digits; a stray int would never match."""
    named = [
        codes.SUCCESS,
        codes.TIMESTAMP_EXPIRED,
        codes.ORDER_TIMED_OUT,
        codes.DUPLICATE_CLORDID,
        codes.ORDER_NOT_FOUND,
        *codes.AUTH_REFUSED,
        *codes.RATE_LIMITED,
        *codes.BUSY,
        *codes.OUTCOME_UNKNOWN,
        *codes.CANCEL_ALREADY_FINAL,
        *codes.EXPIRED_ON_ARRIVAL,
    ]
    for code in named:
        assert isinstance(code, str) and code.isdigit()
        assert code == "0" or len(code) == 5


def test_sets_do_not_contradict_each_other() -> None:
    """A code cannot be both 'nothing was done' and 'outcome unknown'."""
    known_refusals = codes.AUTH_REFUSED | codes.RATE_LIMITED
    assert not known_refusals & codes.OUTCOME_UNKNOWN
    assert not codes.AUTH_REFUSED & codes.RATE_LIMITED
    assert codes.BUSY <= codes.OUTCOME_UNKNOWN
    assert codes.ORDER_TIMED_OUT in codes.OUTCOME_UNKNOWN
    assert codes.SUCCESS not in known_refusals | codes.OUTCOME_UNKNOWN
    assert not codes.EXPIRED_ON_ARRIVAL & (codes.OUTCOME_UNKNOWN | codes.AUTH_REFUSED)


@pytest.mark.parametrize("code", sorted(codes.BUSY))
def test_busy_codes_leave_writes_unknown_and_reads_retryable(code: str) -> None:
    """A busy write may have been processed; a busy read is worth repeating."""
    write = refusal(code)
    assert type(write) is OkxApiError and write.outcome_unknown
    read = refusal(code, method="GET")
    assert not read.outcome_unknown and is_retryable_read(read)


@pytest.mark.parametrize("code", sorted(codes.AUTH_REFUSED))
def test_auth_codes_are_known_outcomes_never_retried(code: str) -> None:
    """OKX refused before doing anything: outcome known, and repeating risks a lock-out."""
    for method in ("POST", "GET"):
        error = refusal(code, method=method, status=401)
        assert isinstance(error, OkxAuthError)
        assert not error.outcome_unknown and not is_retryable_read(error)


@pytest.mark.parametrize("code", sorted(codes.RATE_LIMITED))
def test_rate_limit_codes_are_retryable_refusals(code: str) -> None:
    """50011 means nothing was processed: a read retries, a write is a known refusal."""
    error = refusal(code, status=codes.RATE_LIMITED_STATUS)
    assert isinstance(error, OkxRateLimited) and not error.outcome_unknown
    assert is_retryable_read(refusal(code, method="GET"))


def test_http_429_alone_is_rate_limited() -> None:
    """OKX's 429 status means rate-limited even with an unfamiliar code."""
    error = api_error(
        "12345", "", http_status=codes.RATE_LIMITED_STATUS, path=ORDER, method="GET", payload=None
    )
    assert isinstance(error, OkxRateLimited)


def test_other_codes_are_plain_refusals() -> None:
    """An ordinary business refusal is final: known outcome, not retried."""
    error = refusal("51008")
    assert type(error) is OkxApiError and not error.outcome_unknown
    assert not is_retryable_read(refusal("51008", method="GET"))


def test_no_other_okx_module_spells_a_code() -> None:
    """Decisions import the table; only codes.py (and errors.py's explanations) list codes."""
    package = Path(codes.__file__).parent
    literal = re.compile(r"""["']5[0-9]{4}["']""")
    offenders = []
    for module in sorted(package.glob("*.py")):
        if module.name in ("codes.py", "errors.py"):
            continue
        for number, line in enumerate(module.read_text().splitlines(), 1):
            if literal.search(line):
                offenders.append(f"{module.name}:{number}: {line.strip()}")
    assert offenders == []
