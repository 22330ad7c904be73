"""The whole page with a Korean browser (issue 14 item 4): after a job, a failed load and a cancel, every tab
shows Korean words only, apart from names (models, engines, files, languages), units and codes."""

import re

import pytest

from .conftest import OFFLINE, start_server
from .test_browser import browser, long_speech, mic_wav, open_page, select_tab, wait_until  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


# names, units and codes: what stays as it is in a Korean page
ALLOWED = {
    # models, engines and their parts
    "tiny", "en", "base", "small", "medium", "large", "turbo", "v1", "v2", "v3", "openai", "whisper", "faster",
    "ctranslate2", "CTranslate2", "int8", "float32", "float16", "fp16", "ui", "local",
    # the machine and the software
    "cpu", "CPU", "GPU", "CUDA", "RSS", "JSON", "API", "Gradio", "gradio", "torch", "ffmpeg", "Hugging", "Face",
    "MCP", "HTTPS", "localhost", "not", "installed",  # "not installed": a package's version field (a value)
    # units and formats
    "MB", "GB", "KB", "kB", "ms", "min", "Hz", "txt", "srt", "vtt", "tsv", "json", "wav", "WAV", "MP3", "mp3",
    # the fake microphone's device name (Chromium's), file names of the test
    "Fake", "Default", "Audio", "Input", "fox", "long3",
    # the file the page offers after a cancel (partial-transcript.txt), named in the line that says so
    "partial", "transcript",
    # the app's own name, in its intro
    "OpenAI", "Whisper",
    # language codes beside names
    "ko", "auto",
}

COLLECT = """() => {
  // transcripts, paths, language names, plots, Gradio's footer, file names, versions: names and content;
  // .sr-only: Gradio's screen-reader lines, some of them untranslated keys ("common.complete")
  const skip = el => el.closest('[id$=-segments] :is(tbody, .virtual-body), .sr-only, #upload-text, #mic-text,'
                                + ' pre, code, ul[role=listbox],'
                                + ' .plot-container, footer, [id$=-files] a, #status-versions');
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement;
    if (!el || skip(el) || !el.offsetParent || ['SCRIPT', 'STYLE'].includes(el.tagName)) continue;
    out.push(node.textContent);
  }
  for (const field of document.querySelectorAll('input[type=text], textarea, input:not([type])')) {
    if (field.offsetParent && !skip(field)) out.push(field.value);
  }
  return out.join('\\n');
}"""


def english_words(text: str) -> set[str]:
    text = re.sub(r"\S*[/\\\\]\S*", " ", text)  # paths and addresses
    text = re.sub(r"\b\d[\w.:+-]*", " ", text)  # versions, times, sizes
    return {w for w in re.findall(r"[A-Za-z][A-Za-z0-9]*", text) if w not in ALLOWED and len(w) > 1}


@pytest.fixture(scope="module")
def app(models_dir, tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("korean"), "--model", "tiny.en", "--model-dir", str(models_dir),
                          "--models", "tiny.en,base,small", env=OFFLINE)
    yield server
    server.stop()


def collect(page) -> str:
    """The page's words once no event is pending: Gradio's own "processing | 0.4s" over a component (English,
    from its status tracker) shows only while a call is slower than usual, as on a busy machine."""
    page.wait_for_function("() => ![...document.querySelectorAll('.progress-text')].some(e => e.offsetParent)",
                           timeout=30_000)
    return page.evaluate(COLLECT)


