"""A job's results (issue 14 items 8, 11 and their Korean words): times as mm:ss.s, a table that wraps its
text and keeps its headers whole, words' times when asked for, subtitle options as openai-whisper's CLI
has them, distinct file names for a translation, a click on a segment plays it; the API names its outputs
and gives the summary as data; a link in place of a file gets the app's own error.

One server (tiny.en) for the module; the browser tests drive Debian's Chromium with Playwright."""

from __future__ import annotations

import json
import re
import time
from types import SimpleNamespace

import pytest
from gradio_client import Client, handle_file

from whisper_ui.core.i18n import say
from whisper_ui.core.languages import KOREAN, language_choices, language_name
from whisper_ui.core.transcription import SubtitleOptions, Word, output_stem
from whisper_ui.ui import api_docs, gradio_words
from whisper_ui.ui.format import progress, rows, stamp, summary_line
from whisper_ui.ui.words import language as page_language
from whisper_ui.ui.words import summary_text

from .conftest import start_server, words
from .harness import GradioCallError, RawGradio

CHROMIUM = "/usr/bin/chromium"
ENDPOINTS = ("/transcribe", "/transcribe_microphone")
OUTPUTS = ["text", "segments", "summary", "files"]
SUMMARY_KEYS = {"language", "language_probability", "duration", "processing_seconds", "real_time_factor", "model",
                "device", "engine"}


# --- how results read (no server) ----------------------------------------------------------------------


def test_segment_times_read_as_minutes_seconds_and_tenths():
    assert [stamp(t) for t in (0, 1.25, 9.96, 61.04, 599.95, 3599.94, 3600, 3725.54)] == [
        "00:00.0", "00:01.2", "00:10.0", "01:01.0", "10:00.0", "59:59.9", "1:00:00.0", "1:02:05.5"]


def test_the_table_keeps_seconds_as_data_and_shows_times_and_words():
    segment = SimpleNamespace(start=1.234, end=65.5, text=" Hello <there> ", words=(
        Word(1.234, 1.6, " Hello", 0.9), Word(1.7, 2.0, " <there>", 0.3)))
    plain = SimpleNamespace(start=65.5, end=70.0, text=" a & b", words=())
    table = rows([segment, plain], ["시작", "끝", "텍스트"])
    assert table["headers"] == ["시작", "끝", "텍스트"]
    assert table["data"] == [[1.23, 65.5, "Hello <there>"], [65.5, 70.0, "a & b"]]  # what the API gives
    shown = table["metadata"]["display_value"]
    assert shown[0][:2] == ["00:01.2", "01:05.5"] and shown[1][2] == "a &amp; b"
    assert 'data-t="00:01.2" title="00:01.2 – 00:01.6 · 90%">Hello</span>' in shown[0][2]
    assert 'data-t="00:01.7"' in shown[0][2] and ">&lt;there&gt;</span>" in shown[0][2] and "<rt>" not in shown[0][2]
    assert shown[0][2].count("wui-unsure") == 1  # the unsure word is marked
    assert rows([])["data"] == [] and rows([])["headers"] == ["start", "end", "text"]


