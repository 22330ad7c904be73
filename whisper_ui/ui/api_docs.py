"""What Gradio's API page ("Use via API" in the footer) and ``gradio_client`` read of the app's endpoints.

Gradio describes a parameter by its component's label and type, and gives an example of its own. The page's
labels are translation keys, so the API page said ``"[object Object]" … component`` for every parameter, and a
file's example was a PDF link, which the app refuses ("Links are not fetched"). Here each endpoint, parameter
and return value gets its name and a description in English (the API's language), and a file's example is a
local audio file. The MCP tool's endpoint is left off the page: it answers only through the MCP server.
"""

from __future__ import annotations

import re

import gradio as gr

from ..core.i18n import TRANSLATIONS

# a file parameter's example: the Python snippet reads handle_file('recording.wav')
LOCAL_AUDIO = {"path": "recording.wav", "url": "recording.wav", "orig_name": "recording.wav",
               "meta": {"_type": "gradio.FileData"}}
ENDPOINTS = {
    "/transcribe": "Transcribe an audio or video file (or translate its speech into English). One job runs at a "
                   "time on the model; others wait in the queue. The REST API (/v1/audio/transcriptions, "
                   "OpenAI's shape) does the same: see /api-guide.",
    "/transcribe_microphone": "Transcribe a recording (what the Microphone tab sends): the same options and "
                              "results as /transcribe.",
    "/load_model": "Load a model (and engine) for every user; with a login, administrators only (--admin).",
    "/unload_model": "Unload the model to free its memory; the next job loads it again. Administrators only "
                     "with a login.",
    "/status": "The server's device, model, memory and recent jobs (what the Status tab shows).",
}
PARAMETERS = {  # parameter -> its description (the label's words name it)
    "file": "A local audio or video file (wav, mp3, m4a, flac, ogg, opus, webm, mp4, mkv...): "
            "handle_file('recording.wav'). Links are not fetched.",
    "recording": "A local audio file, handle_file('recording.wav'), transcribed as a microphone recording.",
    "task": '"transcribe" keeps the spoken language; "translate" gives English.',
    "language": 'The spoken language as a code ("en", "ko", "de"...), or "auto" to detect it from the first 30 s.',
    "beam_size": "1 to 10: 1 is greedy (fastest), 5 is openai-whisper's own default (more accurate).",
    "word_timestamps": "Give each word its time (in segments and the json file), as openai-whisper's CLI does.",
    "initial_prompt": "Names and terms to spell right, in the spoken language; empty for none.",
    "formats": 'The files to write: any of "txt", "srt", "vtt", "tsv", "json"; none for no files.',
    "vad": "Speech detection: only speech reaches the model (noise and silence cost nothing); off for singing.",
    "max_line_width": "Subtitles: at most this many characters a line (0: no limit); asks for word timestamps.",
    "max_line_count": "Subtitles: at most this many lines a cue (0: no limit); needs max_line_width.",
    "highlight_words": "Subtitles: underline each word as it is spoken.",
    "name": "A model this server offers (tiny.en, base, small...): see /v1/models.",
    "engine": '"openai-whisper" or "faster-whisper", where installed.',
}
EXAMPLES = {"initial_prompt": "", "word_timestamps": False, "highlight_words": False, "formats": ["txt", "srt"],
            "beam_size": 5}
