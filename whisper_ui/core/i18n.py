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
    "wui_logout": "Log out",
    "wui_api_guide": "Programs can use this app too: [the REST API (OpenAI's) and MCP](api-guide); \"Use via API\" "
                     "below lists the page's own functions.",
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
    "wui_logout": "로그아웃",
    "wui_api_guide": "프로그램에서도 이 앱을 쓸 수 있습니다: [웹 API(OpenAI 방식)와 MCP](api-guide). 아래의 \"API를 "
                     "통해 사용\"에 페이지의 기능이 있습니다.",
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
    "wui_load": "로드 / 전환",
    "wui_unload": "모델 해제",
    "wui_read_only": "읽기 전용: 모델 로드, 전환, 해제와 캐시 정리는 관리자만 할 수 있습니다.",
    "wui_old_caches": "예전 모델 캐시 (Hugging Face, torch)",
    "wui_clean": "예전 캐시 정리…",
    "wui_confirm_delete": "예, 삭제합니다",
    "wui_keep": "아니요, 유지합니다",
    "wui_device": "장치",
    "wui_gpu_memory": "GPU 메모리 (사용 / 전체)",
    "wui_process_memory": "프로세스 메모리 (RSS)",
    "wui_system_memory": "시스템 메모리 (사용 / 전체)",
    "wui_model_state": "모델 상태",
    "wui_load_time": "로드 시간",
    "wui_jobs": "작업",
    "wui_last_error": "마지막 오류",
    "wui_versions": "버전",
    "wui_refresh": "새로 고침",
}

# --- each part of the page keeps its own labels (LABELS: gr.I18n keys, wui_...) and words said at run time
# (SAY: rendered on the server by say()) in its own section below, English and Korean side by side ---