@pytest.mark.parametrize("language", ["en", "ko"])
def test_what_speech_detection_left_out_is_a_row_of_its_own_in_the_table_and_the_json(language, tmp_path):
    """A stretch of 10 s or more judged non-speech shows where it was: a row in the table (in the reader's
    language, in italics) and a gap row among the JSON file's segments; the subtitles and the text have none."""
    from whisper_ui.core.i18n import say as say_in
    from whisper_ui.core.transcription import Segment, TranscriptionResult, write_outputs

    speech = [Segment(0, 20.4, 24.0, " Hello there."), Segment(1, 40.0, 43.5, " Goodbye.")]
    gap_text = say_in("gap_no_speech", language)
    table = rows(speech, None, ((0.0, 20.0), (24.5, 39.6)), gap_text)
    assert [row[:2] for row in table["data"]] == [[0.0, 20.0], [20.4, 24.0], [24.5, 39.6], [40.0, 43.5]]
    assert table["data"][0][2] == f"· {gap_text} (20 s)" and table["data"][2][2] == f"· {gap_text} (15 s)"
    assert {"en": "no speech detected", "ko": "음성이 감지되지 않아"}[language] in table["data"][0][2]
    assert table["metadata"]["styling"][0][2] and not table["metadata"]["styling"][1][2]
    result = TranscriptionResult(text="Hello there. Goodbye.", segments=tuple(speech), language="en",
                                 language_probability=None, duration=50.0, processing_seconds=1.0, model="tiny.en",
                                 device="cpu", speech_seconds=9.5, gaps=((0.0, 20.0), (24.5, 39.6)))
    write_outputs(result, tmp_path, stem="talk")
    data = json.loads((tmp_path / "talk.json").read_text())
    assert [(row.get("type"), row["start"]) for row in data["segments"]] == [
        ("gap", 0.0), (None, 20.4), ("gap", 24.5), (None, 40.0)]
    assert data["gaps"] == [{"start": 0.0, "end": 20.0}, {"start": 24.5, "end": 39.6}] and data["speech_share"] == 0.19
    assert "no speech" not in (tmp_path / "talk.srt").read_text() + (tmp_path / "talk.txt").read_text()
    assert (tmp_path / "talk.srt").read_text().count("-->") == 2


@pytest.mark.parametrize("language, expected", [
    ("en", ["**Language:** English (97%)", "**Audio:** 3.2 s (2.0 s of speech, 62%)", "**Processing:** 0.4 s",
            "**Real-time factor:** 0.12", "**Model:** tiny.en on cpu (openai-whisper)"]),
    ("ko", ["**언어:** 영어 (97%)", "**오디오:** 3.2초 (음성 2.0초, 62%)", "**처리 시간:** 0.4초", "**실시간 계수:** 0.12",
            "**모델:** tiny.en, cpu (openai-whisper)"])])
def test_the_summary_line_is_written_from_the_data_in_the_readers_language(language, expected):
    data = {"status": "done", "language": "en", "language_probability": 0.97, "languages": [], "duration": 3.21,
            "speech_seconds": 2.0, "speech_share": 0.623, "processing_seconds": 0.4, "real_time_factor": 0.1246,
            "model": "tiny.en",
            "device": "cpu", "engine": "openai-whisper", "task": "transcribe"}
    reader = SimpleNamespace(headers={"accept-language": {"en": "en-US,en;q=0.9", "ko": "ko-KR,ko"}[language]})
    assert summary_text(data, reader).split(" · ") == expected  # languages by name, in the reader's language
    mixed = summary_text({**data, "languages": [{"language": "ko", "share": 0.6}, {"language": "ja", "share": 0.4}]},
                         reader)
    assert mixed.startswith({"en": "**Language:** Korean 60%, Japanese 40%", "ko": "**언어:** 한국어 60%, 일본어 40%"}[language])
    running = summary_line(progress(30, 211, 10), lambda key, **v: say(key, language, **v))
    assert running == {"en": "00:30 / 03:31 of audio · about 60 s left", "ko": "오디오 00:30 / 03:31 · 약 60초 남음"}[language]

    def line(data):
        return summary_line(data, lambda key, **v: say(key, language, **v))

    # a failed job's message as it was given (a file name's "_" is no emphasis); a cancel that kept nothing says so
    assert line({"status": "failed", "message": "bad_take_1.mp3: no"}) == {
        "en": "**Not transcribed.** bad\\_take\\_1.mp3: no", "ko": "**받아쓰지 못했습니다.** bad\\_take\\_1.mp3: no"}[language]
    assert line({"status": "failed"}).endswith({"en": "(its message is above).", "ko": "(위의 알림을 보세요)."}[language])
    assert line({"status": "cancelled", "kept": False}) == {
        "en": "**Cancelled.** Nothing had been transcribed yet.",
        "ko": "**취소되었습니다.** 아직 받아쓴 내용이 없었습니다."}[language]
    assert "kept above" in line({"status": "cancelled", "kept": True}) or "남아 있습니다" in line({"status": "cancelled"})
    assert line({"status": "waiting", "ahead": 2, "seconds_ahead": 40}) == {
        "en": "Waiting: 2 job(s) ahead of yours · about 40 s", "ko": "대기 중: 앞에 작업 2개 · 약 40초"}[language]
    assert line({"status": "waiting", "ahead": 1, "seconds_ahead": None}) == {
        "en": "Waiting: 1 job(s) ahead of yours", "ko": "대기 중: 앞에 작업 1개"}[language]


