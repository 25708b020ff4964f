"""
Every ``test-case-name`` header in the package names test modules that exist.

The header tells ``trial`` and editors which tests cover a module; a header naming a
module that was renamed or never written sends a maintainer to nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parent.parent
HEADER = re.compile(r"test-case-name:\s*([\w.,]+)")


def _headers() -> list[tuple[str, str]]:
    found = []
    for source in sorted([*TOP.glob("fmzokx/**/*.py"), *TOP.glob("twisted/plugins/*.py")]):
        match = HEADER.search(source.read_text(encoding="utf-8").split("\n", 1)[0])
        if match:
            for name in match.group(1).split(","):
                found.append((str(source.relative_to(TOP)), name.strip()))
    return found


def test_the_package_has_headers() -> None:
    assert len(_headers()) > 50


@pytest.mark.parametrize(("source", "module"), _headers())
def test_header_names_an_existing_test_module(source: str, module: str) -> None:
    path = TOP.joinpath(*module.split("."))
    assert path.with_suffix(".py").is_file() or (path / "__init__.py").is_file(), (
        f"{source} names {module}, which does not exist"
    )
