"""Screenshots of the dashboard's pages for docs/screenshots/, taken with
headless Debian Chromium through Playwright (as the end-to-end test does).

    python dashboard/tools/screenshots.py [--out docs/screenshots]

It runs the regional planning scenario (Services), then the baseline and the
high-carcinosis teaching scenario (Outcomes, Journeys, Compare)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from dashboard.tools.browser import launch, serve  # noqa: E402

WAIT = 300_000


def main() -> int:
    from playwright.sync_api import expect, sync_playwright

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile() as log, serve(log) as url, sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2000})

            def go(name: str) -> None:
                page.get_by_role("link", name=name, exact=True).click()
                expect(page.get_by_role("heading", name=name, exact=True).first).to_be_visible(timeout=WAIT)

            def settle() -> None:
                page.wait_for_load_state("networkidle")
                expect(page.locator("[data-testid='stStatusWidget']")).to_have_count(0, timeout=WAIT)
                page.wait_for_timeout(1500)

            def shot(name: str, height: int = 2000) -> None:
                page.set_viewport_size({"width": 1400, "height": height})
                settle()
                page.screenshot(path=str(out / f"{name}.png"))
                print(f"wrote {out / f'{name}.png'}")

            def run(file: str, number: int) -> None:
                go("Scenario")
                page.locator("[data-testid='stSelectbox']").filter(has_text="Scenario file").click()
                page.get_by_role("option", name=file, exact=True).click()
                expect(page.get_by_role("heading", name=file.removesuffix(".yaml")).first).to_be_visible(timeout=WAIT)
                page.get_by_role("button", name="Run", exact=True).click()
                expect(page.get_by_text(f"Run #{number} ", exact=False).first).to_be_visible(timeout=WAIT)
                settle()

            page.goto(url, wait_until="domcontentloaded")
            expect(page.get_by_text("What the model is for")).to_be_visible(timeout=WAIT)
            shot("about", 1500)
            run("regional_baseline.yaml", 1)
            go("Services")
            expect(page.locator("[data-testid='stImage'] img").first).to_be_visible(timeout=WAIT)
            shot("services", 1700)
            run("baseline.yaml", 2)
            shot("scenario", 1900)
            go("Outcomes")
            expect(page.locator("[data-testid='stImage'] img").nth(2)).to_be_visible(timeout=WAIT)
            shot("outcomes", 2600)
            go("Journeys")
            expect(page.get_by_text("Patient ", exact=False).first).to_be_visible(timeout=WAIT)
            shot("journeys", 2200)
            run("high_carcinosis.yaml", 3)
            go("Compare")
            page.get_by_role("button", name="Compare", exact=True).click()
            expect(page.locator("[data-testid='stImage'] img").nth(1)).to_be_visible(timeout=WAIT)
            shot("compare", 2300)
            go("Uncertainty")
            shot("uncertainty", 1100)
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