@pytest.mark.parametrize("cookie, accept, expected", [
    ("wui_lang=ko", "en-US,en", "ko"),  # picked in Settings: it wins over the browser's
    ("other=1; wui_lang=en", "ko-KR,ko", "en"),
    ("wui_lang=fr", "ko-KR", "en"),  # a language the page lacks: its labels fall back to English, and so does this
    ("", "ko-KR,ko;q=0.9", "ko"),  # nothing picked: the browser's
    ('wui_lang="ko', "en", "en"),  # a malformed cookie: the browser's
    (None, None, "en"),
])
def test_the_readers_language_is_the_one_picked_in_settings_else_the_browsers(cookie, accept, expected):
    headers = {name: value for name, value in (("cookie", cookie), ("accept-language", accept)) if value is not None}
    assert page_language(SimpleNamespace(headers=headers)) == expected


def test_language_names_are_in_the_readers_language_and_every_api_text_has_its_korean():
    assert language_name("ja", "ko") == "일본어" and language_name("ja") == "Japanese"
    assert language_name("xx", "ko") == "xx"
    assert ("일본어 · 日本語 (ja)", "ja") in language_choices("ko")
    assert ("Japanese · 日本語 (ja)", "ja") in language_choices("en")
    assert {code for _, code in language_choices("ko")} == set(KOREAN) == {code for _, code in language_choices()}
    for english, korean in ((api_docs.ENDPOINTS, api_docs.ENDPOINTS_KO), (api_docs.PARAMETERS, api_docs.PARAMETERS_KO),
                            (api_docs.RETURNS, api_docs.RETURNS_KO)):
        assert english.keys() == korean.keys()
    ko = gradio_words.words("ko")
    assert ko["exact"][api_docs.ENDPOINTS["/status"]] == api_docs.ENDPOINTS_KO["/status"]
    assert ko["labels"]["Beam size"] == "빔 크기"
    assert gradio_words.words("en")["exact"] == {} and gradio_words.words("fr") is None


def test_translations_get_their_own_file_names_and_subtitle_options_are_checked():
    assert (output_stem("talk", "transcribe"), output_stem("talk", "translate")) == ("talk", "talk.translated")
    assert not SubtitleOptions().needs_words and SubtitleOptions(highlight_words=True).needs_words
    with pytest.raises(ValueError, match="needs max_line_width"):
        SubtitleOptions(max_line_count=2)
    with pytest.raises(ValueError, match="between 1 and"):
        SubtitleOptions(max_line_width=0)


# --- the API -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app(models_dir, tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("results"), "--model", "tiny.en", "--model-dir", str(models_dir))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(app):
    return Client(app.url, verbose=False)


@pytest.fixture(scope="module")
def fox_result(client, speech):
    """The fox sentence, with word timestamps and openai-whisper CLI's subtitle options."""
    return client.predict(handle_file(str(speech.fox)), "transcribe", "en", 1, True, "", ["srt", "vtt", "json"],
                          False, 16, 1, True, api_name="/transcribe")


