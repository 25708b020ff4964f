"""
The status page (``GET /status``): what an operator without Prometheus looks at.

- :mod:`fmzokx.status.history` -- a bounded, in-memory record of the last hour, per
  minute, built from the events the daemon reports (docker calls, OKX requests, pacing
  waits, order outcomes, errors);
- :mod:`fmzokx.status.snapshot` -- one plain dict of everything the page shows: the
  history's numbers plus version, uptime, OKX health, rate-limit budgets and the
  market-data stream;
- :mod:`fmzokx.status.page` -- a pure function from that dict to one self-contained
  HTML page.
"""
