"""Make docs/images/report.png: the report of a real ``simutrador run sma_crossover``, as Chromium shows it.

Run by ``scripts/docs``. The run is the shipped example with its own SESSION
defaults (the sample catalog's synthetic AAPL, 2019-2024, daily); the report is
rendered by `SimulationResult.report` and photographed by the tests' headless
Chromium harness (``tests/report/browser.py``), never drawn by hand.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simutrador_cli.run import load_strategy  # noqa: E402

from simutrador import backtest  # noqa: E402
from tests.report.browser import distinct_colours, find_chromium, screenshot  # noqa: E402

LIMIT = 300_000  # bytes: the docs image stays small


def main() -> int:
    """Run the example, render its report, photograph it; 1 when something is wrong."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "report.png")
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=1660)
    options = parser.parse_args()
    browser = find_chromium()
    if browser is None:
        sys.stderr.write("no Chromium: install Debian's chromium (scripts/test does it when run as root)\n")
        return 1
    strategy, session = load_strategy("sma_crossover")
    fields = dict(session)
    result = backtest(
        strategy,
        symbols=fields.pop("symbols"),
        start=fields.pop("start_date"),
        end=fields.pop("end_date"),
        initial_capital=fields.pop("initial_capital"),
        **fields,
    )
    with tempfile.TemporaryDirectory() as folder:
        page = result.report(Path(folder) / "report.html", title="sma_crossover on AAPL")
        seen = screenshot(browser, page, options.out, width=options.width, height=options.height)
    if seen.console:
        sys.stderr.write("the page logged to the console:\n" + "\n".join(seen.console) + "\n")
        return 1
    size = options.out.stat().st_size
    colours = distinct_colours(options.out.read_bytes())
    sys.stdout.write(f"{options.out.relative_to(ROOT)}: {size:,} bytes, {colours:,} colours\n")
    if size > LIMIT or colours < 50:
        sys.stderr.write(f"expected a picture under {LIMIT:,} bytes with charts in it\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
