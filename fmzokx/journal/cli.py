# -*- test-case-name: tests.journal.test_cli -*-
"""
Read the order journal: what the daemon sent to OKX and what became of it.

::

    python -m fmzokx.journal.cli [--journal PATH] [--since WHEN] [--until WHEN]
        [--inst INSTID] [--outcome OUTCOME] [--kind KIND] [--limit N] [--json]

The journal is opened read-only and without the daemon's lock, so this works while the
daemon runs (WAL lets readers in) and changes nothing. ``WHEN`` is ISO 8601
(``2026-11-25``, ``2026-11-25T12:00``, with an offset or else UTC) or a span back from
now (``90s``, ``30m``, ``2h``, ``7d``, ``2w``). Output is an aligned table, oldest first,
or one JSON object per line with ``--json``. The journal holds no secret, so none can be
shown: keys appear as their fingerprint.

Exit status: 0 (also when nothing matches), 1 when the journal cannot be read, 2 for a
usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import IO, Any

from attrs import asdict

from fmzokx.journal import entries
from fmzokx.journal.database import JournalDb
from fmzokx.journal.entries import AuditFilter
from fmzokx.journal.errors import JournalError
from fmzokx.journal.records import (
    CANCEL_OUTCOMES,
    KINDS,
    LEVERAGE_OUTCOMES,
    ORDER_OUTCOMES,
    PENDING,
    CancelEntry,
    Entry,
    OrderEntry,
)
from fmzokx.journal.store import DEFAULT_JOURNAL, SANDBOX_JOURNAL

__all__ = ["main", "parse_when", "run"]

EXIT_OK = 0
EXIT_JOURNAL = 1
EXIT_USAGE = 2

OUTCOMES = tuple(dict.fromkeys((PENDING, *ORDER_OUTCOMES, *CANCEL_OUTCOMES, *LEVERAGE_OUTCOMES)))
_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
COLUMNS = ("TIME (UTC)", "KIND", "KEY", "INST", "REQUEST", "CLORDID", "OUTCOME", "ORDID",
           "SETTLED", "REASON")


def parse_when(text: str, now: float) -> int:
    """
    ``text`` as milliseconds since the epoch: ISO 8601 (naive = UTC) or a span before
    ``now`` (seconds) such as ``2h``.

    :raises ValueError: neither.
    """
    span = _SPAN.match(text)
    if span:
        return int((now - float(span.group(1)) * _UNIT[span.group(2).lower()]) * 1000)
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is neither ISO 8601 (2026-11-25T12:00) nor a span such as 2h, 30m, 7d"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return int(when.timestamp() * 1000)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fmzokx journal",
        description="List what fmzokx sent to OKX (orders, cancels, leverage changes) and "
        "what became of each, from its order journal. Read-only; safe while the daemon runs.",
    )
    parser.add_argument(
        "--journal", metavar="PATH", default=None,
        help=f"the journal file (default: {DEFAULT_JOURNAL} in the current directory, as "
        "the daemon's default in its working directory)",
    )
    parser.add_argument(
        "--sandbox", action="store_true",
        help=f"read the --sandbox daemon's journal ({SANDBOX_JOURNAL}) instead",
    )
    parser.add_argument("--since", metavar="WHEN",
                        help="only entries created at or after WHEN (ISO 8601 or 2h, 7d...)")
    parser.add_argument("--until", metavar="WHEN", help="only entries created before WHEN")
    parser.add_argument("--inst", metavar="INSTID", help="only this OKX instId (BTC-USDT-SWAP)")
    parser.add_argument("--outcome", choices=OUTCOMES,
                        help="only entries with this outcome (pending: none yet)")
    parser.add_argument("--kind", choices=KINDS, action="append",
                        help="only this kind (repeatable; default: all)")
    parser.add_argument("--limit", type=int, default=1000,
                        help="at most this many entries, the newest (default 1000)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    return parser


def run(
    argv: Sequence[str],
    stdout: IO[str],
    stderr: IO[str],
    now: Callable[[], float] = time.time,
) -> int:
    """The command with its streams and clock given (what the tests call)."""
    parser = _parser()
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exit:
        return EXIT_OK if exit.code == 0 else EXIT_USAGE
    if args.journal is not None and args.sandbox:
        print("journal: give --journal or --sandbox, not both", file=stderr)
        return EXIT_USAGE
    path = args.journal or (SANDBOX_JOURNAL if args.sandbox else DEFAULT_JOURNAL)
    try:
        current = now()
        wanted = AuditFilter(
            since=None if args.since is None else parse_when(args.since, current),
            until=None if args.until is None else parse_when(args.until, current),
            inst_id=args.inst.strip().upper() if args.inst else None,
            outcome=args.outcome,
            kinds=tuple(dict.fromkeys(args.kind)) if args.kind else KINDS,
            limit=args.limit,
        )
    except ValueError as error:
        print(f"journal: {error}", file=stderr)
        return EXIT_USAGE
    try:
        db = JournalDb.open_readonly(path)
        try:
            found = db.read(lambda c: entries.audit(c, wanted))
        finally:
            db.close()
    except JournalError as error:
        print(f"journal: {error}{_sandbox_hint(args.journal, args.sandbox)}", file=stderr)
        return EXIT_JOURNAL
    if args.json:
        for entry in found:
            stdout.write(json.dumps(entry_json(entry), sort_keys=True) + "\n")
    elif found:
        stdout.write(table([row(entry) for entry in found]))
    if not found:
        print(f"journal: no entries match in {db.path}", file=stderr)
    return EXIT_OK


def _sandbox_hint(journal: str | None, sandbox: bool) -> str:
    """
    Run without ``--journal`` where only the ``--sandbox`` daemon has written a journal
    (the quick start's directory): say so, rather than only that the default is missing.
    """
    if journal is not None or sandbox or os.path.exists(DEFAULT_JOURNAL):
        return ""
    if not os.path.exists(SANDBOX_JOURNAL):
        return ""
    return f"; the --sandbox daemon's journal {SANDBOX_JOURNAL} is here: add --sandbox"


def main(argv: list[str] | None = None) -> int:
    """``python -m fmzokx.journal.cli``: the console entry point."""
    return run(sys.argv[1:] if argv is None else argv, sys.stdout, sys.stderr)


# -- formatting -----------------------------------------------------------------------


def iso(ms: int | None, for_json: bool = False) -> str:
    """
    UTC time of a journal timestamp, to the millisecond ("" for none): ``2026-11-25
    12:11:08.041`` for the table, ``2026-11-25T12:11:08.041Z`` for JSON.
    """
    if ms is None:
        return ""
    moment = datetime.fromtimestamp(ms // 1000, tz=timezone.utc)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S" if for_json else "%Y-%m-%d %H:%M:%S")
    return f"{text}.{ms % 1000:03d}" + ("Z" if for_json else "")


def outcome_text(entry: Entry) -> str:
    if entry.outcome is None:
        return PENDING
    if isinstance(entry, OrderEntry) and entry.unknown_at is not None and entry.settled:
        return f"{entry.outcome} (was unknown)"
    return entry.outcome


def request_text(entry: Entry) -> str:
    """What was asked of OKX, in a few words."""
    if isinstance(entry, OrderEntry):
        words = [entry.side, entry.ord_type, entry.size]
        if entry.price:
            words += ["@", entry.price]
        words.append(entry.td_mode)
        if entry.pos_side:
            words.append(entry.pos_side)
        return " ".join(words)
    if isinstance(entry, CancelEntry):
        return "cancel"
    words = ["lever", entry.lever, entry.mgn_mode]
    if entry.pos_side:
        words.append(entry.pos_side)
    return " ".join(words)


def row(entry: Entry) -> tuple[str, ...]:
    """One table row; columns as :data:`COLUMNS`."""
    cl_ord_id = ord_id = ""
    if isinstance(entry, (OrderEntry, CancelEntry)):
        cl_ord_id = entry.cl_ord_id or ""
        ord_id = entry.ord_id or ""
    reason = " ".join((entry.reason or "").split())
    return (
        iso(entry.created), entry.kind, entry.key_fp, entry.inst_id, request_text(entry),
        cl_ord_id, outcome_text(entry), ord_id, iso(entry.outcome_at), reason,
    )


def table(rows: Sequence[tuple[str, ...]]) -> str:
    """Rows under :data:`COLUMNS`, each column as wide as its widest cell (last unpadded)."""
    widths = [max(len(cells[i]) for cells in (COLUMNS, *rows)) for i in range(len(COLUMNS))]
    lines = []
    for cells in (COLUMNS, *rows):
        padded = [cell.ljust(width) for cell, width in zip(cells[:-1], widths[:-1], strict=True)]
        lines.append("  ".join([*padded, cells[-1]]).rstrip())
    return "\n".join(lines) + "\n"


def entry_json(entry: Entry) -> dict[str, Any]:
    """Every stored field, plus ``kind`` and ISO times; ``body``/``reply`` as JSON values."""
    document: dict[str, Any] = {"kind": entry.kind, **asdict(entry)}
    document["time"] = iso(entry.created, for_json=True)
    document["outcome_time"] = iso(entry.outcome_at, for_json=True) or None
    if isinstance(entry, OrderEntry):
        document["unknown_time"] = iso(entry.unknown_at, for_json=True) or None
        for name in ("body", "reply"):
            text = document.get(name)
            if isinstance(text, str):
                try:
                    document[name] = json.loads(text)
                except ValueError:
                    pass
    return document


if __name__ == "__main__":
    raise SystemExit(main())