def test_view_api_names_the_outputs(client):
    info = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    for endpoint in ENDPOINTS:
        assert [r["label"] for r in info[endpoint]["returns"]] == OUTPUTS, info[endpoint]["returns"]
        summary = next(r for r in info[endpoint]["returns"] if r["label"] == "summary")
        assert summary["component"] == "Json"
    shown = client.view_api(print_info=False, return_format="str")
    for endpoint in ENDPOINTS:
        part = shown.split(f'api_name="{endpoint}"')[1].split(" - predict(")[0]
        assert part.startswith(") -> (text, segments, summary, files)"), part
        returns = part.split("Returns:")[1]
        assert "value_" not in returns and "i18n" not in returns and "key" not in returns, returns


def test_the_summary_is_data_and_the_segments_are_seconds(fox_result):
    text, segments, summary, files = fox_result
    assert {"quick", "lazy"} <= words(text)
    assert isinstance(summary, dict) and SUMMARY_KEYS <= set(summary), summary
    assert (summary["language"], summary["model"], summary["device"], summary["status"]) == ("en", "tiny.en", "cpu",
                                                                                             "done")
    assert 2 < summary["duration"] < 5 and summary["processing_seconds"] > 0
    assert summary["real_time_factor"] == pytest.approx(summary["processing_seconds"] / summary["duration"], rel=0.01)
    assert segments["headers"] == ["start", "end", "text"]
    start, end, segment_text = segments["data"][0]
    assert isinstance(start, float | int) and end > start and "quick" in segment_text.lower()


def test_subtitle_options_shape_the_srt_and_vtt_like_the_whisper_cli(fox_result):
    files = {f.rsplit("/", 1)[-1]: f for f in fox_result[3]}
    assert set(files) == {"fox.srt", "fox.vtt", "fox.json"}, files
    srt = open(files["fox.srt"], encoding="utf-8").read()
    cues = [block.splitlines()[2:] for block in srt.strip().split("\n\n")]
    assert len(cues) > 1 and all(len(lines) == 1 for lines in cues), srt  # max line count 1: a cue per line
    assert all(len(re.sub(r"</?u>", "", line)) <= 16 for lines in cues for line in lines), srt  # max width 16
    assert "<u>" in srt and "<u>" in open(files["fox.vtt"], encoding="utf-8").read()  # highlighted words
    segments = json.load(open(files["fox.json"], encoding="utf-8"))["segments"]
    assert segments[0]["words"]  # the options turned word timestamps on


def test_a_translation_has_its_own_file_names(client, speech):
    files = client.predict(handle_file(str(speech.english)), "translate", "en", 1, False, "", ["txt", "srt"],
                           api_name="/transcribe")[3]
    assert sorted(f.rsplit("/", 1)[-1] for f in files) == ["english.translated.srt", "english.translated.txt"]


def test_a_line_count_without_a_width_is_refused_clearly(client, speech):
    with pytest.raises(Exception, match="Max line count needs a max line width"):
        client.predict(handle_file(str(speech.fox)), "transcribe", "en", 1, False, "", ["srt"], False, 0, 2,
                       api_name="/transcribe")


@pytest.mark.parametrize("value", ["https://example.com/a.wav", {"path": "https://example.com/a.wav"},
                                   {"path": "http://example.com/a.wav", "meta": {"_type": "gradio.FileData"}}])
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_link_in_place_of_a_file_gets_the_apps_own_error(client, value, endpoint):
    with pytest.raises(Exception, match="Links are not fetched: upload the file itself") as caught:
        client.predict(value, api_name=endpoint)
    assert "validation" not in str(caught.value).lower() and "pydantic" not in str(caught.value).lower()


@pytest.mark.parametrize("value", ["https://example.com/a.wav", "/etc/passwd"])
def test_a_link_posted_raw_gets_the_apps_own_error(app, value):
    """Without gradio_client: the page's own queue call, a link or a name where the file goes."""
    raw = RawGradio(app.url)
    try:
        with pytest.raises(GradioCallError) as caught:
            raw.call("transcribe", value)
    finally:
        raw.close()
    message = str(caught.value)
    assert re.match(r"(Links are not fetched|Upload the file itself)", message), message
    assert "validation" not in message.lower(), message


# --- the page ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"])
        yield browser
        browser.close()


