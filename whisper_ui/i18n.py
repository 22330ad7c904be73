"""The page's text in English and Korean; the browser's language chooses (gr.I18n).

Keys start with ``wui_``: Gradio's own translations use plain words ("file")
in the same namespace.
"""

EN = {
    "wui_intro": "# whisper-ui\nSpeech to text with OpenAI Whisper, on this machine: no audio leaves it.",
    "wui_tab_upload": "Upload",
    "wui_tab_microphone": "Microphone",
    "wui_tab_model": "Model",
    "wui_tab_status": "Status",
    "wui_file": "Audio or video file",
    "wui_limits": "Limits",
    "wui_options": "Options",
    "wui_task": "Task",
    "wui_task_info": "translate gives English text",
    "wui_language": "Language",
    "wui_language_info": "auto detects it from the first 30 seconds",
    "wui_beam_size": "Beam size",
    "wui_beam_info": "1 is fastest; 5 is more accurate",
    "wui_word_timestamps": "Word timestamps",
    "wui_initial_prompt": "Initial prompt",
    "wui_prompt_info": "names and terms to spell right",
    "wui_formats": "Output files",
    "wui_transcribe": "Transcribe",
    "wui_cancel": "Cancel",
    "wui_text": "Text",
    "wui_segments": "Segments",
    "wui_downloads": "Downloads",
    "wui_recording": "Recording",
    "wui_mic_note": "Browsers allow the microphone only on localhost or over HTTPS.",
    "wui_model": "Model",
    "wui_engine": "Engine",
    "wui_vad": "Speech detection",
    "wui_vad_info": "only speech reaches the model: noise and silence cost nothing; turn off for singing",
    "wui_engine_info": "faster-whisper: same weights, several times faster on the CPU, half the memory",
    "wui_models": "Models",
    "wui_load": "Load / switch",
    "wui_unload": "Unload",
    "wui_read_only": "Read-only: only an administrator may load, switch or unload models and clean the caches.",
    "wui_old_caches": "Old model caches (Hugging Face, torch)",
    "wui_clean": "Clean old caches…",
    "wui_confirm_delete": "Yes, delete",
    "wui_keep": "No, keep them",
    "wui_device": "Device",
    "wui_gpu_memory": "GPU memory (used / total)",
    "wui_process_memory": "Process memory (RSS)",
    "wui_system_memory": "System memory (used / total)",
    "wui_model_state": "Model state",
    "wui_load_time": "Load time",
    "wui_jobs": "Jobs",
    "wui_last_error": "Last error",
    "wui_versions": "Versions",
    "wui_refresh": "Refresh",
}

KO = {
    "wui_intro": "# whisper-ui\nOpenAI Whisper로 이 컴퓨터에서 음성을 텍스트로 변환합니다. 오디오는 밖으로 나가지 않습니다.",
    "wui_tab_upload": "업로드",
    "wui_tab_microphone": "마이크",
    "wui_tab_model": "모델",
    "wui_tab_status": "상태",
    "wui_file": "오디오 또는 동영상 파일",
    "wui_limits": "제한",
    "wui_options": "옵션",
    "wui_task": "작업",
    "wui_task_info": "번역은 영어 텍스트를 만듭니다",
    "wui_language": "언어",
    "wui_language_info": "자동은 처음 30초로 언어를 감지합니다",
    "wui_beam_size": "빔 크기",
    "wui_beam_info": "1이 가장 빠르고 5가 더 정확합니다",
    "wui_word_timestamps": "단어별 타임스탬프",
    "wui_initial_prompt": "초기 프롬프트",
    "wui_prompt_info": "정확히 표기할 이름과 용어",
    "wui_formats": "출력 파일",
    "wui_transcribe": "받아쓰기",
    "wui_cancel": "취소",
    "wui_text": "텍스트",
    "wui_segments": "구간",
    "wui_downloads": "다운로드",
    "wui_recording": "녹음",
    "wui_mic_note": "브라우저는 localhost 또는 HTTPS에서만 마이크를 허용합니다.",
    "wui_model": "모델",
    "wui_engine": "엔진",
    "wui_vad": "음성 감지",
    "wui_vad_info": "말소리만 모델에 보냅니다: 잡음과 무음은 시간이 들지 않습니다. 노래에는 끄세요",
    "wui_engine_info": "faster-whisper: 같은 가중치로 CPU에서 몇 배 빠르고 메모리는 절반",
    "wui_models": "모델 목록",
    "wui_load": "불러오기 / 전환",
    "wui_unload": "내리기",
    "wui_read_only": "읽기 전용: 모델 불러오기, 바꾸기, 내리기와 캐시 정리는 관리자만 할 수 있습니다.",
    "wui_old_caches": "예전 모델 캐시 (Hugging Face, torch)",
    "wui_clean": "예전 캐시 정리…",
    "wui_confirm_delete": "예, 삭제합니다",
    "wui_keep": "아니요, 유지합니다",
    "wui_device": "장치",
    "wui_gpu_memory": "GPU 메모리 (사용 / 전체)",
    "wui_process_memory": "프로세스 메모리 (RSS)",
    "wui_system_memory": "시스템 메모리 (사용 / 전체)",
    "wui_model_state": "모델 상태",
    "wui_load_time": "불러온 시간",
    "wui_jobs": "작업",
    "wui_last_error": "마지막 오류",
    "wui_versions": "버전",
    "wui_refresh": "새로 고침",
}

