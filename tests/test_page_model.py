"""The Model tab in a real browser, in English and Korean: the model dropdown says which models are on disk and
their size, a failed load leaves the page (and /readyz) on the model that serves, Unload asks first, Clean
shows only when there are old caches, and the Korean tab has no English words but names."""

import json
import re
import shutil

import pytest

from .conftest import OFFLINE, start_server
from .test_browser import CHROMIUM, FLAGS, SHOTS, open_page, select_tab, wait_until

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")

# downloads go through a proxy on a closed port: "small" fails at once, as on an offline host
OLD_REPO = ".cache/huggingface/hub/models--openai--whisper-large-v3"
# what the Korean tab may show in Latin letters: names (models, engines, libraries, flags) and units
NAMES = {"tiny.en", "base", "small", "openai-whisper", "faster-whisper", "float32", "int8", "cpu", "CPU", "GPU",
         "MB", "GB", "KB", "B", "Hugging", "Face", "torch", "Whisper", "huggingface-hub", "--batch-size", "N"}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """The server's home: no old caches until a test puts one there (``old_cache``)."""
    return tmp_path_factory.mktemp("model-home")


def old_cache(home):
    """An old Hugging Face cache holding one Whisper model (what the app replaces)."""
    repo = home / OLD_REPO
    if not repo.exists():
        (repo / "blobs").mkdir(parents=True)
        (repo / "snapshots" / "abc123").mkdir(parents=True)
        (repo / "blobs" / "sha1").write_bytes(b"w" * 4096)
        (repo / "snapshots" / "abc123" / "model.safetensors").symlink_to("../../blobs/sha1")
    return repo