# the Model tab (ui/model.py)
MODEL_LABELS: dict[str, dict[str, str]] = {
    "en": {"wui_unload_yes": "Yes, unload", "wui_unload_no": "No, keep it"},
    "ko": {"wui_unload_yes": "예, 해제합니다", "wui_unload_no": "아니요, 유지합니다"},
}
MODEL_SAY: dict[str, dict[str, str]] = {
    "en": {
        "model_on_disk": "{name} · on disk · {size}",
        "model_download": "{name} · download {size}",
        "model_download_unknown": "{name} · download",
        "model_state": "**State:** {status}",
        "model_serving": " — {model} on {device} · {engine}",
        "model_status_ready": "ready",
        "model_status_not_loaded": "not loaded",
        "model_status_downloading": "downloading",
        "model_status_loading": "loading",
        "model_status_failed": "failed",
        "model_downloading": "**Downloading:** {percent}",
        "model_load_time": "**Load time:** {seconds} s",
        "model_batching_on": "**Batching:** {batch} windows at once: faster on a GPU, but its segments are whole "
                             "speech chunks of up to 30 s (coarse subtitles) and it uses one temperature",
        "model_batching_off": "**Batching:** off (`--batch-size N` decodes N windows at once: faster on a GPU, "
                              "not on a CPU)",
        "model_fallback": "**Fallback:** {note}",
        "model_error": "**Error:** {message}",
        "model_col_model": "model",
        "model_col_file": "openai-whisper file",
        "model_col_folder": "faster-whisper folder",
        "model_col_memory": "memory",
        "model_col_loaded": "loaded",
        "model_no": "no",
        "model_local": "{name} (local)",
        "model_loading": "Loading {name}",
        "model_ready": "{model} is ready on {device} ({engine}, {compute_type}).",
        "model_choose_first": "Choose a model first.",
        "model_not_allowed": "Not allowed",
        "model_admin_only": "Only an administrator may {action} (the server's --admin).",
        "model_action_load": "load model {name} ({engine})",
        "model_action_unload": "unload the model",
        "model_action_clean": "clean the old caches",
        "model_nothing_loaded": "No model is loaded.",
        "model_unload_question": "Unload **{model}**? It serves every user: the next job waits while a model "
                                 "loads again.",
        "model_col_kind": "kind",
        "model_col_name": "name",
        "model_col_size": "size",
        "model_col_path": "path",
        "model_cache_summary_one": "{count} old Whisper cache entry, {size} in all.",
        "model_cache_summary": "{count} old Whisper cache entries, {size} in all.",
        "model_cache_none": "No old Whisper model files found in the caches.",
        "model_compare": "Here faster-whisper has run {model} {ratio}× as fast as openai-whisper (recent jobs of both).",
        "model_compare_unknown": "faster-whisper is installed: on a CPU it is usually several times faster than "
                                 "openai-whisper (same weights); a job with each shows how much here.",
        "model_cache_kept": "The models this app uses ({names}, {size} in {folder}) are not listed: they are kept.",
        "model_nothing_to_clean": "Nothing to clean.",
        "model_clean_question": "Delete {count} entries ({size})? The app's own model folder is kept. "
                                "This cannot be undone.",
        "model_cleaned": "Freed {size} by deleting {count} old Whisper cache entries.",
    },
    "ko": {
        "model_on_disk": "{name} · 디스크에 있음 · {size}",
        "model_download": "{name} · 다운로드 {size}",
        "model_download_unknown": "{name} · 다운로드 필요",
        "model_state": "**상태:** {status}",
        "model_serving": " — {model} ({device}) · {engine}",
        "model_status_ready": "준비됨",
        "model_status_not_loaded": "로드되지 않음",
        "model_status_downloading": "다운로드 중",
        "model_status_loading": "로드 중",
        "model_status_failed": "실패",
        "model_downloading": "**다운로드 중:** {percent}",
        "model_load_time": "**로드 시간:** {seconds}초",
        "model_batching_on": "**배치 처리:** 한 번에 {batch}개 구간: GPU에서 더 빠르지만 구간이 최대 30초짜리 말 "
                             "덩어리 단위라 자막이 거칠어지고, 디코딩 온도는 하나만 씁니다",
        "model_batching_off": "**배치 처리:** 꺼짐 (`--batch-size N`은 N개 구간을 한 번에 디코딩합니다. GPU에서는 "
                              "빨라지지만 CPU에서는 그렇지 않습니다)",
        "model_fallback": "**대체:** {note}",
        "model_error": "**오류:** {message}",
        "model_col_model": "모델",
        "model_col_file": "openai-whisper 파일",
        "model_col_folder": "faster-whisper 폴더",
        "model_col_memory": "메모리",
        "model_col_loaded": "로드됨",
        "model_no": "없음",
        "model_local": "{name} (로컬)",
        "model_loading": "{name} 로드 중",
        "model_ready": "{model} 모델이 {device}에서 준비되었습니다 ({engine}, {compute_type}).",
        "model_choose_first": "먼저 모델을 고르세요.",
        "model_not_allowed": "권한 없음",
        "model_admin_only": "관리자만 할 수 있는 작업입니다: {action} (서버의 --admin).",
        "model_action_load": "{name} 모델 로드 ({engine})",
        "model_action_unload": "모델 해제",
        "model_action_clean": "예전 캐시 정리",
        "model_nothing_loaded": "로드된 모델이 없습니다.",
        "model_unload_question": "**{model}** 모델을 해제할까요? 모든 사용자가 함께 쓰는 모델이라, 다음 작업은 "
                                 "모델을 다시 로드할 때까지 기다립니다.",
        "model_col_kind": "종류",
        "model_col_name": "이름",
        "model_col_size": "크기",
        "model_col_path": "경로",
        "model_cache_summary_one": "예전 Whisper 캐시 항목 {count}개, 모두 {size}.",
        "model_cache_summary": "예전 Whisper 캐시 항목 {count}개, 모두 {size}.",
        "model_cache_none": "캐시에 예전 Whisper 모델 파일이 없습니다.",
        "model_compare": "이 서버에서 faster-whisper는 {model} 모델을 openai-whisper보다 {ratio}배 빠르게 실행했습니다(두 "
                         "엔진의 최근 작업).",
        "model_compare_unknown": "faster-whisper가 설치되어 있습니다: CPU에서는 보통 openai-whisper보다 몇 배 빠릅니다(같은 "
                                 "가중치). 각 엔진으로 작업을 한 번씩 하면 이 서버에서 얼마나 빠른지 보여 줍니다.",
        "model_cache_kept": "이 앱이 쓰는 모델({names}, {folder}에 {size})은 목록에 없으며 지우지 않습니다.",
        "model_nothing_to_clean": "정리할 것이 없습니다.",
        "model_clean_question": "항목 {count}개({size})를 삭제할까요? 앱의 모델 폴더는 유지됩니다. "
                                "되돌릴 수 없습니다.",
        "model_cleaned": "예전 Whisper 캐시 항목 {count}개를 삭제해 {size}를 확보했습니다.",
    },
}

