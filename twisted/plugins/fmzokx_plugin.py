"""twistd plugin: ``twistd fmzokx`` (lazy: nothing is imported until the plugin is used)."""

from twisted.application.service import ServiceMaker

fmzokx = ServiceMaker("fmzokx", "fmzokx.tap", "FMZ Quant gateway to OKX v5", "fmzokx")
