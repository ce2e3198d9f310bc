"""The status page in a real browser: headless Chromium (Debian's, driven by playwright) loads `/` and a pair's
page from a running bot's HTTP server, on a phone-sized screen and without JavaScript.

Chromium is a system package (`apt-get install chromium`; `.ci/run` installs it): without it these tests skip,
unless REQUIRE_CHROMIUM=1 (CI), when they fail. `STATUS_SCREENSHOT=path.png` also saves the README's picture.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from handlers.console import CONSOLE_CHAT, ConsoleSurface
from handlers.runner import CommandRunner, Incoming
from tests.web_support import serving

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# what this machine's closed network needs: no background connections, no sandbox as root
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
PHONE = {"width": 390, "height": 844}


def _chromium() -> str:
    if Path(CHROMIUM).exists() or shutil.which(CHROMIUM):
        return CHROMIUM
    if os.environ.get("REQUIRE_CHROMIUM") == "1":
        pytest.fail(f"REQUIRE_CHROMIUM=1 but there is no Chromium at {CHROMIUM} (apt-get install chromium)")
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[object]:
    executable = _chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, headless=True, args=ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def _images_loaded(page) -> list[int]:
    return await page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")


async def test_the_status_page_on_a_phone_without_javascript(browser, tmp_path: Path):
    async with serving(tmp_path) as (app, _, base):
        runner = CommandRunner(app.services, "console")
        await runner.message(Incoming("/corr 90d", CONSOLE_CHAT), ConsoleSurface(io.StringIO(), tmp_path / "c"))
        context = await browser.new_context(viewport=PHONE, java_script_enabled=False, device_scale_factor=2)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        response = await page.goto(f"{base}/", wait_until="load")
        assert response is not None and response.status == 200
        text = await page.inner_text("body")
        assert "ETH vs RUT" in text and "0.57" in text and "Data freshness" in text
        assert await _images_loaded(page) and all(width > 0 for width in await _images_loaded(page))
        if os.environ.get("STATUS_SCREENSHOT"):
            await page.screenshot(path=os.environ["STATUS_SCREENSHOT"], full_page=True)
        await page.goto(f"{base}/pairs/ETH-RUT", wait_until="load")
        assert "ETH" in await page.inner_text("body")
        widths = await _images_loaded(page)
        assert widths and all(width > 0 for width in widths)
        await context.close()
        assert errors == []


async def test_the_pages_fit_a_phone_screen(browser, tmp_path: Path):
    async with serving(tmp_path) as (_, _, base):
        context = await browser.new_context(viewport=PHONE)
        page = await context.new_page()
        for path in ("/", "/pairs/ETH-RUT"):
            await page.goto(f"{base}{path}", wait_until="load")
            overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, (path, overflow)
            # and no card's content spills past it: a wide table scrolls inside its own box
            spills = await page.eval_on_selector_all(
                "section", "cards => cards.filter(c => getComputedStyle(c).overflowX === 'visible'"
                " && c.scrollWidth > c.clientWidth + 1).length")
            assert spills == 0, (path, spills)
        await context.close()