# the Status tab (ui/status.py)
STATUS_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "wui_memory_plot": "Memory, last 10 minutes",
        "wui_jobs_plot": "Jobs, last 10 minutes",
        "wui_recent_jobs": "Recent jobs",
        "wui_replicas": "Model replicas (Ray Serve)",
    },
    "ko": {
        "wui_memory_plot": "메모리 (최근 10분)",
        "wui_jobs_plot": "작업 (최근 10분)",
        "wui_recent_jobs": "최근 작업",
        "wui_replicas": "모델 복제본 (Ray Serve)",
    },
}
STATUS_SAY: dict[str, dict[str, str]] = {
    "en": {
        "status_state_not_loaded": "not loaded",
        "status_state_downloading": "downloading",
        "status_state_loading": "loading",
        "status_state_ready": "ready",
        "status_state_failed": "failed",
        "status_no_gpu": "no GPU",
        "status_seconds": "{seconds} s",
        "status_model_line": "{model} on {device} · {engine} {compute}",
        "status_jobs": "{running} running, {waiting} waiting, {done} done",
        "status_last_job": " · last job: {audio} s of audio, real-time factor {rtf}",
        "status_last_speech": " ({speech} s of speech, {share})",
        "status_error_at": "{time} ({minutes} min ago): {message}",
        "status_process": "process",
        "status_system": "system",
        "status_running": "running",
        "status_waiting": "waiting",
        "status_time": "time",
        "status_job_count": "jobs",
        "status_col_time": "time",
        "status_col_model": "model",
        "status_col_audio": "audio (s)",
        "status_col_processing": "processing (s)",
        "status_col_rtf": "real-time factor",
        "status_version_not_installed": "not installed",
        "status_version_not_found": "not found",
        "status_version_unknown": "unknown",
        "status_state_busy": "busy",
        "status_state_unresponsive": "unresponsive",
        "status_col_node": "node",
        "status_col_device": "device",
        "status_col_state": "state",
        "status_col_memory": "memory",
        "status_col_jobs_done": "jobs done",
    },
    "ko": {
        "status_state_not_loaded": "불러오지 않음",
        "status_state_downloading": "다운로드 중",
        "status_state_loading": "불러오는 중",
        "status_state_ready": "준비됨",
        "status_state_failed": "실패",
        "status_no_gpu": "GPU 없음",
        "status_seconds": "{seconds}초",
        "status_model_line": "{model} · {device} · {engine} {compute}",
        "status_jobs": "실행 중 {running}개, 대기 {waiting}개, 완료 {done}개",
        "status_last_job": " · 마지막 작업: 오디오 {audio}초, 실시간 계수 {rtf}",
        "status_last_speech": " (음성 {speech}초, {share})",
        "status_error_at": "{time} ({minutes}분 전): {message}",
        "status_process": "프로세스",
        "status_system": "시스템",
        "status_running": "실행 중",
        "status_waiting": "대기",
        "status_time": "시각",
        "status_job_count": "작업 수",
        "status_col_time": "시각",
        "status_col_model": "모델",
        "status_col_audio": "오디오 (초)",
        "status_col_processing": "처리 시간 (초)",
        "status_col_rtf": "실시간 계수",
        "status_version_not_installed": "설치되지 않음",
        "status_version_not_found": "찾을 수 없음",
        "status_version_unknown": "알 수 없음",
        "status_state_busy": "작업 중",
        "status_state_unresponsive": "응답 없음",
        "status_col_node": "노드",
        "status_col_device": "장치",
        "status_col_state": "상태",
        "status_col_memory": "메모리",
        "status_col_jobs_done": "완료한 작업",
    },
}

