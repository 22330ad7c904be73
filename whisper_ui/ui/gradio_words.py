"""Gradio's own words that Gradio 6.31 writes in English whatever the page's language, in the page's language.

Gradio translates its components, but not its toasts' titles ("Error"), its upload line ("Uploading 1
file..."), its refusal of a file type ("Invalid file type: notes.txt. Only audio, ... allowed."), its API
page ("Use via API" in the footer: its sentences, and the app's descriptions of its endpoints) or parts of its
Settings. The page rewrites those text nodes as they appear (``JS``): a fragment found in ``words(lang)``
(exact, whitespace collapsed) or matched by one of its patterns. English pages are left as they are.
The segments table's headers are the job's (written in the page's language when it ran): after a language
is picked in Settings, the script names them in the new one.
"""

from __future__ import annotations

import json

from ..core.i18n import RUNTIME, TRANSLATIONS
from .api_docs import ENDPOINTS, ENDPOINTS_KO, PARAMETERS, PARAMETERS_KO, RETURNS, RETURNS_KO

# Gradio's API page and Settings, fragment by fragment as its text nodes split them (around links and code)
GRADIO_KO = {
    "API documentation": "API 문서", "documentation": "문서", "API Recorder": "API 녹화기",
    "API endpoint": "API 엔드포인트", "API name:": "API 이름:", "Copy Page": "페이지 복사",
    "Choose one of the following ways to interact with the API.": "API를 쓰는 방법을 하나 고르세요.",
    "1. Install the": "1. 아직 없다면", "client (": "클라이언트를 설치하세요 (",
    ") if you don't already have it installed.": ").",
    "2. Find the API endpoint below corresponding to your desired function in the app. Copy the code snippet, "
    "replacing the placeholder values with your own input data.":
        "2. 아래에서 원하는 기능의 API 엔드포인트를 찾아 코드를 복사하고, 예시 값을 입력할 값으로 바꾸세요.",
    "Or use the": "또는", "to automatically generate your API requests.": "로 API 요청을 자동으로 만드세요.",
    "Required": "필수", "Default:": "기본값:", "Returns": "반환값", "docs": "문서",
    "1. Install the CLI if you don't already have it installed.": "1. 아직 없다면 CLI를 설치하세요.",
    "CLI endpoint": "CLI 엔드포인트", "Gradio CLI": "Gradio CLI", "HF CLI": "HF CLI",
    "1. Confirm that you have cURL installed on your system.": "1. 이 시스템에 cURL이 설치되어 있는지 확인하세요.",
    "Making a prediction and getting a result requires": "예측을 요청하고 결과를 받으려면",
    "2 requests": "요청 2개가 필요합니다", ": a": ":", "and a": "와", "request. The": "요청입니다.",
    "request returns an": "요청은", ", which is used in the second": "를 돌려주며, 두 번째",
    "request to fetch the results. In these snippets, we've used":
        "요청이 그것으로 결과를 가져옵니다. 이 예시는", "and": "와",
    "to parse the results, combining these two requests into one command for ease of use.":
        "로 결과를 읽어, 두 요청을 명령 하나로 묶었습니다.",
    "If your endpoint accepts files, you must first upload them via a": "엔드포인트가 파일을 받으면, 먼저",
    "to": "요청으로", ", then reference the returned path with the": "에 올린 뒤, 돌려받은 경로를",
    "key:": "키로 넘기세요:", "See": "참고:", "curl docs": "curl 문서",
    "MCP Tool": "MCP 도구",
    "This Gradio app can also serve as an MCP server, with an MCP tool corresponding to each API endpoint. To "
    "enable this, launch this Gradio app with":
        "이 앱은 MCP 서버가 될 수도 있습니다(API 엔드포인트마다 MCP 도구 하나). 켜려면 이 앱을",
    "or set the": "로 시작하거나", "env variable to": "환경 변수를 다음으로 설정하세요:",
    "Progressive Web App": "프로그레시브 웹 앱",
    "Screen Studio": "화면 녹화", "BETA": "베타", "Start Recording": "녹화 시작", "Stop Recording": "녹화 중지",
    "Include automatic zoom in/out": "자동 확대/축소 포함", "Include automatic video trimming": "자동 영상 다듬기 포함",
    "Light": "밝게", "Dark": "어둡게", "System": "시스템",
    "Run history": "실행 기록", "View run history →": "실행 기록 보기 →",
    "Choose where new runs are saved and revisit earlier results.": "새 실행을 저장할 곳을 고르고 이전 결과를 다시 봅니다.",
    "History storage": "기록 저장소", "This browser": "이 브라우저", "Private to this device": "이 기기에만 저장",
}
# Gradio's component names, as its API page names a parameter's component
COMPONENTS_KO = {
    "File": "파일", "Radio": "라디오", "Dropdown": "드롭다운", "Slider": "슬라이더", "Checkbox": "체크박스",
    "Textbox": "텍스트 상자", "Checkboxgroup": "체크박스 그룹", "Number": "숫자", "Audio": "오디오",
    "Dataframe": "표", "Json": "JSON", "Markdown": "마크다운",
}
# (a regular expression over a whole fragment, its Korean with $1, $2... and {name} for a looked-up group)
PATTERNS_KO = [
    (r'^The input value that is provided in the "(.+?)" (\w+) component\.(?: (.*))?$',
     '"{label:1}" {component:2} 구성 요소에 넣는 값입니다. {text:3}'),
    (r'^The output value that appears in the "(.+?)" (\w+) component\.(?: (.*))?$',
     '"{label:1}" {component:2} 구성 요소에 나오는 값입니다. {text:3}'),
    (r"^Accepts (\d+) parameters?$", "매개변수 $1개를 받습니다"),
    (r"^Accepts a JSON object with (\d+) keys?$", "키 $1개의 JSON 객체를 받습니다"),
    (r"^(tuple|list|array) of (\d+) elements?$", "요소 $2개의 {kind:1}"),
    (r"^(an array of )?(\d+) elements?$", "요소 $2개"),
    (r"^Invalid file type: (.+)\. Only (.+) allowed\.$", "파일 형식이 맞지 않습니다: $1. 받는 형식: {types:2}."),
    (r"^Progressive Web App is not enabled for this app\. To enable it, start your Gradio app with$",
     "이 앱은 프로그레시브 웹 앱이 아닙니다. 켜려면 앱을 다음으로 시작하세요:"),
]
KINDS_KO = {"tuple": "튜플", "list": "리스트", "array": "배열"}
TYPES_KO = {"audio": "오디오", "video": "동영상", "image": "이미지", "text": "텍스트"}  # Gradio's kinds of file


