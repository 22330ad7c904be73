"""Every tab in English and Korean, on a desktop and a 390 px phone, after a job: screenshots under
artifacts/screenshots/ (to look at), and a phone page that fits its width (nothing to scroll sideways)."""

import contextlib
import time

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from .conftest import start_server
from .test_browser import SHOTS, browser, mic_wav, select_tab, wait_until  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser

SIZES = {"desktop": {"width": 1280, "height": 1000}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(scope="module")
def app(models_dir, tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("shots"), "--model", "tiny.en", "--model-dir", str(models_dir),
                          "--models", "tiny.en,base,small")
    yield server
    server.stop()


@pytest.mark.parametrize("locale", ["en-US", "ko-KR"])
@pytest.mark.parametrize("size", list(SIZES))
def test_every_tab_after_a_job(browser, app, speech, locale, size):  # noqa: F811
    context = browser.new_context(locale=locale, viewport=SIZES[size], device_scale_factor=1,
                                  is_mobile=size == "phone", has_touch=size == "phone")
    page = context.new_page()
    page.goto(app.url)
    page.wait_for_selector("#upload-file", timeout=30_000)
    page.locator("#upload-file input[type=file]").set_input_files(str(speech.fox))
    page.click("#upload-run")
    wait_until(lambda: "lazy" in page.locator("#upload-text textarea").input_value().lower(), 120)
    wait_until(lambda: not page.locator("#upload-cancel").is_enabled(), 30)
    prefix = f"{locale[:2]}-{size}"
    for tab in ("upload", "microphone", "model", "status"):
        if size == "phone":
            reveal_tab(page, tab)
        select_tab(page, tab)
        page.wait_for_timeout(2500 if tab == "status" else 800)
        page.screenshot(path=str(SHOTS / f"{prefix}-{tab}.png"), full_page=True)
        if size == "phone":
            overflow = page.evaluate("document.documentElement.scrollWidth")
            assert overflow <= SIZES["phone"]["width"] + 1, f"{tab}: the page is {overflow} px wide on a phone"
    context.close()


def reveal_tab(page, tab: str) -> None:
    """On a phone the tabs that do not fit are in Gradio's overflow menu (its toggle is the tab bar's last
    button): open it until the tab's button shows. Once, under two busy workers, a single click did not
    show it in 30 s (the bar was still being laid out after the previous tab)."""
    button = page.locator(f"#tab-{tab}-button")
    deadline = time.monotonic() + 30
    while not button.is_visible():
        assert time.monotonic() < deadline, f"the {tab} tab's button never showed"
        page.locator(".tab-container button, [role=tablist] button").last.click()
        with contextlib.suppress(PlaywrightTimeout):
            button.wait_for(state="visible", timeout=2000)