# a job's results: text, segments, summary, files (ui/format.py, ui/inputs.py results_panel)
RESULTS_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "wui_player": "Click a segment to hear it",
        "wui_subtitles": "Subtitles (srt, vtt)",
        "wui_max_line_width": "Max line width",
        "wui_max_line_width_info": "characters in a line before it breaks; 0: no limit (turns word timestamps on)",
        "wui_max_line_count": "Max line count",
        "wui_max_line_count_info": "lines in a subtitle; 0: no limit (needs a line width)",
        "wui_highlight_words": "Highlight words",
        "wui_highlight_words_info": "underline each word as it is spoken (turns word timestamps on)",
    },
    "ko": {
        "wui_player": "구간을 누르면 그 부분을 들을 수 있습니다",
        "wui_subtitles": "자막 (srt, vtt)",
        "wui_max_line_width": "줄 최대 길이",
        "wui_max_line_width_info": "한 줄에 들어가는 글자 수, 0은 제한 없음 (단어별 타임스탬프가 켜집니다)",
        "wui_max_line_count": "자막 최대 줄 수",
        "wui_max_line_count_info": "자막 하나의 줄 수, 0은 제한 없음 (줄 최대 길이가 필요합니다)",
        "wui_highlight_words": "단어 강조",
        "wui_highlight_words_info": "말하는 단어에 밑줄을 긋습니다 (단어별 타임스탬프가 켜집니다)",
    },
}
RESULTS_SAY: dict[str, dict[str, str]] = {
    "en": {
        "col_start": "start",
        "col_end": "end",
        "col_text": "text",
        "summary_language": "**Language:** {detected}",
        "summary_audio": "**Audio:** {seconds} s",
        "summary_speech": "({seconds} s of speech, {share})",
        "gap_no_speech": "no speech detected: not transcribed (turn speech detection off to transcribe it)",
        "summary_processing": "**Processing:** {seconds} s",
        "summary_rtf": "**Real-time factor:** {rtf}",
        "summary_model": "**Model:** {model} on {device} ({engine})",
        "job_no_file": "Choose an audio or video file first.",
        "job_no_recording": "Record something first: press the microphone button, speak, then stop.",
        "job_cancelled_title": "Cancelled",
        "job_line_count_needs_width": "Max line count needs a max line width.",
    },
    "ko": {
        "col_start": "시작",
        "col_end": "끝",
        "col_text": "텍스트",
        "summary_language": "**언어:** {detected}",
        "summary_audio": "**오디오:** {seconds}초",
        "summary_speech": "(음성 {seconds}초, {share})",
        "gap_no_speech": "음성이 감지되지 않아 받아쓰지 않음 (받아쓰려면 음성 감지를 끄세요)",
        "summary_processing": "**처리 시간:** {seconds}초",
        "summary_rtf": "**실시간 계수:** {rtf}",
        "summary_model": "**모델:** {model}, {device} ({engine})",
        "job_no_file": "먼저 오디오 또는 동영상 파일을 고르세요.",
        "job_no_recording": "먼저 녹음하세요. 마이크 버튼을 누르고 말한 다음 멈추면 됩니다.",
        "job_cancelled_title": "취소됨",
        "job_line_count_needs_width": "자막 최대 줄 수를 쓰려면 줄 최대 길이도 정해야 합니다.",
    },
}

