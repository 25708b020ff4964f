"""
Packaging for fmzokx.

The Twisted application plugins live in ``twisted/plugins`` (no ``__init__.py`` there or
in ``twisted/``); ``twisted.plugins`` is listed explicitly because ``find_packages`` cannot
see a namespace directory. After install, ``twistd fmzokx`` and ``twistd okxsim`` exist.
"""

from setuptools import find_packages, setup

setup(
    name="fmzokx",
    version="0.1.0.dev0",
    description="FMZ Quant custom-protocol gateway to the OKX v5 exchange, with a simulated OKX",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["fmzokx", "fmzokx.*"]) + ["twisted.plugins"],
    package_data={"fmzokx": ["py.typed"]},
    include_package_data=True,
    install_requires=[
        "attrs>=23.1",
        "twisted[tls]>=24.7",
        "treq>=23.11",
        "klein>=23.5",
        "service-identity>=24.1",
        "prometheus_client>=0.20",
        # Twisted-native WebSocket (okxsim's OKX WebSocket and the daemon's market-data
        # stream). 24.4.x is the last line with a pure-Python wheel that supports
        # Python 3.10; 25.x needs 3.11 and ships only native (NVX) wheels.
        "autobahn>=24.4.2,<25",
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-twisted>=1.14",
            "hypothesis>=6.100",
        ],
        "docs": ["sphinx>=7"],
    },
    entry_points={
        "console_scripts": [
            "fmzokx-call = fmzokx.call:main",
        ],
    },
    classifiers=[
        "Framework :: Twisted",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Topic :: Office/Business :: Financial :: Investment",
    ],
)