def test_every_tab_is_korean_after_a_job_a_failed_load_and_a_cancel(browser, app, speech, long_speech):  # noqa: F811
    page = open_page(browser, app, locale="ko-KR")
    toasts: list[str] = []
    # a job
    page.locator("#upload-file input[type=file]").set_input_files(str(speech.fox))
    page.click("#upload-run")
    wait_until(lambda: "lazy" in page.locator("#upload-text textarea").input_value().lower(), 120)
    wait_until(lambda: page.locator("#upload-run").is_enabled() and not page.locator("#upload-cancel").is_enabled(), 30)
    seen = {"upload after a job": collect(page)}
    # a failed load
    select_tab(page, "model")
    page.locator("#model-choice input").click()
    page.locator("ul[role=listbox] li", has_text="small").first.click()
    page.click("#model-load")
    page.wait_for_selector(".toast-body", timeout=30_000)
    toasts += page.locator(".toast-body").all_inner_texts()
    seen["model after a failed load"] = collect(page)
    # a cancel
    select_tab(page, "upload")
    page.locator("#upload-file :is(button[aria-label='Clear'], button[aria-label='지우기'])").first.click()
    page.locator("#upload-file input[type=file]").set_input_files(str(long_speech))
    page.click("#upload-run")
    # this job's own words, not the fox's still shown until the job's first update comes (then the cancel
    # keeps them, and the page offers partial-transcript.txt)
    wait_until(lambda: (shown := page.locator("#upload-text textarea").input_value().strip())
               and "lazy" not in shown.lower(), 120)
    seen["upload while a job runs"] = collect(page)
    page.click("#upload-cancel")
    page.wait_for_selector("#upload-summary >> text=취소되었습니다", timeout=60_000)
    seen["upload after a cancel"] = collect(page)
    for tab in ("microphone", "model", "status"):
        select_tab(page, tab)
        page.wait_for_timeout(2500)  # the status tab's first refresh and plots
        seen[tab] = collect(page)
        page.screenshot(path=f"artifacts/screenshots/ko-{tab}-after-jobs.png", full_page=True)
    toasts += page.locator(".toast-body").all_inner_texts()
    seen["toasts"] = "\n".join(toasts)
    english = {where: sorted(english_words(text)) for where, text in seen.items()}
    english["API page"] = api_page_english(page)
    assert not any(english.values()), "\n".join(f"{where}: {found}" for where, found in english.items())
    page.context.close()


# --- Korean picked in Gradio's Settings (issue 25 item 9): live, whatever the browser's language ---

API_NAMES = {  # what the API page shows as names: parameters, values, clients, programs
    "transcribe", "translate", "handle_file", "recording", "wav", "openai", "whisper", "CLI", "REST", "OpenAI",
    "segments", "text", "summary", "files", "state", "models", "status", "max_line_width", "JSON", "python",
    "cURL", "Gradio", "HF", "POST", "GET", "EVENT_ID", "jq", "awk", "data", "path", "MCP", "url",
    "mp4", "mkv", "flac", "ogg", "opus", "webm", "m4a", "headers", "start", "end", "json", "admin",
    "GRADIO_MCP_SERVER", "True", "mcp_server", "javascript", "curl", "de",
}

API_TEXT = """() => {
  const skip = el => el.closest('pre, code, .code, .post, .url, li.snippet');
  const out = [];
  const walker = document.createTreeWalker(document.querySelector('[role=dialog]'), NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (el && el.offsetParent && !skip(el)) out.push(walker.currentNode.textContent);
  }
  return out.join('\\n');
}"""


def choose_language(page, name: str) -> None:
    """The page's language as a reader picks it: Settings in the footer, its Language list."""
    page.locator("footer button", has_text=re.compile("Settings|설정")).click()
    field = page.locator("[role=dialog] :is(input[aria-label*=anguage], input[aria-label=언어])").first
    field.click()
    field.fill(name)
    page.locator("ul[role=listbox] li", has_text=name).first.click()
    page.wait_for_function(f"() => document.documentElement.lang === {name and ('ko' if name == '한국어' else 'en')!r}")
    page.locator("[role=dialog] .backdrop").first.click(position={"x": 10, "y": 10}, force=True)
    page.wait_for_selector("[role=dialog]", state="detached", timeout=10_000)