# --- each part of the page keeps its own labels (LABELS: gr.I18n keys, wui_...) and words said at run time
# (SAY: rendered on the server by say()) in its own section below, English and Korean side by side ---

# the Model tab (ui/model.py)
MODEL_LABELS: dict[str, dict[str, str]] = {"en": {}, "ko": {}}
MODEL_SAY: dict[str, dict[str, str]] = {"en": {}, "ko": {}}

# the Status tab (ui/status.py)
STATUS_LABELS: dict[str, dict[str, str]] = {"en": {}, "ko": {}}
STATUS_SAY: dict[str, dict[str, str]] = {"en": {}, "ko": {}}

# a job's results: text, segments, summary, files (ui/format.py, ui/inputs.py results_panel)
RESULTS_LABELS: dict[str, dict[str, str]] = {"en": {}, "ko": {}}
RESULTS_SAY: dict[str, dict[str, str]] = {"en": {}, "ko": {}}

# inputs, the offline notice, toasts (ui/inputs.py, ui/upload.py, ui/microphone.py, ui/jobs.py)
INPUT_LABELS: dict[str, dict[str, str]] = {"en": {}, "ko": {}}
INPUT_SAY: dict[str, dict[str, str]] = {"en": {}, "ko": {}}

# errors raised in the core with a key (errors.WhisperUIError(..., key=..., **values)): what the page says
ERRORS: dict[str, dict[str, str]] = {
    "en": {  # (the English messages are the errors' own: only a few need words of the page's)
    },
    "ko": {
        "ffmpeg_missing": "이 서버에 {tool}이(가) 없습니다. 설치한 뒤 앱을 다시 시작하세요 (Debian/Ubuntu: "
                          "sudo apt-get install ffmpeg).",
        "file_unreadable": "업로드한 파일을 읽을 수 없습니다. 다시 업로드하세요.",
        "file_too_large": "파일이 {size}로, 제한 {limit}을(를) 넘습니다. 나누거나 압축해서(예: MP3) 다시 올리세요.",
        "file_empty": "파일이 비어 있습니다. 오디오 또는 동영상 파일을 올리세요.",
        "not_audio": "읽을 수 있는 오디오나 동영상이 아니거나 파일이 손상되었습니다. 흔한 형식(WAV, MP3, M4A, FLAC, "
                     "OGG, OPUS, WEBM, MP4, MKV...)으로 올리세요.",
        "no_audio_track": "이 파일에는 오디오 트랙이 없습니다. 소리가 있는 파일을 올리세요.",
        "audio_too_long": "오디오 길이가 {length}로, 제한 {limit}을(를) 넘습니다. 더 짧게 나눠서 다시 시도하세요.",
        "busy": "서버가 바쁩니다: 대기열이 가득 찼습니다. 잠시 후 다시 시도하세요.",
        "silent": "오디오가 무음입니다: 말소리를 찾지 못했습니다. 녹음 음량을 확인하세요.",
        "no_speech_vad": "오디오에서 말소리를 찾지 못했습니다. 말소리가 있다면 음량을 확인하세요. 노래나 가사가 있는 "
                         "음악이라면 음성 감지를 끄세요.",
        "no_speech": "오디오에서 말소리를 찾지 못했습니다. 말소리가 있다면 음량을 확인하거나, 자동 감지 대신 언어를 "
                     "고르세요.",
        "unknown_model": "알 수 없는 모델 '{name}'입니다. {names} 중 하나를 쓰거나, {folder}에 {name}.pt 체크포인트나 "
                         "faster-whisper(CTranslate2) 폴더 {name}을(를) 두세요.",
        "download_mismatch": "모델 '{name}'을(를) 내려받았지만 SHA-256 체크섬이 공식 값과 다릅니다. 다운로드가 "
                             "불완전하거나 변조되었습니다. 다시 시도하세요.",
        "download_failed": "모델 '{name}'을(를) 내려받지 못했습니다 ({reason}). 인터넷이 없는 컴퓨터라면 다른 곳에서 "
                           "{url} 파일을 받아 {path}에 두세요.",
        "download_failed_ct2": "faster-whisper 모델 '{name}'을(를) 내려받지 못했습니다 ({reason}). 인터넷이 없는 "
                               "컴퓨터라면 {url}의 폴더를 {path}에 두거나, openai-whisper 체크포인트 {checkpoint_url}을(를) "
                               "{checkpoint_path}에 두세요.",
        "out_of_memory": "모델 {name}에 CUDA 메모리가 부족하고, 대체 설정으로도 해결되지 않았습니다. GPU를 쓰는 다른 "
                         "프로그램을 닫거나, 더 작은 모델을 고르거나, --device cpu로 시작하세요.",
        "job_timeout": "작업이 이 서버의 허용 시간({minutes}분, --max-job-minutes)을 넘어 중지되었습니다. 더 짧은 "
                       "파일이나 빔 크기 1로 시도하거나, 운영자에게 --max-job-minutes를 늘려 달라고 하세요.",
    },
}