# inputs, the offline notice, toasts (ui/inputs.py, ui/upload.py, ui/microphone.py, ui/jobs.py)
INPUT_LABELS: dict[str, dict[str, str]] = {
    "en": {"wui_auto_detect": "Detect automatically", "wui_choice_transcribe": "transcribe",
           "wui_choice_translate": "translate into English"},
    "ko": {"wui_auto_detect": "자동 감지", "wui_choice_transcribe": "받아쓰기", "wui_choice_translate": "영어로 번역"},
}
INPUT_SAY: dict[str, dict[str, str]] = {
    "en": {
        "notice_downloading": "⏳ Downloading the model **{model}**{percent}: the first job starts when it is ready.",
        "notice_loading": "⏳ Loading the model **{model}**: the first job starts when it is ready.",
        "notice_failed": "⚠️ **No model is ready: transcription will not work yet.** ({model})",
        "notice_offline": "The model **{model}** is not on this machine and could not be downloaded ({reason}).",
        "notice_put_file": "On a machine without internet, download this file elsewhere:{url}and put it here, "
                           "then load the model again (Model tab) or restart the app:{path}",
        "notice_convert": "Or convert a faster-whisper (CTranslate2) copy of the model into that file:{command}",
        "notice_checkpoint": "Or put the openai-whisper checkpoint{url}here (it is converted once):{path}",
        "notice_other_models": "Models on this machine that can serve instead (Model tab): {models}.",
        "limits": "**Limits:** up to {mb} MB and {minutes} minutes of audio per file.",
        "runs": "**Runs on:** {model} · {engine} · {device} · {pace}",
        "runs_speed": "~{factor}× real time (recent jobs)",
        "runs_no_job": "no job yet",
        "estimate_unknown": "Length unknown until decoded.",
        "estimate_audio": "Audio: {seconds} s.",
        "estimate_time": "Estimated processing time: about {seconds} s (this model's recent jobs with these "
                         "options, at this machine's load now).",
    },
    "ko": {
        "notice_downloading": "⏳ 모델 **{model}**을(를) 내려받는 중입니다{percent}. 준비되면 첫 작업이 시작됩니다.",
        "notice_loading": "⏳ 모델 **{model}**을(를) 불러오는 중입니다. 준비되면 첫 작업이 시작됩니다.",
        "notice_failed": "⚠️ **준비된 모델이 없습니다: 아직 받아쓰기를 할 수 없습니다.** ({model})",
        "notice_offline": "모델 **{model}**이(가) 이 컴퓨터에 없고 내려받지도 못했습니다 ({reason}).",
        "notice_put_file": "인터넷이 없는 컴퓨터라면 다른 곳에서 이 파일을 받아:{url}이 위치에 두고, 모델 탭에서 다시 "
                           "불러오거나 앱을 다시 시작하세요:{path}",
        "notice_convert": "또는 이 모델의 faster-whisper(CTranslate2) 사본을 그 파일로 변환하세요:{command}",
        "notice_checkpoint": "또는 openai-whisper 체크포인트를{url}이 위치에 두세요 (한 번 변환됩니다):{path}",
        "notice_other_models": "대신 쓸 수 있는 이 컴퓨터의 모델 (모델 탭): {models}.",
        "limits": "**제한:** 파일당 최대 {mb} MB, 오디오 {minutes}분.",
        "runs": "**실행:** {model} · {engine} · {device} · {pace}",
        "runs_speed": "실시간의 약 {factor}배 (최근 작업)",
        "runs_no_job": "아직 작업 없음",
        "estimate_unknown": "디코딩하기 전에는 길이를 알 수 없습니다.",
        "estimate_audio": "오디오: {seconds}초.",
        "estimate_time": "예상 처리 시간: 약 {seconds}초 (이 모델의 같은 옵션 최근 작업과 지금 이 컴퓨터의 부하 기준).",
    },
}

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
        "no_speech_language": "오디오에서 말소리를 찾지 못했습니다. 말소리가 있다면 음량을 확인하거나, 더 큰 모델을 써 보세요.",
        "no_words_auto": "음성 감지가 말소리 {seconds}초를 찾았지만, 모델이 그 안에서 단어를 알아듣지 못했습니다. 자동 감지 대신 "
                         "언어를 고르거나, 더 큰 모델을 써 보세요.",
        "speakers_failed": "화자 구분을 하지 못했습니다 ({reason}). 받아쓴 텍스트는 화자 없이 모두 남아 있습니다.",
        "no_words": "음성 감지가 말소리 {seconds}초를 찾았지만, 모델이 그 안에서 단어를 알아듣지 못했습니다. 더 큰 모델을 써 "
                    "보거나, 고른 언어가 실제로 말한 언어인지 확인하세요.",
        "no_words_budget_auto": "작업이 계산 예산을 다 쓰고 중지되었습니다: 모델이 재시도를 거듭했지만 단어를 알아듣지 "
                                "못했습니다(말소리 {speech:.0f}초). 언어를 고르거나, 다른 모델이나 faster-whisper를 써 보세요.",
        "no_words_budget": "작업이 계산 예산을 다 쓰고 중지되었습니다: 모델이 재시도를 거듭했지만 단어를 알아듣지 "
                           "못했습니다(말소리 {speech:.0f}초). 다른 모델이나 faster-whisper를 써 보세요.",
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
        "notice_loop_segments": "같은 구간이 {times}번 연달아 반복되어 하나로 줄였습니다(“{phrase}”). 말소리가 아니라 "
                                "디코딩 반복일 가능성이 높습니다.",
        "notice_phantom": "{start}–{end}의 “{phrase}”을(를) 지웠습니다. Whisper는 말소리가 없는 곳에 이 문구를 자주 "
                          "지어냅니다(음성 감지가 그 구간에서 말소리를 거의 찾지 못했습니다).",
        "notice_loop_phrase": "같은 구절이 계속 반복되어 하나로 줄였습니다(“{phrase}”). 말소리가 아니라 디코딩 반복일 "
                              "가능성이 높습니다.",
        "notice_oom_fallback": "{device}에서 {name} 모델의 CUDA 메모리가 부족해 {next_device}의 {next_name} 모델로 "
                               "바꿨습니다.",
        "notice_budget": "작업이 계산 예산에서 중지되었습니다: {seconds}초, 이 서버에서 {model} 모델이 이만한 오디오에 "
                         "보통 쓰는 시간의 {factor}배입니다(--compute-budget). 텍스트는 그때까지 받아쓴 것입니다. 모델이 "
                         "재시도를 거듭했습니다. 언어를 고르거나, 다른 모델이나 faster-whisper를 써 보세요.",
        "job_timeout": "작업이 이 서버의 허용 시간({minutes}분, --max-job-minutes)을 넘어 중지되었습니다. 더 짧은 "
                       "파일이나 빔 크기 1로 시도하거나, 운영자에게 --max-job-minutes를 늘려 달라고 하세요.",
        "replica_failed": "이 작업을 처리하던 모델 복제본이 끝나기 전에 멈췄습니다(작업은 다시 시도되지 않습니다). Ray "
                          "Serve가 새 복제본을 시작하고 나머지 복제본은 계속 처리합니다. 다시 시도하세요.",
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