@pytest.fixture(scope="module")
def app(models_dir, tmp_path_factory, home):
    server = start_server(tmp_path_factory.mktemp("page-model"), "--model", "tiny.en", "--model-dir", str(models_dir),
                          "--models", "tiny.en,base,small",
                          env={**OFFLINE, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page_in(browser, app):
    pages = []

    def open_model_tab(locale):
        page = open_page(browser, app, locale=locale)
        pages.append(page)
        select_tab(page, "model")
        wait_until(lambda: "tiny.en" in page.locator("#model-state").inner_text())
        return page

    yield open_model_tab
    for page in pages:
        page.context.close()


def chosen(page) -> str:
    return page.locator("#model-choice input").input_value()


def options(page) -> list[str]:
    page.locator("#model-choice input").click()
    page.locator("#model-choice li").first.wait_for(timeout=5_000)
    labels = [t.replace("✓", "").strip() for t in page.locator("#model-choice li").all_inner_texts()]
    page.keyboard.press("Escape")
    return labels


def ready(app) -> tuple[int, dict]:
    code, body = app.get("/readyz")
    return code, json.loads(body)


@pytest.mark.parametrize("locale, on_disk, download", [("en-US", "on disk", "download"),
                                                        ("ko-KR", "디스크에 있음", "다운로드")])
def test_the_dropdown_says_which_models_are_on_disk_and_their_size(page_in, locale, on_disk, download):
    page = page_in(locale)
    labels = options(page)
    assert len(labels) == 3, labels
    assert re.fullmatch(rf"tiny\.en · {on_disk} · \d+(\.\d)? MB", labels[0]), labels
    assert re.fullmatch(rf"base · {on_disk} · \d+(\.\d)? MB", labels[1]), labels
    assert labels[2] == f"small · {download} 484 MB", labels  # official size: nothing of it is on disk
    assert chosen(page) == labels[0]  # the model that serves


@pytest.mark.parametrize("locale, serving", [("en-US", "ready — tiny.en on cpu"), ("ko-KR", "준비됨 — tiny.en (cpu)")])
def test_a_failed_load_leaves_the_page_on_the_model_that_serves(page_in, app, locale, serving):
    page = page_in(locale)
    page.locator("#model-choice input").fill("small")
    page.keyboard.press("Enter")
    assert chosen(page).startswith("small")
    page.click("#model-load")
    toast = page.locator(".toast-item").first
    toast.wait_for(timeout=30_000)
    assert "small" in toast.inner_text()
    if locale == "ko-KR":  # the core's download error, in Korean
        assert not re.search(r"\b(Could|download|model)\b", toast.inner_text()), toast.inner_text()
    wait_until(lambda: chosen(page).startswith("tiny.en"), 10)  # the dropdown shows what serves, not the failed choice
    assert serving in page.locator("#model-state").inner_text()
    table = page.locator("#model-table").inner_text()
    assert "✔ openai-whisper" in table.split("tiny.en", 1)[1].split("base", 1)[0], table
    code, body = ready(app)
    assert (code, body["status"], body["model"]) == (200, "ready", "tiny.en")
    page.screenshot(path=str(SHOTS / f"{locale[:2]}-model-failed-load.png"), full_page=True)


@pytest.mark.parametrize("locale, question, not_loaded, ready_word", [
    ("en-US", "Unload", "not loaded", "is ready on cpu"), ("ko-KR", "해제할까요", "로드되지 않음", "준비되었습니다")])
def test_unload_asks_first_and_no_keeps_the_model(page_in, app, locale, question, not_loaded, ready_word):
    page = page_in(locale)
    page.click("#model-unload")
    page.wait_for_selector("#unload-confirm", state="visible", timeout=10_000)
    asked = page.locator("#unload-question").inner_text()
    assert question in asked and "tiny.en" in asked, asked
    assert ready(app)[0] == 200, "nothing is unloaded before the confirmation"
    page.screenshot(path=str(SHOTS / f"{locale[:2]}-model-unload-confirm.png"), full_page=True)
    page.click("#unload-keep")
    page.wait_for_selector("#unload-confirm", state="hidden", timeout=10_000)
    page.wait_for_timeout(500)
    assert ready(app)[0] == 200
    assert "tiny.en" in page.locator("#model-state").inner_text()
    # yes: every user's model goes; the page and /readyz say so, and Load brings it back
    page.click("#model-unload")
    page.click("#unload-confirm")
    page.wait_for_selector(f"#model-state >> text={not_loaded}", timeout=30_000)
    assert ready(app)[0] == 503
    assert chosen(page).startswith("tiny.en")  # what the next job (or Load) loads
    page.click("#model-load")
    toast = page.locator(".toast-item", has_text=ready_word)
    toast.wait_for(timeout=60_000)  # "tiny.en is ready on cpu (openai-whisper, float32)."
    assert "tiny.en" in toast.inner_text()
    assert ready(app)[0] == 200
    wait_until(lambda: "✔ openai-whisper" in page.locator("#model-table").inner_text(), 10)


def test_clean_shows_only_when_there_are_old_caches(page_in, home):
    shutil.rmtree(home / ".cache", ignore_errors=True)
    page = page_in("en-US")
    page.get_by_text("Old model caches").click()
    page.wait_for_selector("#cache-summary >> text=No old Whisper model files", timeout=10_000)
    assert not page.locator("#cache-clean").is_visible()
    repo = old_cache(home)
    select_tab(page, "status")
    select_tab(page, "model")
    page.wait_for_selector("#cache-summary >> text=1 old Whisper cache entry", timeout=10_000)
    page.click("#cache-clean")
    page.wait_for_selector("#cache-confirm", state="visible", timeout=10_000)
    assert repo.exists(), "nothing is deleted before the confirmation"
    page.click("#cache-confirm")
    page.wait_for_selector("#cache-summary >> text=No old Whisper model files", timeout=20_000)
    assert not repo.exists()
    wait_until(lambda: not page.locator("#cache-clean").is_visible(), 10)


def test_the_korean_model_tab_has_no_english_but_names(page_in, home):
    old_cache(home)
    page = page_in("ko-KR")
    page.get_by_text("예전 모델 캐시").first.click()
    page.wait_for_selector("#cache-summary >> text=예전 Whisper 캐시 항목 1개", timeout=10_000)
    page.click("#model-unload")
    page.click("#cache-clean")
    page.wait_for_selector("#unload-confirm", state="visible", timeout=10_000)
    page.wait_for_selector("#cache-confirm", state="visible", timeout=10_000)
    page.wait_for_timeout(300)
    page.screenshot(path=str(SHOTS / "ko-model-tab.png"), full_page=True)
    shown = [page.locator("#tab-model").inner_text(), chosen(page), *options(page),
             page.locator("#model-engine input").input_value()]
    page.click("#unload-keep")
    page.click("#cache-keep")
    english = set()
    for token in " ".join(shown).split():
        if "/" in token:
            continue  # paths and cache names (openai/whisper-large-v3) are names
        for latin in re.findall(r"[-\w.]*[A-Za-z][-\w.]*", re.sub(r"[^\x00-\x7f]", " ", token)):
            if latin.strip(".") not in NAMES:  # "CPU에서": the name, then Korean
                english.add(latin)
    assert not english, (english, shown)
    assert "로드 시간" in shown[0] and "모델 해제" in shown[0] and "삭제할까요" in shown[0]


def test_the_tabs_say_what_runs_a_job_and_the_model_tab_how_much_faster_faster_whisper_ran(tmp_path):
    """The engine sat on the Model tab only (admins only, with a login): the Upload and Microphone tabs say model,
    engine, device and how fast it has run here; the Model tab, faster-whisper against openai-whisper here."""
    from tests.fakes import FakeEngine
    from whisper_ui.core.settings import Settings
    from whisper_ui.runtime.manager import ModelManager
    from whisper_ui.runtime.service import TranscriptionService
    from whisper_ui.ui.notice import engines_compared, runs_text

    manager = ModelManager({"openai-whisper": FakeEngine(), "faster-whisper": FakeEngine()}, "base", "cpu")
    service = TranscriptionService(Settings(model_dir=tmp_path), manager)
    try:
        assert runs_text(service, None) == "**Runs on:** base · openai-whisper · cpu · no job yet"
        assert engines_compared(service, None, "base")[0].startswith("faster-whisper is installed: on a CPU it is")
        for engine, factor in (("openai-whisper", 0.6), ("openai-whisper", 0.8), ("openai-whisper", 0.7),
                               ("faster-whisper", 0.2), ("faster-whisper", 0.25), ("faster-whisper", 0.9)):
            manager._recent_jobs.append({"model": "base", "engine": engine, "real_time_factor": factor})
        assert runs_text(service, None) == "**Runs on:** base · openai-whisper · cpu · ~0.7× real time (recent jobs)"
        assert engines_compared(service, None, "base") == [
            "Here faster-whisper has run base 2.8× as fast as openai-whisper (recent jobs of both)."]
        assert engines_compared(service, None, "small")[0].startswith("faster-whisper is installed")
    finally:
        service.close()