def open_page(browser, app, locale):
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.goto(app.url)
    page.wait_for_selector("#upload-file", timeout=30_000)
    return page


def wait_until(condition, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


PAGE = {
    "en-US": {"headers": ["start", "end", "text"], "summary": ["Language:", "Real-time factor:", "tiny.en on cpu"],
              "words": "Word timestamps"},
    "ko-KR": {"headers": ["시작", "끝", "텍스트"], "summary": ["언어:", "실시간 계수:", "tiny.en, cpu"],
              "words": "단어별 타임스탬프"},
}


@pytest.mark.browser
@pytest.mark.parametrize("locale", PAGE)
def test_results_read_well_and_a_click_plays_the_segment(browser, app, speech, locale):
    expect = PAGE[locale]
    page = open_page(browser, app, locale)
    table = page.locator("#upload-segments")

    def headers():
        return [h.strip() for h in table.locator("thead th").all_inner_texts() if h.strip()][:3]

    wait_until(lambda: headers() == expect["headers"], 10)  # before any job too
    page.locator("#upload-file input[type=file]").set_input_files(str(speech.medium))
    page.locator("#upload-file a[href*='file=']").first.wait_for(timeout=30_000)
    page.locator("#upload-file").locator("xpath=ancestor::div[contains(@class,'column')][1]").get_by_text(
        "Options" if locale == "en-US" else "옵션", exact=True).first.click()  # not the estimate's "these options"
    page.get_by_label(expect["words"]).first.check()
    page.click("#upload-run")
    wait_until(lambda: "sunny" in page.locator("#upload-text textarea").input_value().lower())
    page.wait_for_selector(f"#upload-summary >> text={expect['summary'][1]}", timeout=30_000)
    summary = page.locator("#upload-summary").inner_text()
    assert all(part in summary for part in expect["summary"]), summary
    assert "**" not in summary  # Markdown shown as such, not as its source

    assert headers() == expect["headers"], headers()
    assert table.locator("thead th").first.evaluate("e => getComputedStyle(e).whiteSpace") == "nowrap"
    assert table.locator("thead th").nth(2).evaluate("e => getComputedStyle(e).wordBreak") == "keep-all"
    def column(col):
        return [t.strip() for t in table.locator(f"[role=gridcell][data-col='{col}']").all_inner_texts()]

    starts, ends = column(0), column(1)
    assert len(starts) >= 2 and starts[0] == "00:00.0", starts
    assert all(re.fullmatch(r"\d\d:\d\d\.\d", t) for t in starts + ends), (starts, ends)  # mm:ss.s
    # each word's time, one at a time, beside it on hover or focus (the times above every word ran together)
    word_list = table.locator("[role=gridcell] .wui-word")
    word_times = [word_list.nth(i).get_attribute("data-t") for i in range(word_list.count())]
    assert len(word_times) >= 8 and all(re.fullmatch(r"\d\d:\d\d\.\d", t) for t in word_times), word_times
    after = "e => getComputedStyle(e, '::after').content"
    assert word_list.nth(1).evaluate(after) in ("none", "normal", "")  # no time shown until asked for
    word_list.nth(1).hover()
    assert word_list.nth(1).evaluate(after) == f'" {word_times[1]}"'
    word_list.nth(2).focus()
    assert word_list.nth(2).evaluate(after) == f'" {word_times[2]}"'
    # no two words' boxes overlap (the rendered page: the time that shows pushes the words after it along)
    boxes = [box for i in range(word_list.count()) if (box := word_list.nth(i).bounding_box())]
    overlapping = [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:]
                   if a["x"] < b["x"] + b["width"] - 1 and b["x"] < a["x"] + a["width"] - 1
                   and a["y"] < b["y"] + b["height"] - 1 and b["y"] < a["y"] + a["height"] - 1]
    assert not overlapping, overlapping[:3]
    text_cell = table.locator("[role=gridcell][data-col='2'] .cell-wrap > span").first
    assert text_cell.evaluate("e => getComputedStyle(e).whiteSpace") not in ("nowrap", "pre")  # the text wraps
    page.screenshot(path=str(_shots() / f"{locale[:2]}-upload-results.png"), full_page=True)
    downloads = page.locator("#upload-files")
    assert downloads.locator("a").count() >= 5  # the results' files, and no "×" beside them: nothing to remove
    assert downloads.locator("button.label-clear-button").count() == 0 or \
        not downloads.locator("button.label-clear-button").first.is_visible()

    # a click on a segment plays the audio from its start
    row = next(i for i, text in enumerate(column(2)) if "sunny" in text.lower())
    minutes, seconds = starts[row].split(":")
    start = int(minutes) * 60 + float(seconds)
    assert start > 1
    table.locator(f"[role=gridcell][data-row='{row}'][data-col='2']").click()
    player = page.locator("#upload-player audio")
    player.wait_for(state="attached", timeout=10_000)
    wait_until(lambda: player.evaluate("a => a.currentTime") >= start - 0.2, 15)
    position = player.evaluate("a => a.currentTime")
    assert position < start + 2, (position, start)
    page.context.close()