def api_page_text(page) -> str:
    """The API page's words, in each of its clients' tabs (names, types and code left out)."""
    page.locator("footer button").first.click()
    page.locator("[role=dialog] li.snippet").first.wait_for(timeout=10_000)
    seen = []
    for client in ("Python", "JavaScript", "CLI", "cURL", "MCP"):
        page.locator("[role=dialog] li.snippet", has_text=client).first.click()
        page.wait_for_timeout(300)
        seen.append(page.evaluate(API_TEXT))
    page.locator("[role=dialog] .backdrop").first.click(position={"x": 10, "y": 10}, force=True)
    page.wait_for_selector("[role=dialog]", state="detached", timeout=10_000)
    return "\n".join(seen)


def api_page_english(page) -> list[str]:
    """The English words of the API page (names, snake_case or not, left out)."""
    return sorted(english_words(re.sub(r"\w+_\w+", " ", api_page_text(page))) - API_NAMES)


def test_korean_picked_in_settings_turns_every_tab_and_the_api_page_korean_live(browser, app, speech,  # noqa: F811
                                                                                tmp_path):
    page = open_page(browser, app, locale="en-US")
    # a job in English first: what it wrote is written again in Korean
    page.locator("#upload-file input[type=file]").set_input_files(str(speech.fox))
    page.click("#upload-run")
    page.wait_for_selector("#upload-summary >> text=Language", timeout=120_000)
    choose_language(page, "한국어")
    page.wait_for_selector("#upload-runs >> text=실행", timeout=30_000)
    page.wait_for_selector("#upload-summary >> text=언어", timeout=30_000)
    page.wait_for_selector("#tab-status-button >> text=상태", timeout=30_000)
    seen = {"upload after the switch": collect(page)}
    assert page.locator("#upload-segments thead").inner_text().split() == ["시작", "끝", "텍스트"]
    # the languages by their Korean names, found by them
    page.get_by_text("옵션", exact=True).first.click()
    language = page.locator("#tab-upload input[aria-expanded]").first
    language.click()
    language.fill("")
    language.press_sequentially("일본")
    language.press("End")  # an input method's key events, which Playwright's Hangul lacks (test_page_inputs)
    wait_until(lambda: page.locator("ul[role=listbox] li").all_inner_texts() == ["일본어 · 日本語 (ja)"], 10)
    page.locator("ul[role=listbox] li", has_text="일본어").first.click()
    assert language.input_value() == "일본어 · 日本語 (ja)"
    page.get_by_text("옵션", exact=True).first.click()
    # Gradio's refusal of a file type
    notes = tmp_path / "notes.txt"
    notes.write_text("not audio")
    page.locator("#upload-file :is(button[aria-label='Clear'], button[aria-label='지우기'])").first.click()
    page.locator("#upload-file input[type=file]").set_input_files(str(notes))
    page.wait_for_selector(".toast-body >> text=파일 형식이 맞지 않습니다", timeout=10_000)
    page.wait_for_timeout(1000)  # every toast of it (Gradio shows one per check)
    toasts = page.locator(".toast-body, .toast-title").all_inner_texts()
    seen["toasts"] = re.sub(r"notes\.txt|\.\w+\b", " ", "\n".join(toasts))  # the file's name, the types' endings
    for close in page.locator("button.toast-close").all():
        close.click()
    for tab in ("microphone", "model", "status"):
        select_tab(page, tab)
        page.wait_for_timeout(2500)  # the status tab's first refresh and plots
        seen[tab] = collect(page)
    select_tab(page, "upload")
    english = {where: sorted(english_words(text)) for where, text in seen.items()}
    english["API page"] = api_page_english(page)
    assert not any(english.values()), "\n".join(f"{where}: {found}" for where, found in english.items())
    page.screenshot(path="artifacts/screenshots/ko-from-settings-upload.png", full_page=True)
    # and back to English: no Korean word is left
    choose_language(page, "English")
    page.wait_for_selector("#upload-runs >> text=Runs on", timeout=30_000)
    korean = {}
    for tab in ("upload", "microphone", "model", "status"):
        select_tab(page, tab)
        page.wait_for_timeout(1500)
        korean[tab] = sorted(set(re.findall(r"[가-힣]+", collect(page))))
    korean["API page"] = sorted(set(re.findall(r"[가-힣]+", api_page_text(page))))
    assert not any(korean.values()), korean
    page.context.close()
