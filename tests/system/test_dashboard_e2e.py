"""End to end in a real browser: start the dashboard on a free loopback port,
open it in headless Debian Chromium (Playwright), run the baseline, wait for a
chart, check that no error is shown, save a screenshot; the server is stopped
in every case.

Without /usr/bin/chromium the test is skipped, unless CI is set: then it fails
(.ci/run installs Debian's chromium package)."""

from __future__ import annotations

import os

import pytest

from dashboard.tools.browser import CHROMIUM, serve

RUN_TIMEOUT_MS = 240_000


def _need(condition: bool, why: str) -> None:
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{why} (CI is set, so the browser test must run)")
    pytest.skip(why)


def test_dashboard_runs_the_baseline_in_a_browser(tmp_path):
    _need(CHROMIUM.exists(), f"{CHROMIUM} is missing; install Debian's chromium package")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _need(False, "the playwright Python package is not installed")
        raise
    log_path = tmp_path / "streamlit.log"
    with open(log_path, "wb") as log:
        try:
            with serve(log) as url, sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=str(CHROMIUM),
                    headless=True,
                    args=[
                        "--no-sandbox",
                        "--disable-gpu",
                        "--disable-background-networking",
                        "--disable-component-update",
                        "--disable-sync",
                        "--no-first-run",
                    ],
                )
                try:
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    page.goto(f"{url}/scenario", wait_until="domcontentloaded")
                    run = page.get_by_role("button", name="Run", exact=True)
                    expect(run).to_be_enabled(timeout=120_000)
                    run.click()
                    expect(page.get_by_text("finished:", exact=False)).to_be_visible(timeout=RUN_TIMEOUT_MS)
                    page.get_by_role("link", name="Outcomes").click()
                    chart = page.locator("[data-testid='stImage'] img, [data-testid='stImageContainer'] img").first
                    expect(chart).to_be_visible(timeout=RUN_TIMEOUT_MS)
                    expect(page.get_by_text("Headline outcomes with 95% confidence intervals")).to_be_visible()
                    page.wait_for_load_state("networkidle")
                    body = page.inner_text("body")
                    assert "Traceback" not in body
                    assert "Error" not in body
                    page.screenshot(path=str(tmp_path / "outcomes.png"), full_page=True)
                    assert (tmp_path / "outcomes.png").stat().st_size > 10_000
                finally:
                    browser.close()
        except Exception:
            log.flush()
            print(log_path.read_text(errors="replace")[-4000:])
            raise
