"""The Upload and Microphone tabs before the first click: the notice when no model can serve (a first
run offline), the limits as plain text, the language choice by name. Chromium with Playwright."""

import json

import pytest
from gradio_client import Client

from .conftest import OFFLINE, start_server
from .test_browser import browser, mic_wav, open_page, select_tab, wait_until  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser



@pytest.fixture(scope="module")
def offline_app(models_dir, tmp_path_factory):
    """A first run on a host without internet: the chosen model (small) is not on disk and cannot be downloaded."""
    server = start_server(tmp_path_factory.mktemp("offline"), "--model", "small", "--model-dir", str(models_dir),
                          "--models", "tiny.en,base,small", env=OFFLINE, wait_ready=False)
    yield server
    server.stop()


def wait_failed(app):
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        code, body = app.get("/readyz")
        if code == 503 and json.loads(body).get("status") == "failed":
            return
        time.sleep(0.25)
    raise AssertionError(f"the load never failed: {app.get('/readyz')}")


@pytest.mark.parametrize("locale, headline, put_here", [
    ("en-US", "No model is ready", "put it here"),
    ("ko-KR", "준비된 모델이 없습니다", "이 위치에 두고"),
])
def test_a_first_run_offline_says_what_to_do_before_the_first_click(browser, offline_app, models_dir,  # noqa: F811
                                                                     locale, headline, put_here):
    wait_failed(offline_app)
    page = open_page(browser, offline_app, locale=locale)
    for tab, notice in (("upload", "#upload-notice"), ("microphone", "#mic-notice")):
        select_tab(page, tab)
        page.wait_for_selector(f"{notice} >> text={headline}", timeout=10_000)
        shown = page.locator(notice).inner_text()
        assert put_here in shown, shown
        # the download address and where the file goes, each as copyable text of its own
        blocks = [b.strip() for b in page.locator(f"{notice} pre").all_inner_texts()]
        assert "https://openaipublic.azureedge.net/main/whisper/models/" in " ".join(blocks), blocks
        assert str(models_dir / "small.pt") in blocks, blocks
        assert "[Errno" not in shown and "`" not in shown, shown
        assert "tiny.en" in shown  # what is on disk and could serve instead
    page.screenshot(path=f"artifacts/screenshots/{locale[:2]}-upload-offline.png", full_page=True)
    page.context.close()


def test_the_notice_goes_once_a_model_is_ready(browser, offline_app):  # noqa: F811
    wait_failed(offline_app)
    page = open_page(browser, offline_app)
    page.wait_for_selector("#upload-notice >> text=No model is ready", timeout=10_000)
    Client(offline_app.url, verbose=False).predict("tiny.en", "openai-whisper", api_name="/load_model")
    select_tab(page, "microphone")
    select_tab(page, "upload")
    page.wait_for_selector("#upload-notice", state="hidden", timeout=10_000)
    assert offline_app.get("/readyz")[0] == 200
    page.context.close()


def test_limits_read_as_plain_text(browser, offline_app):  # noqa: F811
    page = open_page(browser, offline_app, locale="ko-KR")
    page.wait_for_selector("#upload-limits >> text=제한", timeout=10_000)
    assert page.locator("#upload-limits textarea, #upload-limits input").count() == 0  # not a disabled box
    assert "MB" in page.locator("#upload-limits").inner_text()
    page.context.close()


@pytest.mark.parametrize("locale, auto, task_label", [("en-US", "Detect automatically", "translate into English"),
                                                      ("ko-KR", "자동 감지", "영어로 번역")])
def test_every_language_by_name_searchable(browser, offline_app, locale, auto, task_label):  # noqa: F811
    page = open_page(browser, offline_app, locale=locale)
    page.click("#tab-upload >> text=/Options|옵션/")
    language = page.get_by_label(re_label(locale)).first
    assert language.input_value() == auto
    assert page.locator(f"#tab-upload >> text={task_label}").count() == 1
    searches = {"en-US": (("kor", "Korean · 한국어 (ko)"), ("deutsch", "German · Deutsch (de)"),
                          ("yue", "Cantonese · 粵語 (yue)"), ("swa", "Swahili · Kiswahili (sw)")),
                # names in the reader's language (issue 25 item 9: "일본" found nothing)
                "ko-KR": (("한국", "한국어 (ko)"), ("일본", "일본어 · 日本語 (ja)"), ("deutsch", "독일어 · Deutsch (de)"),
                          ("yue", "광둥어 · 粵語 (yue)"))}
    for typed, shown in searches[locale]:
        language.fill("")
        language.press_sequentially(typed)  # keystrokes: the list filters as one types
        if not typed.isascii():  # Gradio filters on key events; Playwright inserts Hangul as text, without the key
            language.press("End")  # events an input method sends as it ends a syllable: one key does it
        options = page.locator("ul[role=listbox] li")

        def narrowed(options=options, shown=shown) -> bool:  # to what was typed: the last word's list may linger
            texts = [o.strip() for o in options.all_inner_texts()]
            return 0 < len(texts) < 10 and shown in texts

        try:
            wait_until(narrowed, 10)
        except AssertionError:
            raise AssertionError(f"{typed!r}: {options.all_inner_texts()[:12]}") from None
    language.fill("")
    language.press_sequentially("a")
    language.press("Backspace")
    wait_until(lambda: page.locator("ul[role=listbox] li").count() == 101, 10)  # every language Whisper knows, and auto
    page.context.close()


def re_label(locale):
    import re

    return re.compile("^(Language|언어)")
