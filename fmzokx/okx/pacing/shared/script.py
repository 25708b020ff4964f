# -*- test-case-name: tests.okx.sharedbudget.test_script -*-
"""
The slot-taking script that runs inside Redis, and the names of the keys it keeps.

One budget (an endpoint within its OKX scope) is one sorted set: each member is a send
slot handed out to some daemon, scored by its send time in milliseconds on **Redis's**
clock (``TIME``), so daemons whose clocks disagree still share one window. A call runs
the script once (one round trip): it drops slots older than the window and then either

* reserves the earliest time at or after now at which the window holds fewer than
  ``limit`` slots, and not before the newest slot already handed out (first come, first
  served across every daemon), records it and answers ``{1, wait_ms}``; or
* when that time is further away than the caller may wait, records nothing and answers
  ``{0, wait_ms}`` so the caller can fail at once, unsent.

Why reserve a future slot rather than "take it if free, else say when to come back":
the latter needs a second round trip for every call that waits, lets a daemon that
happens to ask at the right moment overtake one that has been waiting (no FIFO), and
turns a burst into a thundering herd of retries against Redis. A reservation is final,
costs one round trip whatever the wait, and the queue order is the order in which the
calls reached Redis. A reservation that is not used (the caller gave up) stays counted:
that wastes a slot but never overruns OKX.

The same call may *carry* sends made while Redis was unreachable (their ages in ms), so
the window after Redis comes back counts them too. Every key gets ``PEXPIRE`` of its
newest slot plus one window, so idle budgets vanish and Redis stays bounded.

Keys are ``NAMESPACE:slots:METHOD:PATH:...`` with the tag of the key's account
(:func:`fmzokx.okx.pacing.accounts.account_tag`) or, until that is known, the API key's
fingerprint (:func:`fmzokx.okx.credentials.fingerprint`), never a key. Anything that does not look
like a safe word (an odd ``instId`` sent through the ``__api_`` pass-through, say) is
replaced by a hash, so a caller cannot make Redis keys of its own choosing.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence

from attrs import frozen

__all__ = [
    "PRESENCE",
    "PRESENCE_SCRIPT",
    "RESERVE",
    "RESERVE_SCRIPT",
    "Presence",
    "Reply",
    "Script",
    "budget_redis_key",
    "hosts_redis_key",
    "reserve_args",
]

RESERVE = """
local key = KEYS[1]
local hosts_key = KEYS[2]
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local member = ARGV[4]
local not_after = tonumber(ARGV[5])
local hosts = tonumber(ARGV[7])
local share = tonumber(ARGV[8])
local ttl = tonumber(ARGV[9])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function newest()
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if #last == 0 then
    return -window
  end
  return tonumber(last[2]) - now
end
if not_after > 0 and now > not_after then
  -- sent too long ago (Redis was frozen, or the command queued): its caller has given
  -- up, so reserve nothing and do not count its daemon as present
  return {2, 0, now, newest()}
end
redis.call('ZADD', hosts_key, string.format('%d', now), ARGV[6])
redis.call('ZREMRANGEBYSCORE', hosts_key, '-inf', string.format('%d', now - ttl))
redis.call('PEXPIRE', hosts_key, string.format('%d', 2 * ttl))
local absent = hosts - redis.call('ZCARD', hosts_key)
if absent > 0 then
  -- keep the shares of the daemons not heard from free: they may be pacing locally
  limit = math.max(share, limit - absent * share)
end
for i = 10, #ARGV do
  local at = now - tonumber(ARGV[i])
  if at > now - window then
    redis.call('ZADD', key, string.format('%d', at), member .. ':c' .. (i - 9))
  end
end
redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%d', now - window))
local count = redis.call('ZCARD', key)
local when = now
if count > 0 then
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  when = math.max(when, tonumber(last[2]))
end
if count >= limit then
  local kth = redis.call('ZRANGE', key, -limit, -limit, 'WITHSCORES')
  when = math.max(when, tonumber(kth[2]) + window)
end
local wait = when - now
if wait > max_wait then
  -- nothing reserved; carried sends (if any) still need the key to expire
  if count > 0 then
    redis.call('PEXPIRE', key, string.format('%d', math.max(wait, 0) + window))
  end
  return {0, wait, now, newest()}
end
redis.call('ZADD', key, string.format('%d', when), member)
redis.call('PEXPIRE', key, string.format('%d', wait + window))
return {1, wait, now, wait}
"""
"""
KEYS[1] the budget, KEYS[2] the daemons heard from (:func:`hosts_redis_key`); ARGV:
limit, window (ms, guard included), longest wait the caller accepts (ms; negative: only
carry), a member name unique to this reservation, the latest time on Redis's clock at
which the call is still wanted (ms; 0: any), this daemon's name, ``--shared-hosts``, one
daemon's share of the limit, how long a daemon counts as present after it was last heard
from (ms), then the ages in ms of sends to carry. Answers ``{taken, wait_ms, now_ms,
newest_ms}``: taken is 1 (reserved), 0 (too far away) or 2 (expired, nothing done);
``newest_ms`` is the newest slot in the window relative to now, whoever holds it. Times
are whole milliseconds formatted with ``%d``: Lua would otherwise print a 13-digit number
with ``%.14g`` and lose the last digits.
"""

PRESENCE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
local not_after = tonumber(ARGV[3])
if not_after > 0 and now > not_after then
  return now
end
redis.call('ZADD', KEYS[1], string.format('%d', now), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now - ttl))
redis.call('PEXPIRE', KEYS[1], string.format('%d', 2 * ttl))
return now
"""
"""
KEYS[1] the daemons heard from; ARGV: this daemon's name, the presence time (ms), the
latest time on Redis's clock at which the call is still wanted (ms; 0: any; later, it
changes nothing). Answers Redis's time in ms. The heartbeat of a daemon taking shared
slots, and its probe while it paces locally.
"""


