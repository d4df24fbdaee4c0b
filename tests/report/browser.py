"""Drive the system's Chromium headless: load a page, read its DOM and console, take a screenshot.

No browser download and no driver: Debian's ``chromium`` package (``scripts/test``
installs it when it can) run with ``--headless``. ``--dump-dom`` prints the DOM after
the page's scripts ran (plotly draws synchronously); ``--enable-logging=stderr``
prints every console message and uncaught error as a ``:CONSOLE`` line on stderr.
The docs build (``scripts/docs``) uses the same functions for the report screenshot.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

__all__ = ["Page", "console_messages", "distinct_colours", "dump_dom", "find_chromium", "screenshot"]

TIMEOUT = 120  # seconds for one browser run; a report loads in a few
_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_FLAGS = (
    "--headless",
    "--no-sandbox",  # root in a container
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
)


def find_chromium() -> str | None:
    """The path of a Chromium (or Chrome) executable, or None."""
    return next((found for name in _CANDIDATES if (found := shutil.which(name))), None)


class Page:
    """What one headless run saw: stdout (the DOM, for ``--dump-dom``) and the console."""

    def __init__(self, stdout: str, stderr: str) -> None:
        self.dom = stdout
        self.console = console_messages(stderr)


def console_messages(stderr: str) -> list[str]:
    """The console lines (``console.*`` calls, uncaught errors) in Chromium's log on stderr."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def _run(browser: str, page: Path, *flags: str) -> Page:
    with tempfile.TemporaryDirectory(prefix="simutrador-chromium-") as profile:
        done = subprocess.run(
            [browser, *_FLAGS, f"--user-data-dir={profile}", *flags, page.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"{browser} exited with {done.returncode}: {done.stderr[-2000:]}")
    return Page(done.stdout, done.stderr)


def dump_dom(browser: str, page: Path) -> Page:
    """Load `page` and return its DOM after its scripts ran, with the console messages."""
    return _run(browser, page, "--dump-dom")


def screenshot(browser: str, page: Path, png: Path, *, width: int = 1400, height: int = 2400) -> Page:
    """Load `page` in a `width` x `height` window and save what it shows to `png`."""
    result = _run(browser, page, f"--screenshot={png.resolve()}", f"--window-size={width},{height}")
    if not png.is_file():
        raise RuntimeError(f"{browser} wrote no screenshot")
    return result


def _paeth(left: int, up: int, corner: int) -> int:
    estimate = left + up - corner
    a, b, c = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
    return left if a <= b and a <= c else up if b <= c else corner


def _unfilter(kind: int, line: bytearray, previous: bytes, step: int) -> None:
    if kind == 1:
        for i in range(step, len(line)):
            line[i] = (line[i] + line[i - step]) & 0xFF
    elif kind == 2:
        line[:] = bytes((a + b) & 0xFF for a, b in zip(line, previous, strict=True))
    elif kind == 3:
        for i in range(len(line)):
            left = line[i - step] if i >= step else 0
            line[i] = (line[i] + ((left + previous[i]) >> 1)) & 0xFF
    elif kind == 4:
        for i in range(len(line)):
            left = line[i - step] if i >= step else 0
            corner = previous[i - step] if i >= step else 0
            line[i] = (line[i] + _paeth(left, previous[i], corner)) & 0xFF


def distinct_colours(png: bytes, *, every: int = 4) -> int:
    """How many distinct colours an 8-bit RGB or RGBA PNG shows (pixels sampled every `every` in each row).

    The standard library decodes it: chunks, zlib, the five scanline filters. A blank
    page has one or two colours; a report with charts has hundreds.
    """
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    offset, data, header = 8, bytearray(), b""
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind = png[offset + 4 : offset + 8]
        body = png[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            data += body
        offset += 12 + length
    width, height, depth, colour_type = struct.unpack(">IIBB", header[:10])
    if depth != 8 or colour_type not in (2, 6):
        raise ValueError(f"only 8-bit RGB(A) PNGs are read, not depth {depth} colour type {colour_type}")
    step = 3 if colour_type == 2 else 4
    raw = zlib.decompress(bytes(data))
    stride = width * step
    previous = bytes(stride)
    colours: set[bytes] = set()
    for row in range(height):
        start = row * (stride + 1)
        line = bytearray(raw[start + 1 : start + 1 + stride])
        _unfilter(raw[start], line, previous, step)
        previous = bytes(line)
        colours.update(previous[i : i + 3] for i in range(0, stride, step * every))
    return len(colours)
