# -*- test-case-name: tests.ops.test_call -*-
"""
``fmzokx-call``: send one call to a running fmzokx exactly as the FMZ docker would.

Debugging a deployment otherwise means running a strategy on FMZ and reading its log;
this posts the docker's envelope (``access_key``, ``secret_key``, ``method``, ``params``
as strings, a nanosecond ``nonce``) to the service address and pretty-prints the reply::

    fmzokx-call ticker symbol=BTC_USDT
    FMZOKX_ACCESS_KEY=... FMZOKX_SECRET_KEY=SECRET,PASSPHRASE fmzokx-call accounts
    fmzokx-call --http-method POST __api_/api/v5/account/set-leverage instId=BTC-USDT-SWAP \\
        lever=5 mgnMode=cross

Exit status: 0 for a ``data`` reply, 1 for an ``error`` reply, 2 for a usage error, 3 when
no usable reply arrived (connection refused, timeout, not JSON), 141 when standard output
was closed before the reply was printed (``| head``), silently.

Keys come from ``FMZOKX_ACCESS_KEY`` / ``FMZOKX_SECRET_KEY`` unless given as options, so
they can stay out of shell history; the envelope is never echoed, and ``--verbose`` masks
the credentials and anything that looks like a path token. It runs on treq under
:func:`twisted.internet.task.react`, with the default (certificate-verifying) TLS policy.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

from attrs import field, frozen
from twisted.internet.defer import CancelledError, ensureDeferred
from twisted.internet.error import ConnectError, DNSLookupError
from twisted.internet.interfaces import IReactorTime
from twisted.web.client import ResponseFailed, ResponseNeverReceived

from fmzokx import __version__
from fmzokx.deferreds import with_deadline

__all__ = ["CallArgs", "HttpClient", "Reply", "main", "parse_args", "run"]

DEFAULT_URL = "http://127.0.0.1:6666/OKX"
DEFAULT_TIMEOUT = 30.0
ENV_KEY = "FMZOKX_ACCESS_KEY"
ENV_SECRET = "FMZOKX_SECRET_KEY"

EXIT_DATA = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NO_REPLY = 3
EXIT_BROKEN_PIPE = 141
"""Standard output was closed early (``fmzokx-call ... | head``): 128 + SIGPIPE, as a shell."""

_MASK = "<redacted>"
_TOKENISH = re.compile(r"^[A-Za-z0-9_-]{16,}$")


class UsageError(Exception):
    """The command line is wrong; the message says how."""


class NoReply(Exception):
    """No usable reply arrived; the message says why."""


@frozen
class CallArgs:
    """A parsed command line."""

    url: str
    method: str
    params: dict[str, Any]
    key: str = field(repr=False)
    secret: str = field(repr=False)
    http_method: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    verbose: bool = False
    secret_on_command_line: bool = False


@frozen
class Reply:
    """What came back: HTTP status and body."""

    status: int
    body: bytes


HttpClient = Any
"""A :class:`treq.client.HTTPClient`, or a :class:`treq.testing.StubTreq` in tests."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fmzokx-call",
        description=(
            "Send one call to fmzokx as the FMZ docker would and print the reply. "
            f"Keys default to ${ENV_KEY} and ${ENV_SECRET} (keeps them out of shell "
            "history). Exit status: 0 data, 1 error reply, 2 usage, 3 no usable reply."
        ),
        epilog=(
            "examples: fmzokx-call ticker symbol=BTC_USDT | "
            "fmzokx-call records symbol=ETH_USDT period=60 limit=10 | "
            "fmzokx-call --http-method POST __api_/api/v5/trade/cancel-order "
            "instId=BTC-USDT ordId=123 | a value given as name:=JSON is sent as JSON"
        ),
    )
    parser.add_argument("--version", action="version", version=f"fmzokx {__version__}")
    parser.add_argument(
        "--url", default=DEFAULT_URL, help=f"the service address (default {DEFAULT_URL})"
    )
    parser.add_argument("--key", help=f"OKX API key (default ${ENV_KEY})")
    parser.add_argument(
        "--secret",
        metavar="S,P[,simulate]",
        help=f"SECRET,PASSPHRASE or SECRET,PASSPHRASE,simulate (default ${ENV_SECRET})",
    )
    parser.add_argument(
        "--http-method",
        metavar="VERB",
        help="send the Http-Method header (the verb of an __api_ pass-through call)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help=f"give up after S seconds (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="print the request to stderr, credentials masked",
    )
    parser.add_argument("method", metavar="METHOD", help="e.g. ticker, accounts, __api_/api/v5/...")
    parser.add_argument(
        "params", nargs="*", metavar="key=value", help="parameters, sent as strings"
    )
    return parser


def parse_args(argv: Sequence[str], environ: Mapping[str, str]) -> CallArgs:
    """
    Parse the command line.

    :raises UsageError: for a malformed option or parameter.
    :raises SystemExit: for ``--help`` (argparse prints it).
    """
    parser = _parser()
    # argparse reports its own errors by printing usage and exiting with status 2,
    # which is this tool's usage status too.
    options = parser.parse_args(list(argv))
    url = options.url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--url must be an http:// or https:// address such as {DEFAULT_URL}")
    if not options.timeout > 0:
        raise UsageError("--timeout must be a positive number of seconds")
    method = options.method.strip()
    if not method:
        raise UsageError("METHOD must not be empty (e.g. ticker)")
    params: dict[str, Any] = {}
    for item in options.params:
        name, sep, value = item.partition("=")
        as_json = name.endswith(":")
        name = name[:-1] if as_json else name
        if not sep or not name:
            raise UsageError(
                f"parameter {_shown_param(item)!r} must be written key=value (e.g. symbol=BTC_USDT)"
            )
        if name in params:
            raise UsageError(f"parameter {name!r} is given twice")
        if as_json:
            try:
                params[name] = json.loads(value)
            except ValueError:
                raise UsageError(f"parameter {name!r}: the value after ':=' is not JSON") from None
        else:
            params[name] = value
    http_method = options.http_method.strip().upper() if options.http_method else None
    if http_method is not None and not re.fullmatch(r"[A-Z]+", http_method):
        raise UsageError("--http-method must be a verb such as GET or POST")
    return CallArgs(
        url=url,
        method=method,
        params=params,
        key=options.key if options.key is not None else environ.get(ENV_KEY, ""),
        secret=options.secret if options.secret is not None else environ.get(ENV_SECRET, ""),
        http_method=http_method,
        timeout=options.timeout,
        verbose=options.verbose,
        secret_on_command_line=options.secret is not None,
    )


def _shown_param(item: str) -> str:
    return item if len(item) <= 40 else item[:37] + "..."


def envelope(args: CallArgs, nonce: int) -> dict[str, Any]:
    """The docker's request body for ``args``."""
    return {
        "access_key": args.key,
        "secret_key": args.secret,
        "method": args.method,
        "params": args.params,
        "nonce": nonce,
    }


def shown_url(url: str) -> str:
    """``url`` with anything shaped like an access token (16+ token characters) masked."""
    parts = urlsplit(url)
    segments = []
    for segment in parts.path.split("/"):
        pieces = segment.split("-")
        for index, piece in enumerate(pieces):
            if _TOKENISH.match(piece):
                pieces[index] = "<token>"
        shown = "-".join(pieces)
        segments.append("<token>" if _TOKENISH.match(segment) and len(pieces) == 1 else shown)
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, "/".join(segments), "", ""))


