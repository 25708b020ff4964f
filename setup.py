"""
Packaging for fmzokx: the metadata is in ``pyproject.toml``; this file only lists the
packages.

The Twisted application plugins live in ``twisted/plugins`` (no ``__init__.py`` there or
in ``twisted/``); ``twisted.plugins`` is listed explicitly because ``find_packages`` cannot
see a namespace directory. After install, ``twistd fmzokx`` and ``twistd okxsim`` exist.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["fmzokx", "fmzokx.*"]) + ["twisted.plugins"],
    package_data={"fmzokx": ["py.typed"]},
    include_package_data=True,
)
