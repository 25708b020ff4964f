"""twistd plugin: ``twistd fmzokx`` (lazy: nothing is imported until the plugin is used)."""

from typing import Any

from twisted.application.service import IServiceMaker
from twisted.plugin import IPlugin
from zope.interface import implementer


@implementer(IPlugin, IServiceMaker)
class _Fmzokx:
    """Like ``ServiceMaker("fmzokx", "fmzokx.tap", ...)``, with one-line usage errors."""

    tapname = "fmzokx"
    module = "fmzokx.tap"
    description = "FMZ Quant custom-protocol gateway to OKX v5"

    @property
    def options(self) -> Any:
        from fmzokx.startup import command_line
        from fmzokx.tap import Options

        return command_line(Options, "fmzokx")

    def makeService(self, options: Any) -> Any:
        from fmzokx.tap import makeService

        return makeService(options)


fmzokx = _Fmzokx()
