# -*- test-case-name: tests.test_tap -*-
"""
``twistd fmzokx``'s command line: every option, its default, and the check that turns a
bad value into one :class:`~twisted.python.usage.UsageError` naming the option.

Parsing only: nothing here binds a port, opens a file for writing or imports a reactor
(:mod:`fmzokx.tap` builds the daemon from the parsed values). To add an option, add its
row to ``optParameters`` (or ``optFlags``) and, if its value needs checking, one
``_check_*`` method named in :attr:`Options.checks`.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlsplit

from twisted.python import usage

from fmzokx.okx.baseurl import DEFAULT_OKX_URL, is_loopback_host, okx_base_url
from fmzokx.startup import check_endpoint

__all__ = [
    "DEFAULT_LISTEN",
    "DEFAULT_STATUS_LISTEN",
    "Options",
    "is_loopback_endpoint",
    "split_endpoint",
]

DEFAULT_LISTEN = "tcp:6666:interface=127.0.0.1"
DEFAULT_STATUS_LISTEN = "tcp:6680:interface=127.0.0.1"
"""
The status page's own port. Browsers refuse 6666 (and 6665-6669, 6679, 6697: IRC ports on
Chromium's and the Fetch standard's blocked list), so the page a person opens is here.
"""


def is_loopback_endpoint(description: str) -> bool:
    """
    Whether a server endpoint string only accepts connections from this machine.

    ``tcp``/``ssl`` endpoints without ``interface=`` listen on every interface; UNIX
    sockets are local by nature.
    """
    kind, *parts = split_endpoint(description)
    kind = kind.strip().lower()
    if kind == "unix":
        return True
    if kind not in ("tcp", "tcp6", "ssl"):
        return False
    for part in parts:
        name, sep, value = part.partition("=")
        if sep and name.strip().lower() == "interface":
            return is_loopback_host(value.strip().strip("[]"))
    return False


def split_endpoint(description: str) -> list[str]:
    """Split an endpoint string on ``:``, honouring backslash escapes (``\\:\\:1``)."""
    parts = [""]
    escaped = False
    for char in description:
        if escaped:
            parts[-1] += char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ":":
            parts.append("")
        else:
            parts[-1] += char
    return parts


class Options(usage.Options):
    """Options for ``twistd fmzokx``."""

    synopsis = (
        "[--listen ENDPOINT ...] [--status-listen ENDPOINT|none] [--okx-url URL] "
        "[--timeout SECONDS] [--rate-limits on|off] "
        "[--max-body BYTES] [--sandbox] [--market-data ws|rest] [--private-stream on|off] "
        "[--okx-ws-url URL] "
        "[--allow-ip CIDR ...] [--token-file PATH] "
        "[--ca-bundle PEM] [--log-level LEVEL] [--max-connections N] "
        "[--request-timeout SECONDS] "
        "[--shared-state redis://HOST:PORT/DB] [--shared-state-password-file PATH] "
        "[--shared-state-ca PEM] [--shared-hosts N] [--shared-ip] "
        "[--shared-state-timeout MS] [--shared-namespace NAME] "
        "[--journal PATH] [--journal-days DAYS]"
    )
    longdesc = (
        "Serve the FMZ Quant custom protocol and forward each call to OKX v5 as signed "
        "REST calls. Point the FMZ exchange's service address at "
        "http://127.0.0.1:6666/OKX, put the OKX API key in Access Key and "
        "SECRET,PASSPHRASE (or SECRET,PASSPHRASE,simulate for demo trading) in Secret Key. "
        "With --sandbox, an embedded simulated OKX is used instead of the real one."
    )

    optFlags = [
        ["sandbox", None, "Run an embedded simulated OKX (okxsim) and trade against it."],
        [
            "shared-ip",
            None,
            "With --shared-state: the daemons reach OKX through one egress address, so "
            "OKX's per-IP budgets (market data) are shared too.",
        ],
    ]
    optParameters = [
        [
            "status-listen",
            None,
            DEFAULT_STATUS_LISTEN,
            "Also serve /status, /healthz and /metrics (not the RPC) on this endpoint, a port "
            "browsers open (they refuse 6666); 'none' for no second port.",
        ],
        [
            "okx-url",
            None,
            DEFAULT_OKX_URL,
            "OKX REST base URL (https; plain http only for a simulator on this machine).",
        ],
        [
            "market-data",
            None,
            "ws",
            "ws: answer ticker, depth and trades from a live copy of OKX's WebSocket "
            "market data when it is in sync and under 1 s old, else over REST; rest: always "
            "over REST.",
        ],
        [
            "private-stream",
            None,
            "on",
            "on: answer balances, positions and open orders from a live copy kept by OKX's "
            "private WebSocket (one login per API key in use) while it is provably fresh, "
            "else over REST; off: always over REST. Independent of --market-data.",
        ],
        [
            "okx-ws-url",
            None,
            None,
            "OKX WebSocket base URL (wss; plain ws only for a simulator on this machine). "
            "Default: derived from --okx-url (https://www.okx.com -> wss://ws.okx.com:8443, "
            "demo keys wss://wspap.okx.com:8443; http://127.0.0.1:PORT -> ws://127.0.0.1:PORT).",
        ],
        ["timeout", None, "10", "Total deadline for each upstream OKX call, in seconds."],
        [
            "rate-limits",
            None,
            "on",
            "on: pace calls within OKX's published limits; off: no pacing (benchmarks "
            "against okxsim only).",
        ],
        ["max-body", None, str(1024 * 1024), "Largest accepted request body, in bytes."],
        [
            "max-connections",
            None,
            None,
            "Most connections the RPC service holds at once; past it the longest idle "
            "connection is closed first (default: the open-files limit minus 128, at most "
            "4096).",
        ],
        [
            "request-timeout",
            None,
            "10",
            "Seconds a connection has to deliver one whole request (headers and body).",
        ],
        [
            "log-level",
            None,
            "info",
            "Lowest level of fmzokx events to log: debug (every upstream call), info (one "
            "line per docker call), warn, error.",
        ],
        [
            "token-file",
            None,
            None,
            "File holding an access token (16+ characters of A-Z a-z 0-9 _ -); the "
            "service address must then end in -<token>, e.g. http://host:6666/OKX-<token>.",
        ],
        [
            "ca-bundle",
            None,
            None,
            "PEM file of CA certificates to trust for OKX instead of the system store "
            "(e.g. an inspecting proxy's CA). TLS is always verified.",
        ],
        [
            "shared-state",
            None,
            None,
            "redis://[:PASSWORD@]HOST:PORT/DB or rediss:// (TLS): share OKX's per-account "
            "(and per-account-per-instrument) rate budgets with the other daemons trading "
            "the same accounts through this Redis.",
        ],
        [
            "shared-state-password-file",
            None,
            None,
            "File holding the Redis password (first line), instead of putting it in the URL.",
        ],
        [
            "shared-state-ca",
            None,
            None,
            "PEM file of CA certificates to trust for a rediss:// Redis instead of the "
            "system store.",
        ],
        [
            "shared-hosts",
            None,
            None,
            "How many daemons share the budgets (default 2): while Redis is unreachable "
            "each paces on floor(limit / N) of every budget.",
        ],
        [
            "shared-state-timeout",
            None,
            None,
            "Milliseconds a call may wait for Redis before pacing on the local share "
            "(default 50).",
        ],
        [
            "shared-namespace",
            None,
            None,
            "Prefix of the Redis keys (default fmzokx), to keep separate groups of "
            "daemons apart in one Redis.",
        ],
        [
            "journal",
            None,
            None,
            "The order journal (SQLite): every order, cancel and leverage change, written "
            "before it is sent. Default: fmzokx-journal.sqlite3 in the working directory "
            "(twistd --rundir); fmzokx-sandbox-journal.sqlite3 with --sandbox. One daemon "
            "per journal.",
        ],
        ["journal-days", None, "30", "Keep order journal entries this many days."],
    ]

    checks: ClassVar[tuple[str, ...]] = (
        "_check_listen",
        "_check_numbers",
        "_check_journal",
        "_check_rate_limits",
        "_check_okx_url",
        "_market_data_options",
        "_private_stream_option",
        "_check_log_level",
        "_check_token",
        "_shared_state",
        "_check_ca_bundle",
    )
    """The checks :meth:`postOptions` runs, in order (later ones may read earlier results)."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self["listen"] = []
        self["allow-ip"] = []

    def opt_version(self) -> None:
        """Print fmzokx's and Twisted's versions and exit."""
        from fmzokx import __version__
        from twisted import __version__ as twisted_version

        print(f"fmzokx {__version__} (Twisted {twisted_version})")
        raise SystemExit(0)

    def opt_allow_ip(self, value: str) -> None:
        """
        Accept RPC calls (and /metrics, /status, /healthz) from this address or CIDR network
        (repeatable; default: this machine only).
        """
        from fmzokx.fmz.access import parse_allow

        try:
            self["allow-ip"].extend(parse_allow(value))
        except ValueError as error:
            raise usage.UsageError(str(error)) from None

    def opt_listen(self, description: str) -> None:
        """
        Listen on this endpoint (repeatable; default tcp:6666:interface=127.0.0.1).
        A non-loopback address logs a warning: the docker's requests carry your keys.
        """
        self["listen"].append(check_endpoint("--listen", description, DEFAULT_LISTEN))

    def postOptions(self) -> None:
        for check in self.checks:
            getattr(self, check)()

    def _check_listen(self) -> None:
        if not self["listen"]:
            self["listen"] = [DEFAULT_LISTEN]
        status = str(self["status-listen"]).strip()
        if status.lower() == "none":
            self["status-listen"] = None
        else:
            self["status-listen"] = check_endpoint(
                "--status-listen", status, DEFAULT_STATUS_LISTEN
            )
            any_port = split_endpoint(status)[1:2] == ["0"]
            if self["status-listen"] in self["listen"] and not any_port:
                raise usage.UsageError(
                    f"--status-listen {status!r} is also a --listen endpoint: give the status "
                    "page a port of its own, or 'none' (the RPC port serves /status too)"
                )

    def _check_numbers(self) -> None:
        self["timeout"] = _positive_float("--timeout", self["timeout"], maximum=300)
        self["max-body"] = int(_positive_float("--max-body", self["max-body"], maximum=64 << 20))
        self["request-timeout"] = _positive_float(
            "--request-timeout", self["request-timeout"], maximum=300
        )
        if self["max-connections"] is not None:
            self["max-connections"] = _positive_int(
                "--max-connections", self["max-connections"], maximum=1_000_000
            )

    def _check_journal(self) -> None:
        self["journal-days"] = _positive_float(
            "--journal-days", self["journal-days"], maximum=3650
        )
        if self["journal"] is not None:
            self["journal"] = str(self["journal"]).strip()
            if not self["journal"]:
                raise usage.UsageError("--journal needs a file path")

    def _check_rate_limits(self) -> None:
        value = str(self["rate-limits"]).strip().lower()
        if value not in ("on", "off"):
            raise usage.UsageError(f"--rate-limits must be 'on' or 'off', got {value!r}")
        self["rate-limits"] = value == "on"

    def _check_okx_url(self) -> None:
        try:
            self["okx-url"] = okx_base_url(str(self["okx-url"]))
        except ValueError as error:
            raise usage.UsageError(f"--okx-url {error}") from None

    def _check_log_level(self) -> None:
        level = str(self["log-level"]).strip().lower()
        if level not in ("debug", "info", "warn", "error", "critical"):
            raise usage.UsageError(
                f"--log-level must be debug, info, warn or error, got {self['log-level']!r}"
            )
        self["log-level"] = level

    def _check_token(self) -> None:
        self["token"] = None
        if self["token-file"] is not None:
            from fmzokx.fmz.access import load_token

            try:
                self["token"] = load_token(self["token-file"])
            except ValueError as error:
                raise usage.UsageError(str(error)) from None

    def _check_ca_bundle(self) -> None:
        if self["ca-bundle"] is None:
            return
        from pathlib import Path

        from fmzokx.okx.rest.transport import load_trust_root

        if not Path(self["ca-bundle"]).is_file():
            raise usage.UsageError(f"--ca-bundle {self['ca-bundle']!r} is not a readable file")
        if self["sandbox"]:
            raise usage.UsageError("--ca-bundle has no effect with --sandbox (plain HTTP)")
        try:
            load_trust_root(self["ca-bundle"])
        except Exception as error:
            # A truncated or mangled certificate raises from OpenSSL; either way it
            # is a usage error, not a traceback at start-up.
            raise usage.UsageError(
                f"--ca-bundle {self['ca-bundle']!r} is not a PEM file of CA certificates "
                f"({type(error).__name__})"
            ) from None

    def _market_data_options(self) -> None:
        """Check ``--market-data`` and find the WebSocket bases (live, demo) it needs."""
        from fmzokx.okx.stream.urls import UnknownWebSocket, ws_base_url

        mode = str(self["market-data"]).strip().lower()
        if mode not in ("ws", "rest"):
            raise usage.UsageError(f"--market-data must be 'ws' or 'rest', got {mode!r}")
        self["market-data"] = mode
        self["ws-bases"] = None
        given = self["okx-ws-url"]
        if given is not None:
            if self["sandbox"]:
                raise usage.UsageError(
                    "--okx-ws-url has no effect with --sandbox (the embedded okxsim's "
                    "WebSocket is used)"
                )
            if mode == "rest" and str(self["private-stream"]).strip().lower() == "off":
                raise usage.UsageError(
                    "--okx-ws-url has no effect with --market-data rest and --private-stream off"
                )
            base = str(given).strip().rstrip("/")
            parts = urlsplit(base)
            if parts.scheme not in ("wss", "ws") or not parts.hostname or parts.query:
                raise usage.UsageError(
                    f"--okx-ws-url must be a base URL such as wss://ws.okx.com:8443, got {base!r}"
                )
            if parts.scheme == "ws" and not is_loopback_host(parts.hostname):
                raise usage.UsageError(
                    "--okx-ws-url must use wss for a remote host (plain ws is only for a "
                    f"simulator on this machine), got {base!r}"
                )
            live = f"{parts.scheme}://{parts.netloc}"
            try:
                demo = ws_base_url(self["okx-url"], simulated=True)
            except UnknownWebSocket:
                demo = live
            self["ws-bases"] = (live, demo)
        elif mode == "ws" and not self["sandbox"]:
            try:
                self["ws-bases"] = (
                    ws_base_url(self["okx-url"]),
                    ws_base_url(self["okx-url"], simulated=True),
                )
            except UnknownWebSocket as error:
                raise usage.UsageError(str(error)) from None

    def _private_stream_option(self) -> None:
        """Check ``--private-stream``; it needs the WebSocket bases too."""
        from fmzokx.okx.stream.urls import UnknownWebSocket, ws_base_url

        mode = str(self["private-stream"]).strip().lower()
        if mode not in ("on", "off"):
            raise usage.UsageError(f"--private-stream must be 'on' or 'off', got {mode!r}")
        self["private-stream"] = mode
        if mode == "on" and self["ws-bases"] is None and not self["sandbox"]:
            try:
                self["ws-bases"] = (
                    ws_base_url(self["okx-url"]),
                    ws_base_url(self["okx-url"], simulated=True),
                )
            except UnknownWebSocket as error:
                raise usage.UsageError(f"{error}, or --private-stream off") from None

    def _shared_state(self) -> None:
        """``--shared-*`` into ``self["shared"]``: the settings, or ``None``."""
        from fmzokx.okx.pacing.shared.settings import settings_from_options

        try:
            shared = settings_from_options(
                self["shared-state"],
                password_file=self["shared-state-password-file"],
                ca_bundle=self["shared-state-ca"],
                hosts=self["shared-hosts"],
                shared_ip=bool(self["shared-ip"]),
                timeout_ms=self["shared-state-timeout"],
                namespace=self["shared-namespace"],
            )
        except ValueError as error:
            raise usage.UsageError(str(error)) from None
        if shared is not None and not self["rate-limits"]:
            raise usage.UsageError(
                "--shared-state shares the rate budgets, which --rate-limits off turns off"
            )
        self["shared"] = shared


def _positive_float(option: str, value: Any, maximum: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise usage.UsageError(f"{option} must be a number, got {value!r}") from None
    if not 0 < number <= maximum:
        raise usage.UsageError(f"{option} must be between 0 and {maximum:g}, got {value!r}")
    return number


def _positive_int(option: str, value: Any, maximum: int) -> int:
    text = str(value).strip()
    if not text.isascii() or not text.isdigit():
        raise usage.UsageError(f"{option} must be a whole number, got {value!r}")
    number = int(text)
    if not 0 < number <= maximum:
        raise usage.UsageError(f"{option} must be between 1 and {maximum}, got {value!r}")
    return number


