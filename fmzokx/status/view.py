# -*- test-case-name: tests.status.test_view -*-
"""
``GET /status``: the page for the running daemon, built fresh on each request.

:class:`StatusView` holds the live sources (the history the metrics feed, the health
document, the rate-limit budgets, the market-data stream when there is one) and turns
them into the HTML of :func:`fmzokx.status.page.render_page`, every text passed through
the process's credential mask.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from attrs import define

from fmzokx.logs import secrets
from fmzokx.status.history import History
from fmzokx.status.page import CONTENT_SECURITY_POLICY, REFRESH_SECONDS, render_page
from fmzokx.status.snapshot import build_snapshot

__all__ = ["CONTENT_SECURITY_POLICY", "StatusView"]


def _no_budgets() -> Iterable[Mapping[str, Any]]:
    return ()


@define
class StatusView:
    """
    The daemon's status page.

    :ivar history: what the metrics recorded over the last hour.
    :ivar version: the running version.
    :ivar started: when the daemon started, on the history's clock.
    :ivar health: the ``/healthz`` document (``None`` while unknown).
    :ivar budgets: rate-limit budget use right now (see
        :func:`fmzokx.status.snapshot.build_snapshot`).
    :ivar stream: the market-data stream's state, or ``None`` when the daemon has none.
    :ivar shared: the shared rate budget's state, or ``None`` without ``--shared-state``.
    :ivar journal: the order journal's health (``None`` while it is not open).
    :ivar private: the private WebSocket sessions, or ``None`` with ``--private-stream off``.
    """

    history: History
    version: str
    started: float
    health: Callable[[], Mapping[str, Any] | None]
    budgets: Callable[[], Iterable[Mapping[str, Any]]] = _no_budgets
    stream: Callable[[], Mapping[str, Any] | None] | None = None
    shared: Callable[[], Mapping[str, Any] | None] | None = None
    journal: Callable[[], Mapping[str, Any] | None] | None = None
    private: Callable[[], Mapping[str, Any] | None] | None = None
    scrub: Callable[[str], str] = secrets.scrub
    refresh: int = REFRESH_SECONDS

    def snapshot(self) -> dict[str, Any]:
        """Everything the page shows, now."""
        return build_snapshot(
            self.history,
            version=self.version,
            started=self.started,
            health=self.health(),
            budgets=self.budgets(),
            stream=None if self.stream is None else self.stream(),
            shared=None if self.shared is None else self.shared(),
            journal=None if self.journal is None else self.journal(),
            private=None if self.private is None else self.private(),
            scrub=self.scrub,
        )

    def render(self) -> str:
        """The page's HTML."""
        return render_page(self.snapshot(), refresh=self.refresh, scrub=self.scrub)

    def page(self) -> tuple[str, str]:
        """The HTML and the content security policy to serve it with (``GET /status``)."""
        return self.render(), CONTENT_SECURITY_POLICY
