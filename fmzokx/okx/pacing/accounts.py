# -*- test-case-name: tests.okx.test_account_budgets -*-
"""
Which account an API key belongs to, so that private budgets are paced per account.

OKX counts its private rate limits per User ID, not per API key ("Rate Limits": "for
private endpoints, the limit is per User ID"; a sub-account has a User ID of its own).
Two keys of one account -- two FMZ exchange configurations, or several key pairs made
for one account -- draw from one budget, and pacing each key on its own would let them
send twice what OKX admits (50011).

The User ID is the ``uid`` of ``GET /account/config``. :class:`AccountBudgets` learns it
once per key, the first time the key signs a call, and from then on that key's private
budgets are keyed by a tag of the account (``acct-`` and eight hex digits of a hash of
the uid: like a key fingerprint, it tells accounts apart and names none). Until it is
known -- the lookup failed, or has not answered yet -- a key is paced on its own
fingerprint, as before; a failed lookup is tried again after :attr:`retry_after`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

from attrs import define, field
from twisted.internet.interfaces import IReactorTime

from fmzokx.deferreds import SingleFlight
from fmzokx.logs import logger
from fmzokx.lru import LruDict
from fmzokx.okx.credentials import Credentials

__all__ = ["AccountBudgets", "account_tag"]

_log = logger(__name__)


def account_tag(uid: str) -> str:
    """The log-safe tag of OKX User ID ``uid`` that private budgets are keyed by."""
    return "acct-" + hashlib.sha256(uid.encode("utf-8")).hexdigest()[:8]


@define(eq=False)
class AccountBudgets:
    """
    Each key's account tag, learned once per key.

    :ivar lookup: reads a key's User ID from OKX (``GET /account/config``); wired by the
        client, which owns the request.
    :ivar retry_after: seconds before a failed lookup is tried again.
    """

    clock: IReactorTime
    lookup: Callable[[Credentials], Awaitable[str]]
    retry_after: float = 60.0
    _tags: LruDict[str, str] = field(factory=lambda: LruDict(4096), init=False)
    _failed_at: LruDict[str, float] = field(factory=lambda: LruDict(4096), init=False)
    _lookups: SingleFlight[str, None] = field(factory=SingleFlight, init=False)

    def identity(self, credentials: Credentials) -> str:
        """The tag ``credentials``' private budgets are keyed by: its account's, once known."""
        return self._tags.get(credentials.fingerprint, credentials.fingerprint)

    def needs_lookup(self, credentials: Credentials) -> bool:
        """Whether a call signed with ``credentials`` should learn its account first."""
        key = credentials.fingerprint
        if key in self._tags:
            return False
        failed = self._failed_at.get(key)
        return failed is None or self.clock.seconds() - failed >= self.retry_after

    async def learn(self, credentials: Credentials) -> None:
        """Look up ``credentials``' account once (joined by concurrent callers); never raises."""
        key = credentials.fingerprint
        await self._lookups.run(key, lambda: self._learn(credentials))

    async def _learn(self, credentials: Credentials) -> None:
        key = credentials.fingerprint
        try:
            uid = await self.lookup(credentials)
        except Exception as error:  # any failure: pace by the key, try again later
            self._failed_at[key] = self.clock.seconds()
            _log.info(
                "could not learn the account of {key}; its budgets stay its own for "
                "{retry:.0f} s: {reason}",
                key=key, retry=self.retry_after, reason=type(error).__name__,
            )
            return
        if not uid:
            self._failed_at[key] = self.clock.seconds()
            return
        self._tags[key] = account_tag(uid)
        self._failed_at.pop(key, None)
        _log.debug("{key} belongs to account {account}", key=key, account=self._tags[key])