def words(lang: str) -> dict | None:
    """What the page's script needs to write Gradio's English in ``lang`` (in English, only the segments'
    headers, of a job that ran in another language); None for a language the page lacks."""
    if lang not in RUNTIME:
        return None
    say = RUNTIME[lang]
    exact = {} if lang == "en" else {"Error": say["error_title"], "Warning": say["warning_title"],
                                     "Info": say["info_title"]}
    texts = {}
    if lang == "ko":
        exact.update(GRADIO_KO)
        texts = {**{ENDPOINTS[k]: ENDPOINTS_KO[k] for k in ENDPOINTS}, **{PARAMETERS[k]: PARAMETERS_KO[k] for k in
                 PARAMETERS}, **{RETURNS[k]: RETURNS_KO[k] for k in RETURNS}}
        exact.update(texts)
    labels = {TRANSLATIONS["en"][key]: value for key, value in TRANSLATIONS[lang].items()
              if key.startswith("wui_") and key in TRANSLATIONS["en"]}
    headers = {RUNTIME[other][key]: say[key] for key in ("col_start", "col_end", "col_text") for other in RUNTIME}
    return {"exact": exact, "uploading": say["uploading_files"], "labels": labels, "texts": texts, "headers": headers,
            "components": COMPONENTS_KO if lang == "ko" else {}, "kinds": KINDS_KO if lang == "ko" else {},
            "types": TYPES_KO if lang == "ko" else {},
            "patterns": PATTERNS_KO if lang == "ko" else []}


# The rewriting, as the text nodes come and change (Svelte sets a node's text again on each update: the
# observer sees it and writes it again). Where a fragment is followed by a lone "s" (Gradio's plural), the
# "s" goes too.
JS = r"""<script>
(() => {
  const all = %s;
  const mine = () => all[(document.documentElement.lang || navigator.language || "en").slice(0, 2).toLowerCase()];
  const PLACES = ".toast-title, .toast-body, .toast-text, span.uploading, [role=dialog], [id$=-segments] thead";
  const fill = (w, template, groups) => template
    .replace(/\$(\d)/g, (_, i) => groups[+i] || "")
    .replace(/\{(\w+):(\d)\}/g, (_, kind, i) => {
      const g = groups[+i] || "";
      if (kind === "types") return g.split(", ").map(t => w.types[t] || t).join(", ");
      const table = {label: w.labels, component: w.components, kind: w.kinds, text: w.texts}[kind] || {};
      return table[g] || g;
    }).trim();
  const rewrite = (w, text) => {
    const plain = text.textContent.replace(/\s+/g, " ").trim();
    if (!plain) return;
    let word = text.parentElement.closest("thead") ? w.headers[plain] : w.exact[plain];
    const uploading = /^Uploading (\d+) files?\.\.\.$/.exec(plain);
    if (uploading) word = w.uploading.replace("{n}", uploading[1]);
    for (const [pattern, template] of w.patterns) {
      if (word !== undefined) break;
      const m = new RegExp(pattern).exec(plain);
      if (m) word = fill(w, template, m);
    }
    if (word === undefined || word === plain) return;
    text.textContent = text.textContent.replace(/\S[\s\S]*\S|\S/, word);
    let next = text.nextSibling;
    while (next && next.nodeType === 8) next = next.nextSibling;  // Svelte's comment anchors
    if (next && next.nodeType === 3 && next.textContent === "s") next.textContent = "";
  };
  const visit = node => {
    const w = mine();
    if (!w) return;
    const el = node.nodeType === 3 ? node.parentElement : node;
    if (!el || !el.closest) return;
    const roots = el.closest(PLACES) ? [el] : [...(el.querySelectorAll ? el.querySelectorAll(PLACES) : [])];
    for (const root of roots) {
      if (root.closest("pre, code, textarea")) continue;
      if (node.nodeType === 3) { rewrite(w, node); continue; }
      const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
      while (walker.nextNode()) if (!walker.currentNode.parentElement.closest("pre, code")) rewrite(w, walker.currentNode);
    }
  };
  new MutationObserver(changes => changes.forEach(change => {
    visit(change.target);
    change.addedNodes.forEach(visit);
  })).observe(document.documentElement, {childList: true, subtree: true, characterData: true});
})();
</script>"""


def script() -> str:
    """The page's ``<script>`` (in its head) with the words of every language the page has."""
    return JS % json.dumps({lang: said for lang in RUNTIME if (said := words(lang))}, ensure_ascii=False)
