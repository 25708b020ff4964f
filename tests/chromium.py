"""
Headless Chromium for the browser tests (Debian's ``chromium`` package).

Tests marked ``browser`` call :func:`require_chromium`: without Chromium they are skipped
with the reason, except under ``CI=true``, where a missing browser is a failure
(``.ci/run`` installs it). Chromium runs with a fresh profile and every background
service off, so it talks to nothing but the loopback page it is given, and each run is
bounded by a timeout. No Python package beyond the standard library is needed: the DOM
comes from ``--dump-dom`` and the picture from ``--screenshot``, decoded here.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
)
TIMEOUT = 90.0


def require_chromium() -> str:
    """The Chromium executable; skips the test without one (fails it when CI=true)."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    reason = "headless Chromium is not installed (Debian: apt-get install chromium)"
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"{reason}; CI must run the browser tests (.ci/run installs it)")
    pytest.skip(reason)


def _run(chromium: str, arguments: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    profile.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={profile}", *arguments],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def dump_dom(chromium: str, url: str, workdir: Path) -> str:
    """The page's DOM as Chromium serialises it once the page has loaded."""
    return _run(chromium, ["--dump-dom", url], workdir / "profile-dom").stdout


def screenshot(
    chromium: str, url: str, target: Path, workdir: Path, size: tuple[int, int] = (1280, 1600)
) -> Path:
    """A PNG of the page at ``size`` (width, height) written to ``target``."""
    _run(
        chromium,
        [f"--screenshot={target}", f"--window-size={size[0]},{size[1]}", url],
        workdir / "profile-shot",
    )
    assert target.is_file() and target.stat().st_size > 0
    return target


def read_png(path: Path, max_rows: int | None = None) -> tuple[int, int, list[bytes]]:
    """
    Decode an 8-bit, non-interlaced RGB or RGBA PNG: (width, height, RGB rows), the rows
    only down to ``max_rows`` (pure Python is slow: decode what the test looks at).
    """
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset = 8
    idat = b""
    width = height = channels = 0
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        offset += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and colour in (2, 6), (depth, colour, interlace)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    position = 0
    for _ in range(height if max_rows is None else min(height, max_rows)):
        kind = raw[position]
        line = bytearray(raw[position + 1 : position + 1 + stride])
        position += 1 + stride
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + ((left + up) >> 1)) & 0xFF
            elif kind == 4:
                up_left = previous[i - channels] if i >= channels else 0
                estimate = left + up - up_left
                a, b, c = abs(estimate - left), abs(estimate - up), abs(estimate - up_left)
                predictor = left if a <= b and a <= c else up if b <= c else up_left
                line[i] = (line[i] + predictor) & 0xFF
        previous = line
        if channels == 4:
            rgb = bytearray()
            for i in range(0, stride, 4):
                rgb += line[i : i + 3]
            rows.append(bytes(rgb))
        else:
            rows.append(bytes(line))
    return width, height, rows


def colour_count(rows: list[bytes], colour: str) -> int:
    """How many pixels are exactly ``colour`` (``#rrggbb``)."""
    wanted = bytes.fromhex(colour.lstrip("#"))
    return sum(
        1 for row in rows for i in range(0, len(row), 3) if row[i : i + 3] == wanted
    )