# Gradio's own words its Korean lacks (its frontend keys; what screen readers are told)
GRADIO_GAPS = {"en": {}, "ko": {"common.complete": "완료", "common.error": "오류"}}

TRANSLATIONS = _merged({"en": EN, "ko": KO}, MODEL_LABELS, STATUS_LABELS, RESULTS_LABELS, INPUT_LABELS, GRADIO_GAPS)


# What handlers say at run time (progress, outcomes): rendered on the server in the request's language
# (its Accept-Language), since gr.I18n translates only what the page is built with.
RUNTIME = {
    "en": {
        "progress": "{done} / {total} of audio",
        "speaker_default": "Speaker {n}",
        "left": "about {seconds} s left",
        "attempt": "decoding again, attempt {attempt} of {attempts}",
        "starting": "Starting…",
        "waiting": "Waiting: {ahead} job(s) ahead of yours",
        "waiting_about": "about {seconds} s",
        "cancelled": "**Cancelled.** What was transcribed before the cancel is kept above, and in partial-transcript.txt "
                     "below.",
        "cancelled_before": "**Cancelled** before it started.",
        "cancelled_nothing": "**Cancelled.** Nothing had been transcribed yet.",
        "failed": "**Not transcribed.** {message}",
        "failed_unknown": "The job stopped with an error (its message is above).",
        "error_title": "Error",
        "warning_title": "Warning",
        "info_title": "Info",
        "uploading_files": "Uploading {n} file(s)…",
    },
    "ko": {
        "speaker_default": "화자 {n}",
        "progress": "오디오 {done} / {total}",
        "left": "약 {seconds}초 남음",
        "attempt": "다시 디코딩하는 중, {attempts}번 중 {attempt}번째 시도",
        "starting": "시작하는 중…",
        "waiting": "대기 중: 앞에 작업 {ahead}개",
        "waiting_about": "약 {seconds}초",
        "cancelled": "**취소되었습니다.** 취소 전까지 받아쓴 내용은 위에, 그리고 아래의 partial-transcript.txt에 남아 "
                     "있습니다.",
        "cancelled_before": "시작하기 전에 **취소되었습니다**.",
        "cancelled_nothing": "**취소되었습니다.** 아직 받아쓴 내용이 없었습니다.",
        "failed": "**받아쓰지 못했습니다.** {message}",
        "failed_unknown": "작업이 오류로 멈췄습니다(위의 알림을 보세요).",
        "error_title": "오류",
        "warning_title": "경고",
        "info_title": "알림",
        "uploading_files": "파일 {n}개를 올리는 중…",
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