def _shots():
    from .conftest import ROOT

    folder = ROOT / "artifacts" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


FAILED = {"en-US": {"failed": "Not transcribed.", "record": "Record something first"},
          "ko-KR": {"failed": "받아쓰지 못했습니다.", "record": "먼저 녹음하세요"}}


@pytest.mark.browser
@pytest.mark.parametrize("locale", FAILED)
def test_a_failed_job_says_why_on_its_line_and_cancel_goes_off(browser, app, speech, locale, tmp_path):
    """Before (issue 25 item 2): after a broken file, or Transcribe with nothing recorded, the line kept
    "Starting…" once the toast had gone, and Cancel stayed active."""
    expect = PAGE[locale] | FAILED[locale]
    page = open_page(browser, app, locale)
    broken = tmp_path / "broken_file.mp3"
    broken.write_bytes(b"ID3" + bytes(range(256)) * 40)  # a tag, then no audio
    page.locator("#upload-file input[type=file]").set_input_files(str(broken))
    page.locator("#upload-file a[href*='file=']").first.wait_for(timeout=30_000)
    page.click("#upload-run")
    line = page.locator("#upload-summary")
    wait_until(lambda: expect["failed"] in line.inner_text(), 60)
    shown = line.inner_text()
    toast = page.locator(".toast-body").first.inner_text()  # the job's own message, as its toast says it
    message = shown.split(expect["failed"], 1)[1].strip()
    assert len(message) > 10 and message in toast, (shown, toast)
    assert "Starting" not in shown and "시작하는 중" not in shown, shown
    wait_until(lambda: page.locator("#upload-cancel").is_disabled(), 10)

    page.click("#tab-microphone-button")
    page.click("#mic-run")  # nothing recorded
    mic_line = page.locator("#mic-summary")
    wait_until(lambda: expect["record"] in mic_line.inner_text(), 30)
    assert expect["failed"] in mic_line.inner_text()
    wait_until(lambda: page.locator("#mic-cancel").is_disabled(), 10)
    # the next job clears it
    page.click("#tab-upload-button")
    page.locator("#upload-file :is(button[aria-label='Clear'], button[aria-label='지우기'])").first.click()
    page.locator("#upload-file input[type=file]").set_input_files(str(speech.fox))
    page.locator("#upload-file a[href*='file=']").first.wait_for(timeout=30_000)
    page.click("#upload-run")
    page.wait_for_selector(f"#upload-summary >> text={expect['summary'][1]}", timeout=60_000)
    assert expect["failed"] not in line.inner_text()
    page.context.close()


WAITING = {"en-US": "Waiting: 1 job(s) ahead of yours · about", "ko-KR": "대기 중: 앞에 작업 1개 · 약"}