async def send(args: CallArgs, body: bytes, http: HttpClient, clock: IReactorTime) -> Reply:
    """
    POST ``body`` to ``args.url`` and read the whole reply within ``args.timeout``.

    :raises NoReply: when the connection fails or the deadline passes.
    """
    headers = {"Content-Type": ["application/json"]}
    if args.http_method:
        headers["Http-Method"] = [args.http_method]

    async def exchange() -> Reply:
        response = await http.request(
            "POST", args.url, data=body, headers=headers, allow_redirects=False
        )
        content: bytes = await response.content()
        return Reply(status=int(response.code), body=content)

    where = shown_url(args.url)

    def timed_out() -> NoReply:
        return NoReply(f"no reply from {where} within {args.timeout:g} s")

    try:
        # The verdict comes first, then the request is cancelled: how the agent reports
        # its cancellation (CancelledError, or ResponseNeverReceived wrapping it) is moot.
        return await with_deadline(ensureDeferred(exchange()), clock, args.timeout, timed_out)
    except NoReply:
        raise
    except CancelledError:
        raise timed_out() from None
    except Exception as error:
        raise _no_reply(error, where) from None


def _no_reply(error: Exception, where: str) -> NoReply:
    """Explain a failed request in a sentence."""
    if isinstance(error, ConnectError):
        reason = "connection refused" if "refused" in str(error).lower() else _describe(error)
        return NoReply(
            f"cannot connect to {where}: {reason} (is fmzokx running and listening there?)"
        )
    if isinstance(error, DNSLookupError):
        return NoReply(f"cannot resolve the host of {where}")
    if isinstance(error, (ResponseFailed, ResponseNeverReceived)):
        return NoReply(
            f"the connection to {where} failed before a complete reply: {_reasons(error)}"
        )
    return NoReply(f"request to {where} failed: {_describe(error)}")