@frozen
class Script:
    """A Lua script and its SHA1, the name ``EVALSHA`` knows it by."""

    source: str

    @property
    def sha(self) -> str:
        return hashlib.sha1(self.source.encode("utf-8")).hexdigest()


RESERVE_SCRIPT = Script(RESERVE)
"""The slot script as loaded into Redis."""

PRESENCE_SCRIPT = Script(PRESENCE)
"""The heartbeat script as loaded into Redis."""

_WORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")
_PATH = re.compile(r"^/[a-z0-9/_-]{1,100}$")
_FINGERPRINT = re.compile(r"^((key|acct)-[0-9a-f]{8}|anonymous|ip)$")


def _hashed(value: str) -> str:
    return "h-" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]


def _part(value: str, pattern: re.Pattern[str]) -> str:
    return value if pattern.match(value) else _hashed(value)


def budget_redis_key(namespace: str, key: Sequence[str]) -> str:
    """
    The Redis key of a pacing budget, ``(METHOD, PATH, SCOPE-TAG[, QUALIFIER])`` as
    :func:`fmzokx.okx.pacing.pacer.budget_key` builds it.

    The scope tag must be a key fingerprint, an account tag, ``"anonymous"`` or ``"ip"``;
    anything else (which would mean a caller passed something else) is hashed rather
    than stored, like any qualifier that is not a plain word.
    """
    if len(key) < 3:
        raise ValueError("a budget key is (method, path, scope tag[, qualifier])")
    method, path, tag, *rest = key
    parts = [
        _part(method.upper(), _WORD),
        _part(path, _PATH),
        _part(tag, _FINGERPRINT),
        *(_part(value, _WORD) if value else "-" for value in rest),
    ]
    return f"{namespace}:slots:" + ":".join(parts)


@frozen
class Presence:
    """
    What every script call tells Redis about the daemon making it, so the others keep
    its share free when it stops being heard from.

    :ivar host: this daemon's name (random per process).
    :ivar hosts: ``--shared-hosts``.
    :ivar ttl: seconds a daemon counts as present after it was last heard from.
    """

    host: str
    hosts: int
    ttl: float


def hosts_redis_key(namespace: str) -> str:
    """The sorted set of the daemons heard from, by Redis time."""
    return f"{namespace}:hosts"


def reserve_args(
    limit: int,
    window: float,
    max_wait: float,
    member: str,
    carried_ages: Sequence[float] = (),
    *,
    presence: Presence | None = None,
    not_after_ms: int = 0,
) -> list[str]:
    """
    ARGV for :data:`RESERVE`, all in whole milliseconds.

    The window is rounded up and the longest acceptable wait down, so rounding never
    makes the budget looser; a carried send's age is rounded down (it counts as younger,
    staying in the window longer), and is negative for a slot reserved in the future.
    Without ``presence`` the daemon counts as the only one (``hosts`` 1).
    """
    if presence is None:
        presence = Presence("-", 1, 1.0)
    share = max(1, int(limit) // max(1, presence.hosts))
    args = [
        str(max(1, int(limit))),
        str(max(1, math.ceil(window * 1000))),
        str(math.floor(max_wait * 1000)) if max_wait >= 0 else "-1",
        member,
        str(max(0, int(not_after_ms))),
        presence.host,
        str(presence.hosts),
        str(share),
        str(max(1, math.ceil(presence.ttl * 1000))),
    ]
    args.extend(str(math.floor(age * 1000)) for age in carried_ages)
    return args


@frozen
class Reply:
    """
    What the script answered.

    :ivar taken: the slot was recorded, ``wait`` seconds from now.
    :ivar wait: seconds until the slot (or until the earliest one, when not taken).
    :ivar expired: the call reached Redis after its ``not_after``: nothing was done.
    :ivar now: Redis's clock when it ran the script, in seconds.
    :ivar newest: the newest slot in the window, whoever holds it, in seconds from
        ``now`` (negative: in the past; ``-window`` when the window is empty).
    """

    taken: bool
    wait: float
    expired: bool = False
    now: float = 0.0
    newest: float = 0.0

    @classmethod
    def parse(cls, raw: object) -> Reply:
        """
        Read the script's ``{taken, wait_ms, now_ms, newest_ms}``.

        :raises ValueError: for anything else (a different script under our name).
        """
        if (
            not isinstance(raw, (list, tuple))
            or len(raw) != 4
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in raw)
            or raw[0] not in (0, 1, 2)
        ):
            raise ValueError("the slot script answered something unexpected")
        return cls(
            taken=raw[0] == 1, wait=max(0, raw[1]) / 1000, expired=raw[0] == 2,
            now=raw[2] / 1000, newest=raw[3] / 1000,
        )