@pytest.mark.browser
@pytest.mark.parametrize("locale", WAITING)
def test_a_job_waiting_behind_anothers_says_its_place_until_it_starts(browser, app, speech, locale):
    """Before (issue 25 item 1): a user whose job waited behind another's saw nothing (Gradio's "queue: 1/1"
    in a line 0 px tall), in any language."""
    other = Client(app.url, verbose=False)
    other.predict(handle_file(str(speech.english)), "transcribe", "en", 1, api_name="/transcribe")  # a recent job
    page = open_page(browser, app, locale)
    page.locator("#upload-file input[type=file]").set_input_files(str(speech.fox))
    page.locator("#upload-file a[href*='file=']").first.wait_for(timeout=30_000)
    ahead = other.submit(handle_file(str(speech.long)), "transcribe", "en", 5, api_name="/transcribe")
    wait_until(lambda: other.predict(api_name="/status")["jobs"]["running"] == 1, 30)
    page.click("#upload-run")
    line = page.locator("#upload-waiting")
    wait_until(lambda: WAITING[locale] in line.inner_text(), 30)
    assert line.is_visible() and line.bounding_box()["height"] > 10
    ahead.cancel()  # the job ahead stops at the model's next step: this one starts, and the line goes
    page.wait_for_selector(f"#upload-summary >> text={PAGE[locale]['summary'][1]}", timeout=60_000)
    assert line.inner_text().strip() == ""
    assert "quick" in page.locator("#upload-text textarea").input_value().lower()
    page.context.close()


def test_the_estimate_is_a_range_from_this_models_jobs_with_these_options(tmp_path, speech):
    """The estimate copied the last job's speed whatever its model and options ("about 1584 s" for 4 minutes,
    issue 25): now the range of this model's recent jobs on this engine and device in the same options class
    (beam search or greedy, word timestamps or not), any options where none had these."""
    from tests.fakes import FakeEngine
    from whisper_ui.core.settings import Settings
    from whisper_ui.runtime.manager import ModelManager
    from whisper_ui.runtime.service import TranscriptionService
    from whisper_ui.ui.upload import estimate_text

    manager = ModelManager(FakeEngine(), "base", "cpu")
    service = TranscriptionService(Settings(model_dir=tmp_path), manager)
    try:
        duration, span = service.estimate(speech.fox)
        assert 2 < duration < 5 and span is None  # no job yet
        jobs = [("base", True, False, 0.5), ("base", True, False, 0.7), ("base", False, False, 0.1),
                ("base", True, True, 2.0), ("tiny.en", True, False, 9.0)]
        for model, beam, words_, factor in jobs:
            manager._recent_jobs.append({"model": model, "engine": "fake", "device": "cpu", "beam": beam,
                                         "words": words_, "real_time_factor": factor})
        assert service.estimate(speech.fox, 5, False)[1] == pytest.approx((duration * 0.5, duration * 0.7))
        assert service.estimate(speech.fox, 1, False)[1] == pytest.approx((duration * 0.1, duration * 0.1))
        assert service.estimate(speech.fox, 1, True)[1] == pytest.approx((duration * 0.1, duration * 2.0))  # any
        line = estimate_text(service, str(speech.fox), None, 5, True)
        assert line.endswith(f"about {duration * 2.0:.0f} s (this model's recent jobs with these options, at this "
                             "machine's load now)."), line
    finally:
        service.close()