def _describe(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _reasons(error: ResponseFailed | ResponseNeverReceived) -> str:
    reasons = getattr(error, "reasons", None) or []
    texts = [_describe(reason.value) for reason in reasons if hasattr(reason, "value")]
    return "; ".join(texts) or _describe(error)


def report(reply: Reply, stdout: IO[str], stderr: IO[str]) -> int:
    """Print the reply and return the exit status it calls for."""
    try:
        document = json.loads(reply.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        snippet = reply.body[:200].decode("utf-8", "replace")
        print(
            f"fmzokx-call: HTTP {reply.status} with a reply that is not JSON "
            f"(is this address really fmzokx?): {snippet!r}",
            file=stderr,
        )
        return EXIT_NO_REPLY
    print(json.dumps(document, indent=2, ensure_ascii=False), file=stdout)
    if isinstance(document, dict) and "error" in document:
        status = "" if reply.status == 200 else f"HTTP {reply.status}: "
        print(f"fmzokx-call: {status}{document['error']}", file=stderr)
        return EXIT_ERROR
    if isinstance(document, dict) and "data" in document and reply.status == 200:
        return EXIT_DATA
    print(
        f"fmzokx-call: HTTP {reply.status} with JSON that has neither 'data' nor 'error'",
        file=stderr,
    )
    return EXIT_NO_REPLY


async def run(
    argv: Sequence[str],
    *,
    http: HttpClient,
    clock: IReactorTime,
    stdout: IO[str],
    stderr: IO[str],
    environ: Mapping[str, str],
    nonce: int | None = None,
) -> int:
    """The whole tool with its collaborators injected; returns the exit status."""
    try:
        args = parse_args(argv, environ)
    except UsageError as error:
        print(f"fmzokx-call: {error}", file=stderr)
        return EXIT_USAGE
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else EXIT_USAGE
    if args.secret_on_command_line:
        print(
            f"fmzokx-call: note: --secret ends up in shell history; ${ENV_SECRET} does not",
            file=stderr,
        )
    if nonce is None:
        # The docker's nonce is wall-clock nanoseconds; a one-shot CLI has no reactor
        # clock worth injecting, and time_ns() is exactly that value.
        nonce = time.time_ns()
    document = envelope(args, nonce)
    if args.verbose:
        shown = dict(document)
        for name in ("access_key", "secret_key"):
            shown[name] = _MASK if shown[name] else ""
        verb = f" (Http-Method: {args.http_method})" if args.http_method else ""
        print(f"POST {shown_url(args.url)}{verb}", file=stderr)
        print(json.dumps(shown, indent=2, ensure_ascii=False), file=stderr)
    body = json.dumps(document, ensure_ascii=False).encode("utf-8")
    try:
        reply = await send(args, body, http, clock)
    except NoReply as error:
        print(f"fmzokx-call: {error}", file=stderr)
        return EXIT_NO_REPLY
    try:
        return report(reply, stdout, stderr)
    except BrokenPipeError:
        # The reader (head, grep -q) has what it wanted; nothing to complain about.
        return EXIT_BROKEN_PIPE


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point: ``fmzokx-call [options] METHOD [key=value ...]``."""
    from treq.client import HTTPClient
    from twisted.internet.task import react
    from twisted.web.client import Agent, HTTPConnectionPool

    arguments = list(sys.argv[1:] if argv is None else argv)
    codes: list[int] = []

    async def go(reactor: Any) -> None:
        pool = HTTPConnectionPool(reactor, persistent=False)
        http = HTTPClient(Agent(reactor, pool=pool))
        codes.append(
            await run(
                arguments,
                http=http,
                clock=reactor,
                stdout=sys.stdout,
                stderr=sys.stderr,
                environ=os.environ,
            )
        )

    try:
        react(go)
    except SystemExit:
        pass
    if codes and codes[0] == EXIT_BROKEN_PIPE:
        # Python would report the closed pipe again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return codes[0] if codes else EXIT_NO_REPLY
