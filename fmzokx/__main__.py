# -*- test-case-name: tests.ops.test_main -*-
"""
``python -m fmzokx``: the operator's commands, from one table.

::

    python -m fmzokx --version
    python -m fmzokx call ticker symbol=BTC_USDT

Works wherever the package is importable, including a virtual environment whose
``bin/`` is not on ``PATH``. Each command is a ``main(argv) -> int`` named by its dotted
path in :data:`COMMANDS` and imported only when chosen, so ``--version`` and ``--help``
load neither Twisted nor a reactor. A new command is one more row in the table.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from importlib import import_module
from typing import IO, cast

from attrs import frozen

from fmzokx import __version__

__all__ = ["COMMANDS", "Command", "main", "usage"]

PROG = "python -m fmzokx"
EXIT_USAGE = 2

CommandMain = Callable[[Sequence[str]], int]


@frozen
class Command:
    """
    One subcommand.

    :ivar summary: one line for ``--help``.
    :ivar entry: ``"module:function"``; the function takes the arguments after the
        command's name and returns the exit status.
    """

    summary: str
    entry: str

    def load(self) -> CommandMain:
        """Import the command's module and return its ``main``."""
        module_name, _, function = self.entry.partition(":")
        return cast(CommandMain, getattr(import_module(module_name), function))


COMMANDS: Mapping[str, Command] = {
    "call": Command(
        summary="send one call as the FMZ docker would and print the reply "
        "(the same as fmzokx-call)",
        entry="fmzokx.call:main",
    ),
    "journal": Command(
        summary="list what the daemon sent OKX and what became of it, from the order "
        "journal (read-only, safe while the daemon runs)",
        entry="fmzokx.journal.cli:main",
    ),
}


def usage(commands: Mapping[str, Command] = COMMANDS) -> str:
    """The ``--help`` text: synopsis and one line per command."""
    width = max((len(name) for name in commands), default=0)
    lines = [
        f"usage: {PROG} [--version] COMMAND [ARGS ...]",
        "",
        "Operator commands for the fmzokx gateway (the daemon itself is `twistd fmzokx`).",
        "",
        "commands:",
        *(f"  {name.ljust(width)}  {command.summary}" for name, command in commands.items()),
        "",
        f"`{PROG} COMMAND --help` describes a command.",
    ]
    return "\n".join(lines) + "\n"


def main(
    argv: Sequence[str] | None = None,
    *,
    commands: Mapping[str, Command] = COMMANDS,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """Run one command; returns the exit status (2 for a usage error)."""
    out = sys.stdout if stdout is None else stdout
    err = sys.stderr if stderr is None else stderr
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments:
        err.write(usage(commands))
        return EXIT_USAGE
    first, rest = arguments[0], arguments[1:]
    if first in ("-h", "--help", "help"):
        out.write(usage(commands))
        return 0
    if first in ("-V", "--version"):
        out.write(f"fmzokx {__version__}\n")
        return 0
    command = commands.get(first)
    if command is None:
        err.write(
            f"{PROG}: unknown command {first!r}; commands: {', '.join(commands)} "
            f"(see {PROG} --help)\n"
        )
        return EXIT_USAGE
    return command.load()(rest)


if __name__ == "__main__":
    sys.exit(main())