RETURNS = {
    "text": "The whole transcript.",
    "segments": 'The segments as a table: {"headers": [start, end, text], "data": [[seconds, seconds, text], ...]}.',
    "summary": "The job's summary: language, audio and processing seconds, model, engine, device, notices.",
    "files": "The files written (one per format asked for), to download.",
    "state": "What serves now: model, engine, device (Markdown).",
    "models": "The models offered, and which is loaded.",
    "status": "The server's state, as data.",
}
# the same in Korean: what the API page shows a Korean reader (gradio_words rewrites the English it finds)
ENDPOINTS_KO = {
    "/transcribe": "오디오나 동영상 파일을 받아씁니다(또는 말을 영어로 번역합니다). 모델에서는 한 번에 작업 하나가 돌고, "
                   "나머지는 큐에서 기다립니다. REST API(/v1/audio/transcriptions, OpenAI의 형식)도 같은 일을 합니다: "
                   "/api-guide를 보세요.",
    "/transcribe_microphone": "녹음을 받아씁니다(마이크 탭이 보내는 것): 옵션과 결과는 /transcribe와 같습니다.",
    "/load_model": "모든 사용자를 위해 모델(과 엔진)을 불러옵니다. 로그인이 있으면 관리자만(--admin) 할 수 있습니다.",
    "/unload_model": "모델을 내려 메모리를 비웁니다. 다음 작업이 다시 불러옵니다. 로그인이 있으면 관리자만 할 수 있습니다.",
    "/status": "서버의 장치, 모델, 메모리, 최근 작업(상태 탭이 보여 주는 것).",
}
PARAMETERS_KO = {
    "file": "이 컴퓨터의 오디오나 동영상 파일(wav, mp3, m4a, flac, ogg, opus, webm, mp4, mkv...): "
            "handle_file('recording.wav'). 링크는 가져오지 않습니다.",
    "recording": "이 컴퓨터의 오디오 파일, handle_file('recording.wav'). 마이크 녹음으로 받아씁니다.",
    "task": '"transcribe"는 말한 언어 그대로, "translate"는 영어로 씁니다.',
    "language": '말한 언어의 코드("en", "ko", "de"...), 또는 처음 30초로 감지하려면 "auto".',
    "beam_size": "1에서 10까지: 1은 탐욕 탐색(가장 빠름), 5는 openai-whisper의 기본값(더 정확함).",
    "word_timestamps": "단어마다 시간을 붙입니다(segments와 json 파일에). openai-whisper의 CLI처럼.",
    "initial_prompt": "정확히 표기할 이름과 용어(말한 언어로). 없으면 비워 두세요.",
    "formats": '만들 파일: "txt", "srt", "vtt", "tsv", "json" 가운데 아무것이나. 비우면 파일을 만들지 않습니다.',
    "vad": "음성 감지: 말소리만 모델에 갑니다(잡음과 무음은 비용이 없음). 노래에는 끄세요.",
    "max_line_width": "자막: 한 줄의 최대 글자 수(0: 제한 없음). 단어별 타임스탬프를 씁니다.",
    "max_line_count": "자막: 한 자막의 최대 줄 수(0: 제한 없음). max_line_width가 필요합니다.",
    "highlight_words": "자막: 말하는 단어에 밑줄을 긋습니다.",
    "name": "이 서버가 제공하는 모델(tiny.en, base, small...): /v1/models를 보세요.",
    "engine": '"openai-whisper" 또는 "faster-whisper"(설치되어 있으면).',
}
RETURNS_KO = {
    "text": "받아쓴 전체 텍스트.",
    "segments": '구간 표: {"headers": [start, end, text], "data": [[초, 초, 텍스트], ...]}.',
    "summary": "작업 요약: 언어, 오디오와 처리 시간(초), 모델, 엔진, 장치, 알림.",
    "files": "만든 파일(요청한 형식마다 하나), 내려받기용.",
    "state": "지금 쓰는 것: 모델, 엔진, 장치(마크다운).",
    "models": "제공하는 모델과 불러온 모델.",
    "status": "서버의 상태(데이터).",
}
HIDDEN = ("/mcp_transcribe",)  # the MCP tool: refused outside the MCP server (ui.mcp), so not listed


def describe_api(demo: gr.Blocks) -> None:
    """Gradio's API description, named and described (``get_api_info`` replaced on the instance). Outputs are
    named ``text``, ``segments``, ``summary``, ``files`` (``wui_api_name``, set where the page makes them) or
    after their label's English words: Gradio names a return value after its label, which here is a
    translation key (or none: ``value_23``). The MCP server reads the description once, at start
    (``hide_tool_endpoint``), with its tool's endpoint still in it."""
    get_api_info = demo.get_api_info

    def described(*args, **kwargs):
        info = get_api_info(*args, **kwargs)
        endpoints = (info or {}).get("named_endpoints", {})
        for fn in demo.fns.values():
            endpoint = endpoints.get(f"/{fn.api_name}")
            if endpoint is None:
                continue
            if f"/{fn.api_name}" in ENDPOINTS:
                endpoint["description"] = ENDPOINTS[f"/{fn.api_name}"]
            for block, parameter in zip(fn.inputs, endpoint.get("parameters", ()), strict=False):
                name = parameter.get("parameter_name")
                parameter["label"] = _words(getattr(block, "label", None)) or name
                if name in PARAMETERS:
                    parameter.setdefault("python_type", {})["description"] = PARAMETERS[name]
                if isinstance(parameter.get("example_input"), dict) and "url" in parameter["example_input"]:
                    parameter["example_input"] = dict(LOCAL_AUDIO)
                elif name in EXAMPLES:
                    parameter["example_input"] = EXAMPLES[name]
            shown = [block for block in fn.outputs if not getattr(block, "skip_api", False)]
            for block, returned in zip(shown, endpoint.get("returns", ()), strict=False):
                name = getattr(block, "wui_api_name", None) or _english(getattr(block, "label", None))
                if name:
                    returned["label"] = name
                    if name in RETURNS:
                        returned.setdefault("python_type", {})["description"] = RETURNS[name]
        if getattr(demo, "wui_tool_hidden", False):
            for name in HIDDEN:
                endpoints.pop(name, None)
        return info

    demo.get_api_info = described


def hide_tool_endpoint(demo: gr.Blocks) -> None:
    """From now on the API page leaves the MCP tool's endpoint off (called once the MCP server has read it)."""
    demo.wui_tool_hidden = True


def _words(label) -> str | None:
    """A translated label's English words ("Beam size"); a plain label as it is; None for none."""
    key = getattr(label, "key", None)
    if isinstance(key, str):
        return TRANSLATIONS["en"].get(key)
    return label if isinstance(label, str) and label else None


def _english(label) -> str | None:
    """A translated label's English words as a name ("Model state" -> "model_state"); None for others."""
    key = getattr(label, "key", None)
    words = TRANSLATIONS["en"].get(key) if isinstance(key, str) else None
    return "_".join(re.findall(r"[a-z0-9]+", words.lower())) or None if words else None
