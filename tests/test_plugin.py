"""The twistd plugins are discoverable and lazy."""

from __future__ import annotations

from twisted.application.service import IServiceMaker
from twisted.plugin import getPlugins


def test_fmzokx_plugin_is_found() -> None:
    """getPlugins(IServiceMaker) finds tapname 'fmzokx' pointing at fmzokx.tap."""
    makers = {maker.tapname: maker for maker in getPlugins(IServiceMaker)}
    assert "fmzokx" in makers
    assert makers["fmzokx"].module == "fmzokx.tap"  # type: ignore[attr-defined]
    from fmzokx.tap import Options

    options = makers["fmzokx"].options
    assert issubclass(options, Options) and options is not Options  # the one-line wrapper


def test_okxsim_plugin_is_found() -> None:
    """getPlugins(IServiceMaker) finds tapname 'okxsim' pointing at fmzokx.sim.tap."""
    makers = {maker.tapname: maker for maker in getPlugins(IServiceMaker)}
    assert "okxsim" in makers
    assert makers["okxsim"].module == "fmzokx.sim.tap"  # type: ignore[attr-defined]