def test_on_the_cpu_the_estimate_is_the_jobs_work_over_the_cpu_it_can_get_now(monkeypatch):
    """Issue 25 item 4: jobs timed on a busy machine (real-time factors 2 and 3) did 0.8 and 1.2 CPU seconds of
    work a second of audio; the estimate of the next job divides that work by the CPUs its two threads get now."""
    import os

    import torch

    from tests.fakes import FakeEngine
    from whisper_ui.runtime.manager import ModelManager

    manager = ModelManager(FakeEngine(), "base", "cpu")
    manager.load()
    for rtf, cpu in ((2.0, 0.8), (3.0, 1.2)):
        manager._recent_jobs.append({"model": "base", "engine": "fake", "device": "cpu", "beam": False,
                                     "words": False, "real_time_factor": rtf, "cpu_factor": cpu})
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    for load, running, expected in ((0.0, False, (4.0, 6.0)),  # quiet: both threads run all the time
                                    (2.0, False, (8.0, 12.0)),  # two other tasks: half the CPU
                                    (2.0, True, (4.0, 6.0))):  # the load is this process's own job
        monkeypatch.setattr(os, "getloadavg", lambda load=load: (load, load, load))
        manager._set(jobs_running=int(running))
        assert manager.expected_seconds("base", 10, False, False) == pytest.approx(expected), (load, running)

    def no_load_average():
        raise OSError("not on this system")

    monkeypatch.setattr(os, "getloadavg", no_load_average)  # Windows: the real-time factors, as they were
    manager._set(jobs_running=0)
    assert manager.expected_seconds("base", 10, False, False) == pytest.approx((20.0, 30.0))
    manager.close()


def test_the_time_left_weighs_the_usual_pace_against_the_jobs_own():
    assert progress(30, 240, 60)["seconds_left"] == 420  # the job's own pace alone: its slow first window
    assert progress(30, 240, 60, prior=0.2)["seconds_left"] == round((0.2 * 0.875 + 2.0 * 0.125) * 210)  # 89
    assert progress(120, 240, 60, prior=0.2)["seconds_left"] == round((0.2 * 0.5 + 0.5 * 0.5) * 120)
    assert progress(0, 240, 5, prior=0.2)["seconds_left"] is None  # nothing done yet: no line of time left


@pytest.fixture(scope="module")
def budget_app(models_dir, tmp_path_factory):
    """base with a budget of half real time: the 30 s floor for a 13 s clip."""
    server = start_server(tmp_path_factory.mktemp("budget"), "--model", "base", "--models", "base", "--model-dir",
                          str(models_dir), "--compute-budget", "0.5")
    yield server
    server.stop()


RETRIED = {"en-US": ("of audio", "compute budget"), "ko-KR": ("오디오 00:", "계산 예산")}


@pytest.mark.browser
@pytest.mark.parametrize("locale", RETRIED)
def test_a_clip_the_model_keeps_retrying_shows_where_it_is_and_stops_at_its_budget(browser, budget_app, locale,
                                                                                   tmp_path):
    """Issue 25 item 3, on the page: 13 s of espeak-ng Korean, auto language, word timestamps, on base (the model
    retries its one window at every temperature). Before: "Starting…" for over 400 s, twice, on a busy machine.
    Now the line says where the job is as soon as the model decodes (the window's tries are told), and the job
    ends at its budget with its notice (a warning beside the text so far, or the line, with no words)."""
    import subprocess

    progress_words, budget_words = RETRIED[locale]
    clip = tmp_path / "ko.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(clip), "안녕하세요. 오늘 회의에서는 다음 분기 예산과 새로운 채용 "
                    "계획을 논의하겠습니다. 먼저 지난달 매출 보고서를 검토하고, 그 다음에 마케팅 팀의 제안을 듣겠습니다."],
                   check=True, capture_output=True)
    page = open_page(browser, budget_app, locale)
    page.locator("#upload-file input[type=file]").set_input_files(str(clip))
    page.locator("#upload-file a[href*='file=']").first.wait_for(timeout=30_000)
    page.click("#tab-upload >> text=/^(Options|옵션)$/")
    page.get_by_label(PAGE[locale]["words"]).first.check()
    page.click("#upload-run")
    line = page.locator("#upload-summary")
    wait_until(lambda: progress_words in line.inner_text(), 30)  # not "Starting…" while the window is retried
    said = lambda: " ".join([line.inner_text(), *page.locator(".toast-body").all_inner_texts()])  # noqa: E731
    wait_until(lambda: budget_words in said(), 90)
    page.screenshot(path=str(_shots() / f"{locale[:2]}-budget.png"), full_page=True)
    page.context.close()
