"""bench/profile.py --sampler py-spy: samples charged to the innermost non-generic area."""

from __future__ import annotations

import pytest

from bench.profile import sampled_areas

RAW = [
    # Idle: the reactor waiting, the journal's thread waiting -- left out.
    "mainLoop (twisted/internet/base.py:700);"
    "EPollReactor.doPoll (twisted/internet/epollreactor.py:220) 50",
    "run (threading.py:1);Condition.wait (threading.py:320) 40",
    # A builtin under the signing code is signing's time.
    "send (fmzokx/okx/rest/attempt.py:91);sign (fmzokx/okx/rest/signing.py:97);"
    "<built-in method digest> (~:0) 3",
    # The JSON decoder's own frame is an area of its own.
    "interpret (fmzokx/okx/rest/reply.py:76);loads (json/__init__.py:346) 2",
    # A stdlib helper under Klein is Klein's time.
    "render (klein/_resource.py:150);urlparse (some/stdlib.py:10) 5",
]


def test_shares_by_area_leave_idle_out_and_charge_generic_frames_to_callers() -> None:
    shares, busy = sampled_areas(RAW)
    assert busy == 10
    assert shares == {
        "fmzokx signing": pytest.approx(0.3),
        "json (stdlib)": pytest.approx(0.2),
        "klein": pytest.approx(0.5),
    }
