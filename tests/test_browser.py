"""The page in a real browser: Debian's Chromium driven by Playwright, with a fake microphone.

Screenshots of every tab, in English and Korean, are saved under artifacts/screenshots/.
"""

import re
import subprocess
import time

import pytest
from gradio_client import Client, handle_file

from bench.corpus import SENTENCES
from bench.corpus import speak as corpus_speak

from .conftest import ROOT, start_server, words

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]
SHOTS = ROOT / "artifacts" / "screenshots"
TABS = {"upload": "#upload-file", "microphone": "#mic-audio", "model": "#model-table", "status": "#status-device"}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A home of its own for the server: an old Hugging Face cache with one Whisper model and one other model."""
    home = tmp_path_factory.mktemp("home")
    for repo, payload in (("models--openai--whisper-large-v3", b"w" * 4096), ("models--bert-base-uncased", b"b" * 10)):
        snapshot = home / ".cache" / "huggingface" / "hub" / repo / "snapshots" / "abc123"
        blobs = home / ".cache" / "huggingface" / "hub" / repo / "blobs"
        snapshot.mkdir(parents=True)
        blobs.mkdir()
        (blobs / "sha1").write_bytes(payload)
        (snapshot / "model.safetensors").symlink_to("../../blobs/sha1")
    return home


@pytest.fixture(scope="module")
def app(models_dir, tmp_path_factory, home):
    server = start_server(tmp_path_factory.mktemp("browser"), "--model", "tiny.en", "--model-dir", str(models_dir),
                          "--models", "tiny.en,base", env={"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mic_wav(speech, tmp_path_factory):
    """What the fake microphone plays, in a loop: 48 kHz 16-bit, as a sound card gives it."""
    path = tmp_path_factory.mktemp("mic") / "mic.wav"
    subprocess.run(["sox", str(speech.english), "-r", "48000", "-b", "16", "-c", "1", str(path), "pad", "0", "1"],
                   check=True)
    return path


@pytest.fixture(scope="module")
def browser(mic_wav):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            *FLAGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={mic_wav}"])
        yield browser
        browser.close()


def open_page(browser, app, locale="en-US"):
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 1000})
    context.grant_permissions(["microphone"], origin=app.url)
    page = context.new_page()
    page.goto(app.url)
    page.wait_for_selector("#upload-file", timeout=30_000)
    # the page's load events answered (the first tab's select among them, which stops the Status tab's timer:
    # a Status tab chosen before it came back had its timer stopped, and its numbers stood still)
    page.wait_for_selector("#upload-runs >> text=/Runs on|실행/", timeout=30_000)
    return page


def select_tab(page, name):
    page.click(f"#tab-{name}-button")
    page.wait_for_selector(TABS[name], state="visible", timeout=10_000)
    if name == "model":
        # the tab's refresh sets what serves, the model choice included: a choice made before it arrives is
        # put back (under load, the load button then sent tiny.en). Its first arrival writes the state line.
        page.wait_for_function("() => document.querySelector('#model-state')?.innerText.trim()", timeout=30_000)


def textarea(page, elem_id) -> str:
    return page.locator(f"#{elem_id} textarea").input_value()


def wait_for_text(page, elem_id, needle, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle.lower() in textarea(page, elem_id).lower():
            return textarea(page, elem_id)
        time.sleep(0.25)
    raise AssertionError(f"{needle!r} never appeared in #{elem_id}: {textarea(page, elem_id)!r}")


def wait_until(condition, timeout=20):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.25)


def test_each_tab_renders_in_english(browser, app):
    page = open_page(browser, app)
    assert page.title() == "whisper-ui"
    for name in TABS:
        select_tab(page, name)
        page.wait_for_timeout(800)
        page.screenshot(path=str(SHOTS / f"en-{name}.png"), full_page=True)
    assert "tiny.en" in page.locator("#status-model textarea").input_value()
    select_tab(page, "model")
    # the table's rows come by a call of their own after the tab renders: wait for them, then read
    page.wait_for_function("""() => { const t = document.querySelector('#model-table');
        return t && t.innerText.includes('tiny.en') && t.innerText.includes('base'); }""", timeout=30_000)
    table = page.locator("#model-table").inner_text()
    assert "tiny.en" in table and "base" in table
    footer = page.locator("footer").inner_text()
    assert "Settings" in footer and "Runs" not in footer, footer  # run history is not served: no dead link
    page.context.close()


def test_the_api_page_describes_parameters_and_links_the_rest_api_guide(browser, app):
    """Gradio's API page (the footer's "Use via API") described each parameter as an "[object Object]"
    component and gave a PDF link to transcribe; the page links /api-guide for the REST API and MCP."""
    page = open_page(browser, app)
    guide = page.locator("#api-guide-link a")
    assert guide.get_attribute("href") == "api-guide"
    page.locator("footer").get_by_text("Use via API").click()
    page.wait_for_selector("text=handle_file('recording.wav')", timeout=30_000)
    page.wait_for_timeout(500)
    page.screenshot(path=str(SHOTS / "en-api-page.png"), full_page=True)
    shown = page.locator("body").inner_text()
    assert "[object Object]" not in shown and "sample_file.pdf" not in shown
    assert "Beam size" in shown, shown[:3000]
    page.goto(app.url + "/api-guide")
    assert "/v1/audio/transcriptions" in page.locator("body").inner_text()
    page.context.close()


def test_upload_through_the_page_shows_text_and_downloads(browser, app, speech):
    page = open_page(browser, app)
    page.locator("#upload-file input[type=file]").set_input_files(str(speech.fox))
    page.wait_for_selector("#upload-estimate >> text=Audio:", timeout=30_000)
    page.click("#upload-run")
    text = wait_for_text(page, "upload-text", "lazy")
    assert "quick" in text.lower()
    links = page.locator("#upload-files a")
    links.first.wait_for(timeout=30_000)
    names = {links.nth(i).get_attribute("href").rsplit("/", 1)[-1] for i in range(links.count())}
    assert {"fox.txt", "fox.srt", "fox.vtt", "fox.tsv", "fox.json"} <= names, names
    assert "Real-time factor" in page.locator("#upload-summary").inner_text()
    page.screenshot(path=str(SHOTS / "en-upload-result.png"), full_page=True)
    # the estimate uses the speed of the job that just ran
    page.locator("#upload-file button[aria-label='Clear']").first.click()
    page.locator("#upload-file input[type=file]").set_input_files(str(speech.english))
    page.wait_for_selector("#upload-estimate >> text=Estimated processing time", timeout=30_000)
    # what runs the next job, and how fast it has run here (the engine was on the Model tab only)
    select_tab(page, "microphone")
    page.wait_for_selector("#mic-runs >> text=/× real time/", timeout=10_000)
    runs = page.locator("#mic-runs").inner_text()
    assert re.search(r"Runs on: (tiny\.en|base) · (openai|faster)-whisper · cpu · ~[0-9.]+× real time", runs), runs
    page.context.close()


def test_fake_microphone_records_and_the_words_appear(browser, app):
    page = open_page(browser, app)
    select_tab(page, "microphone")
    page.locator("#mic-audio button.record-button").click()
    page.wait_for_timeout(4500)
    page.locator("#mic-audio button.stop-button").first.click()
    page.wait_for_timeout(1000)
    page.click("#mic-run")
    text = wait_for_text(page, "mic-text", "london")
    assert {"name", "live", "london"} <= words(text), text
    page.screenshot(path=str(SHOTS / "en-microphone-result.png"), full_page=True)
    page.context.close()


# what a phone shows whole (issue 25 item 7): nothing reaches past the screen's right edge or is cut inside its
# box (a table's columns, a segment's time, a choice's text), and Korean lines break between words only
PHONE_CHECK = """() => {
  const seen = el => el.offsetParent !== null && el.getBoundingClientRect().width > 0;
  const past = [...document.querySelectorAll('.gradio-container *')].filter(el => seen(el)
    && el.getBoundingClientRect().right > window.innerWidth + 1 && !el.closest('footer'))
    .map(el => `${el.tagName}.${String(el.className).split(' ')[0]} ${el.textContent.trim().slice(0, 30)}`);
  const cut = [...document.querySelectorAll(
      '.wui-fit th, .wui-fit .body-cell, .wui-segments th, .wui-segments .body-cell, #model-choice input, #model-engine input')]
    .filter(el => seen(el) && el.scrollWidth > el.clientWidth + 1)
    .map(el => `${el.tagName} ${(el.value || el.textContent).trim().slice(0, 30)}`);
  const hint = document.querySelector('.wui-hint p');
  return {past: past.slice(0, 10), cut: cut.slice(0, 10), wordBreak: hint ? getComputedStyle(hint).wordBreak : null};
}"""


@pytest.mark.parametrize("locale", ["en-US", "ko-KR"])
def test_a_phone_sees_every_tab_whole(browser, app, speech, locale):
    context = browser.new_context(locale=locale, viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    page.goto(app.url)
    page.wait_for_selector("#upload-runs >> text=/Runs on|실행/", timeout=30_000)
    page.locator("#upload-file input[type=file]").set_input_files(str(speech.fox))
    page.click("#upload-run")
    page.wait_for_selector("#upload-summary >> text=/Language|언어/", timeout=120_000)
    found = {}
    for tab in ("upload", "microphone", "model", "status"):
        select_tab(page, tab)
        page.wait_for_timeout(1500)  # the tab's tables and plots drawn
        found[tab] = page.evaluate(PHONE_CHECK)
        page.screenshot(path=str(SHOTS / f"phone-{locale[:2]}-{tab}.png"), full_page=True)
    assert all(not f["past"] and not f["cut"] for f in found.values()), found
    expected = "keep-all" if locale == "ko-KR" else "normal"
    assert {f["wordBreak"] for f in found.values()} == {expected}, found
    context.close()


def test_korean_labels_with_a_korean_browser(browser, app):
    page = open_page(browser, app, locale="ko-KR")
    tabs = page.locator("[role=tab]").all_inner_texts()
    assert [t.strip() for t in tabs[:4]] == ["업로드", "마이크", "모델", "상태"], tabs
    assert "받아쓰기" in page.locator("#upload-run").inner_text()
    for name in TABS:
        select_tab(page, name)
        page.wait_for_timeout(800)
        page.screenshot(path=str(SHOTS / f"ko-{name}.png"), full_page=True)
    assert page.get_by_text("프로세스 메모리 (RSS)").count() >= 1
    page.context.close()


def test_status_tab_updates_without_a_reload(browser, app, speech):
    page = open_page(browser, app)
    select_tab(page, "status")
    before = textarea(page, "status-jobs")
    Client(app.url, verbose=False).predict(handle_file(str(speech.english)), api_name="/transcribe")
    deadline = time.monotonic() + 20
    while textarea(page, "status-jobs") == before and time.monotonic() < deadline:
        time.sleep(0.25)
    after = textarea(page, "status-jobs")
    assert after != before and "done" in after, (before, after)
    page.context.close()


def test_model_tab_switches_and_cleans_old_caches_after_confirmation(browser, app, home):
    page = open_page(browser, app)
    select_tab(page, "model")
    page.locator("#model-choice input").fill("base")
    page.keyboard.press("Enter")
    # the choice taken before the click (under load, the click once sent tiny.en, the value before)
    wait_until(lambda: page.locator("#model-choice input").input_value().startswith("base ·"), 30)
    page.click("#model-load")
    page.wait_for_selector("#model-state >> text=ready — base on cpu · openai-whisper float32", timeout=120_000)
    # the engine beside the model: the same weights on faster-whisper (CTranslate2, int8 on the CPU)
    page.locator("#model-engine input").fill("faster-whisper")
    page.keyboard.press("Enter")
    wait_until(lambda: page.locator("#model-engine input").input_value().startswith("faster-whisper"), 10)
    page.click("#model-load")
    page.wait_for_selector("#model-state >> text=ready — base on cpu · faster-whisper int8", timeout=120_000)
    assert "Batching: off" in page.locator("#model-state").inner_text()
    assert "✔ faster-whisper" in page.locator("#model-table").inner_text()
    page.screenshot(path=str(SHOTS / "en-model-engine.png"), full_page=True)
    page.get_by_text("Old model caches").click()
    wait_until(lambda: "openai/whisper-large-v3" in page.locator("#cache-table").inner_text())
    assert "bert" not in page.locator("#cache-table").inner_text()
    page.screenshot(path=str(SHOTS / "en-model-caches.png"), full_page=True)
    page.click("#cache-clean")
    page.wait_for_selector("#cache-confirm", state="visible")
    whisper_repo = home / ".cache" / "huggingface" / "hub" / "models--openai--whisper-large-v3"
    assert whisper_repo.exists(), "nothing is deleted before the confirmation"
    page.click("#cache-confirm")
    page.wait_for_selector("#cache-summary >> text=No old Whisper model files", timeout=20_000)
    assert not whisper_repo.exists()
    assert (home / ".cache" / "huggingface" / "hub" / "models--bert-base-uncased" / "blobs" / "sha1").exists()
    page.context.close()


def test_the_model_tab_is_read_only_for_users_who_are_not_admins(browser, models_dir, tmp_path_factory):
    """--auth with --admin: the page logs each user in; only the admin's Model tab can change anything
    (the server refuses the others anyway: tests/test_health_auth.py)."""
    server = start_server(tmp_path_factory.mktemp("roles"), "--model", "tiny.en", "--model-dir", str(models_dir),
                          "--auth", "ann:ann-pass", "--auth", "ben:ben-pass", "--admin", "ann")
    try:
        for user, admin in (("ben", False), ("ann", True)):
            context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 1000})
            page = context.new_page()
            page.goto(server.url)
            page.fill("input[name=username], input[type=text]", user)
            page.fill("input[type=password]", f"{user}-pass")
            page.keyboard.press("Enter")
            page.wait_for_selector("#upload-file", timeout=30_000)
            select_tab(page, "model")
            load = page.locator("#model-load")
            wait_until(lambda load=load, admin=admin: load.is_disabled() != admin)
            assert page.locator("#model-read-only").is_visible() != admin, user
            assert page.locator("#model-unload").is_disabled() != admin, user
            context.close()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def long_speech(tmp_path_factory):
    """About 3 minutes of speech, 40 different sentences (bench/corpus.py): long enough to cancel in the middle.
    Not the 70 s clip three times over: its windows repeat themselves, so each runs the whole temperature
    fallback and the first text took 45 s to come."""
    folder = tmp_path_factory.mktemp("long")
    return corpus_speak(SENTENCES, folder, "long").path.rename(folder / "long3.wav")  # a name the pages may show


def is_enabled(page, elem_id) -> bool:
    return page.locator(f"#{elem_id}").is_enabled()


@pytest.mark.parametrize("locale, progress_word, cancelled_word",
                         [("en-US", "of audio", "Cancelled"), ("ko-KR", "오디오", "취소되었습니다")])
def test_text_comes_as_it_is_transcribed_and_cancel_keeps_it(browser, app, speech, long_speech, locale,
                                                             progress_word, cancelled_word):
    """One progress line in seconds of audio, the text and table filling in while the model works;
    Cancel active only while the job runs, and after it the page says so and keeps the text."""
    page = open_page(browser, app, locale=locale)
    assert not is_enabled(page, "upload-cancel")  # no job: nothing to cancel
    page.locator("#upload-file input[type=file]").set_input_files(str(long_speech))
    page.wait_for_selector("#upload-estimate >> text=/Audio|오디오/", timeout=30_000)
    page.click("#upload-run")
    wait_until(lambda: is_enabled(page, "upload-cancel"), 10)
    wait_until(lambda: textarea(page, "upload-text").strip() != "", 120)
    # the line is written from the summary's data by a call of its own (summary.change): a moment after the text
    wait_until(lambda: progress_word in page.locator("#upload-summary").inner_text(), 10)
    summary = page.locator("#upload-summary").inner_text()
    assert progress_word in summary and "/" in summary, summary  # "00:30 / 03:31 of audio · about 20 s left"
    assert page.locator("#upload-segments tbody tr").count() >= 1
    # only one progress indicator: no bar over the text, the table and the downloads
    assert page.locator("#upload-text .progress-bar, #upload-segments .progress-bar, #upload-files .progress-bar"
                        ).count() == 0
    page.screenshot(path=str(SHOTS / f"{locale[:2]}-upload-streaming.png"), full_page=True)
    page.click("#upload-cancel")
    page.wait_for_selector(f"#upload-summary >> text={cancelled_word}", timeout=60_000)
    kept = textarea(page, "upload-text")
    assert {"city", "council"} & words(kept), kept  # what was transcribed before the cancel stays
    # and a file of it is offered, with the same text
    wait_until(lambda: "partial-transcript" in page.locator("#upload-files").inner_text(), 10)
    href = page.locator("#upload-files a").first.get_attribute("href")
    assert page.evaluate("href => fetch(href).then(r => r.text())", href).strip() == kept.strip()
    wait_until(lambda: not is_enabled(page, "upload-cancel"), 10)
    page.screenshot(path=str(SHOTS / f"{locale[:2]}-upload-cancelled.png"), full_page=True)
    assert "job cancelled" in app.log()
    # the next job runs to its end
    page.locator("#upload-file :is(button[aria-label='Clear'], button[aria-label='지우기'])").first.click()
    page.locator("#upload-file input[type=file]").set_input_files(str(speech.fox))
    page.wait_for_timeout(500)
    page.click("#upload-run")
    wait_for_text(page, "upload-text", "lazy")
    page.wait_for_selector("#upload-summary >> text=/Real-time factor|실시간/", timeout=60_000)
    page.context.close()
