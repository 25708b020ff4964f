"""twistd plugin: ``twistd okxsim`` (lazy: nothing is imported until the plugin is used)."""

from twisted.application.service import ServiceMaker

okxsim = ServiceMaker("okxsim", "fmzokx.sim.tap", "A simulated OKX v5 exchange", "okxsim")
