"""The docs show a real report: docs/images/report.png, made by scripts/docs, small and not blank."""

from __future__ import annotations

from pathlib import Path

from tests.report.browser import distinct_colours

ROOT = Path(__file__).resolve().parents[2]
IMAGE = ROOT / "docs" / "images" / "report.png"


def test_the_report_screenshot_is_there_small_and_not_blank() -> None:
    data = IMAGE.read_bytes()
    assert len(data) < 300_000
    assert distinct_colours(data, every=8) > 200


def test_the_docs_and_the_readme_show_it() -> None:
    assert "](images/report.png)" in (ROOT / "docs" / "reports.md").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "](docs/images/report.png)" in readme
    assert "simutrador run sma_crossover --report report.html" in readme
    assert "python scripts/docs_images.py" in (ROOT / "scripts" / "docs").read_text()
