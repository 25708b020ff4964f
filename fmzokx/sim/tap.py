# -*- test-case-name: tests.sim.test_tap -*-
"""
``twistd okxsim``: the simulated OKX as a standalone service.

Only the command line lives here: option parsing and validation (:class:`SimulatorOptions`;
:data:`Options`, what twistd parses, turns a usage error into one line and exit status 1)
and building the service tree. The reactor is imported inside :func:`build` so that
importing this module (as the twistd plugin does lazily) has no side effects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twisted.application.service import IService, MultiService
from twisted.internet.endpoints import serverFromString
from twisted.logger import Logger
from twisted.python import usage
from twisted.web.server import Site

from fmzokx.sim.model import SimAccount
from fmzokx.sim.simulator import DEFAULT_ACCOUNT, Simulator
from fmzokx.startup import ListenService, built_or_exit, check_endpoint, command_line

__all__ = [
    "Options",
    "SimulatorOptions",
    "SimulatorService",
    "build",
    "makeService",
    "parse_account",
    "simulator_service",
]

DEFAULT_LISTEN = "tcp:8443:interface=127.0.0.1"
log = Logger()


def parse_account(spec: str) -> SimAccount:
    """
    Parse ``KEY:SECRET:PASSPHRASE`` (the passphrase may itself contain ``:``).

    :raises usage.UsageError: when a part is missing or empty.
    """
    parts = spec.split(":", 2)
    if len(parts) != 3 or not all(parts):
        raise usage.UsageError(
            "--account must be KEY:SECRET:PASSPHRASE with three non-empty parts "
            "(e.g. --account mykey:mysecret:mypass)"
        )
    return SimAccount(key=parts[0], secret=parts[1], passphrase=parts[2])


class SimulatorOptions(usage.Options):
    """Command line of ``twistd okxsim``."""

    synopsis = "[--listen ENDPOINT]... [--account KEY:SECRET:PASSPHRASE]... [options]"
    longdesc = (
        "Serve a simulated OKX v5 exchange: REST, and OKX's WebSocket at /ws/v5/public, "
        "/ws/v5/business and /ws/v5/private on the same port (plain HTTP and ws://). "
        "Without --account the "
        f"documented demo account is used: key {DEFAULT_ACCOUNT.key}, secret "
        f"{DEFAULT_ACCOUNT.secret}, passphrase {DEFAULT_ACCOUNT.passphrase}."
    )
    optParameters: list[list[Any]] = [
        ["latency", None, "0", "Milliseconds added to every /api/v5 reply."],
        ["seed", None, "1", "Seed of the deterministic market (an integer)."],
        ["rate-limits", None, "on", "Enforce OKX's published rate limits: on or off."],
    ]

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self["listen"] = []
        self["accounts"] = []

    def opt_listen(self, endpoint: str) -> None:
        """Endpoint to listen on (repeatable; default tcp:8443:interface=127.0.0.1)."""
        self["listen"].append(check_endpoint("--listen", endpoint, DEFAULT_LISTEN))

    def opt_account(self, spec: str) -> None:
        """A funded account KEY:SECRET:PASSPHRASE (repeatable; default: the demo account)."""
        self["accounts"].append(parse_account(spec))

    def postOptions(self) -> None:
        """Validate and normalise the option values."""
        try:
            self["latency"] = float(self["latency"])
        except ValueError:
            raise usage.UsageError(
                f"--latency must be a number of milliseconds, got {self['latency']!r}"
            ) from None
        if not 0 <= self["latency"] < 3_600_000:
            raise usage.UsageError("--latency must be between 0 and 3600000 milliseconds")
        try:
            self["seed"] = int(self["seed"])
        except ValueError:
            raise usage.UsageError(f"--seed must be an integer, got {self['seed']!r}") from None
        mode = str(self["rate-limits"]).lower()
        if mode not in ("on", "off"):
            raise usage.UsageError(f"--rate-limits must be 'on' or 'off', got {mode!r}")
        self["rate-limits"] = mode == "on"
        keys = [account.key for account in self["accounts"]]
        if len(set(keys)) != len(keys):
            raise usage.UsageError("each --account must have a different KEY")
        if not self["accounts"]:
            self["accounts"] = [DEFAULT_ACCOUNT]
        if not self["listen"]:
            self["listen"] = [DEFAULT_LISTEN]


Options = command_line(SimulatorOptions, "okxsim")
"""The command line as twistd parses it: a usage error is one line and exit status 1."""


class SimulatorService(MultiService):
    """The listening services of one simulator; ``simulator`` is the running instance."""

    def __init__(self, simulator: Simulator) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.simulator = simulator


def simulator_service(
    reactor: Any, simulator: Simulator, endpoints: Sequence[str]
) -> SimulatorService:
    """Serve ``simulator`` on each endpoint description (used by ``--sandbox`` too)."""
    service = SimulatorService(simulator)
    site = Site(simulator.resource())
    site.displayTracebacks = False
    for description in endpoints:
        endpoint = serverFromString(reactor, description)
        ListenService(endpoint, site, description).setServiceParent(service)  # type: ignore[no-untyped-call]
    return service


def makeService(options: usage.Options) -> IService:  # noqa: N802 (twistd's name)
    """
    The okxsim service tree, its ports bound: a port that is taken is one line on
    standard error and exit status 1, as for ``twistd fmzokx``.
    """
    return built_or_exit(build, options, "okxsim")


def build(options: usage.Options) -> MultiService:
    """Build the okxsim service tree from parsed :class:`Options` (nothing bound yet)."""
    from twisted.internet import reactor

    simulator = Simulator(
        reactor,
        seed=options["seed"],
        accounts=options["accounts"],
        rate_limits=options["rate-limits"],
        latency_ms=options["latency"],
    )
    for account in simulator.accounts:
        log.info("okxsim account {key}", key=account.key)
    log.info(
        "okxsim seed {seed}, rate limits {limits}, latency {latency} ms, listening on {listen}",
        seed=options["seed"],
        limits="on" if options["rate-limits"] else "off",
        latency=options["latency"],
        listen=", ".join(options["listen"]),
    )
    return simulator_service(reactor, simulator, options["listen"])