def _merged(*parts: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {"en": {}, "ko": {}}
    for part in parts:
        for language, words in part.items():
            overlap = merged[language].keys() & words.keys()
            assert not overlap, f"keys defined twice: {sorted(overlap)}"
            merged[language].update(words)
    return merged


TRANSLATIONS = _merged({"en": EN, "ko": KO}, MODEL_LABELS, STATUS_LABELS, RESULTS_LABELS, INPUT_LABELS)


# What handlers say at run time (progress, outcomes): rendered on the server in the request's language
# (its Accept-Language), since gr.I18n translates only what the page is built with.
RUNTIME = {
    "en": {
        "progress": "{done} / {total} of audio",
        "left": "about {seconds} s left",
        "starting": "Starting…",
        "cancelled": "**Cancelled.** What was transcribed before the cancel is kept above.",
        "cancelled_before": "**Cancelled** before it started.",
        "error_title": "Error",
        "warning_title": "Warning",
        "info_title": "Info",
    },
    "ko": {
        "progress": "오디오 {done} / {total}",
        "left": "약 {seconds}초 남음",
        "starting": "시작하는 중…",
        "cancelled": "**취소되었습니다.** 취소 전까지 받아쓴 내용은 위에 남아 있습니다.",
        "cancelled_before": "시작하기 전에 **취소되었습니다**.",
        "error_title": "오류",
        "warning_title": "경고",
        "info_title": "알림",
    },
}


RUNTIME = _merged(RUNTIME, MODEL_SAY, STATUS_SAY, RESULTS_SAY, INPUT_SAY, ERRORS)


def language_of(accept_language: str | None) -> str:
    """The page language for an ``Accept-Language`` header: the first of ours it names, else English."""
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.split("-")[0] in RUNTIME:
            return tag.split("-")[0]
    return "en"


def say(key: str, language: str, **values) -> str:
    """``key``'s words in ``language`` (English where Korean lacks them), ``values`` filled in."""
    words = RUNTIME.get(language, RUNTIME["en"])
    return (words.get(key) or RUNTIME["en"][key]).format(**values)


def error_text(error: BaseException | str, language: str) -> str:
    """What the page says of a ``WhisperUIError`` (or of its message, as the model's state keeps it): its
    key's words in ``language``, else its English message."""
    from .errors import keyed

    if isinstance(error, str):
        key, values = keyed(error) or (None, {})
    else:
        key, values = getattr(error, "key", None), getattr(error, "values", {})
    if key and key in RUNTIME.get(language, {}):
        try:
            return say(key, language, **values)
        except (KeyError, IndexError, ValueError):
            pass
    return str(error)
