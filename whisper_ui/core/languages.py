"""Whisper's languages by name, in the reader's language: "Japanese · 日本語 (ja)" or "일본어 · 日本語 (ja)", for
the page's searchable language choice and its summary line.

The codes and English names are openai-whisper's own (``whisper.tokenizer.LANGUAGES``); the Korean names
are CLDR's (as Babel gives them); beside them, each language's name for itself, so a reader finds their
language whichever way they look for it.
"""

from __future__ import annotations

import functools

from .transcription import whisper_submodule

# each language's own name (its autonym), by Whisper's code
NATIVE = {
    "en": "English", "zh": "中文", "de": "Deutsch", "es": "Español", "ru": "Русский", "ko": "한국어",
    "fr": "Français", "ja": "日本語", "pt": "Português", "tr": "Türkçe", "pl": "Polski", "ca": "Català",
    "nl": "Nederlands", "ar": "العربية", "sv": "Svenska", "it": "Italiano", "id": "Bahasa Indonesia",
    "hi": "हिन्दी", "fi": "Suomi", "vi": "Tiếng Việt", "he": "עברית", "uk": "Українська", "el": "Ελληνικά",
    "ms": "Bahasa Melayu", "cs": "Čeština", "ro": "Română", "da": "Dansk", "hu": "Magyar", "ta": "தமிழ்",
    "no": "Norsk", "th": "ไทย", "ur": "اردو", "hr": "Hrvatski", "bg": "Български", "lt": "Lietuvių",
    "la": "Latina", "mi": "Māori", "ml": "മലയാളം", "cy": "Cymraeg", "sk": "Slovenčina", "te": "తెలుగు",
    "fa": "فارسی", "lv": "Latviešu", "bn": "বাংলা", "sr": "Српски", "az": "Azərbaycan", "sl": "Slovenščina",
    "kn": "ಕನ್ನಡ", "et": "Eesti", "mk": "Македонски", "br": "Brezhoneg", "eu": "Euskara", "is": "Íslenska",
    "hy": "Հայերեն", "ne": "नेपाली", "mn": "Монгол", "bs": "Bosanski", "kk": "Қазақ", "sq": "Shqip",
    "sw": "Kiswahili", "gl": "Galego", "mr": "मराठी", "pa": "ਪੰਜਾਬੀ", "si": "සිංහල", "km": "ខ្មែរ",
    "sn": "chiShona", "yo": "Yorùbá", "so": "Soomaali", "af": "Afrikaans", "oc": "Occitan", "ka": "ქართული",
    "be": "Беларуская", "tg": "Тоҷикӣ", "sd": "سنڌي", "gu": "ગુજરાતી", "am": "አማርኛ", "yi": "ייִדיש",
    "lo": "ລາວ", "uz": "Oʻzbek", "fo": "Føroyskt", "ht": "Kreyòl ayisyen", "ps": "پښتو", "tk": "Türkmen",
    "nn": "Nynorsk", "mt": "Malti", "sa": "संस्कृतम्", "lb": "Lëtzebuergesch", "my": "မြန်မာ", "bo": "བོད་ཡིག",
    "tl": "Tagalog", "mg": "Malagasy", "as": "অসমীয়া", "tt": "Татар", "haw": "ʻŌlelo Hawaiʻi", "ln": "Lingála",
    "ha": "Hausa", "ba": "Башҡорт", "jw": "Basa Jawa", "su": "Basa Sunda", "yue": "粵語",
}


# each language's name in Korean (CLDR's), by Whisper's code
KOREAN = {
    "en": "영어", "zh": "중국어", "de": "독일어", "es": "스페인어", "ru": "러시아어", "ko": "한국어",
    "fr": "프랑스어", "ja": "일본어", "pt": "포르투갈어", "tr": "튀르키예어", "pl": "폴란드어", "ca": "카탈로니아어",
    "nl": "네덜란드어", "ar": "아랍어", "sv": "스웨덴어", "it": "이탈리아어", "id": "인도네시아어", "hi": "힌디어",
    "fi": "핀란드어", "vi": "베트남어", "he": "히브리어", "uk": "우크라이나어", "el": "그리스어", "ms": "말레이어",
    "cs": "체코어", "ro": "루마니아어", "da": "덴마크어", "hu": "헝가리어", "ta": "타밀어", "no": "노르웨이어",
    "th": "태국어", "ur": "우르두어", "hr": "크로아티아어", "bg": "불가리아어", "lt": "리투아니아어", "la": "라틴어",
    "mi": "마오리어", "ml": "말라얄람어", "cy": "웨일스어", "sk": "슬로바키아어", "te": "텔루구어",
    "fa": "페르시아어", "lv": "라트비아어", "bn": "벵골어", "sr": "세르비아어", "az": "아제르바이잔어",
    "sl": "슬로베니아어", "kn": "칸나다어", "et": "에스토니아어", "mk": "마케도니아어", "br": "브르타뉴어",
    "eu": "바스크어", "is": "아이슬란드어", "hy": "아르메니아어", "ne": "네팔어", "mn": "몽골어", "bs": "보스니아어",
    "kk": "카자흐어", "sq": "알바니아어", "sw": "스와힐리어", "gl": "갈리시아어", "mr": "마라티어", "pa": "펀자브어",
    "si": "싱할라어", "km": "크메르어", "sn": "쇼나어", "yo": "요루바어", "so": "소말리아어", "af": "아프리칸스어",
    "oc": "오크어", "ka": "조지아어", "be": "벨라루스어", "tg": "타지크어", "sd": "신디어", "gu": "구자라트어",
    "am": "암하라어", "yi": "이디시어", "lo": "라오어", "uz": "우즈베크어", "fo": "페로어", "ht": "아이티어",
    "ps": "파슈토어", "tk": "투르크멘어", "nn": "노르웨이어(니노르스크)", "mt": "몰타어", "sa": "산스크리트어",
    "lb": "룩셈부르크어", "my": "버마어", "bo": "티베트어", "tl": "타갈로그어", "mg": "말라가시어", "as": "아삼어",
    "tt": "타타르어", "haw": "하와이어", "ln": "링갈라어", "ha": "하우사어", "ba": "바슈키르어", "jw": "자바어",
    "su": "순다어", "yue": "광둥어",
}


def language_name(code: str, reader: str = "en") -> str:
    """``code``'s name in the ``reader``'s language ("ko" or "en"): "일본어", "Japanese"; the code itself where
    Whisper does not know it."""
    if reader == "ko" and code in KOREAN:
        return KOREAN[code]
    english = whisper_submodule("tokenizer").LANGUAGES.get(code)
    if english is None:
        return code
    return english.title() if english != "haitian creole" else "Haitian Creole"


@functools.cache
def language_choices(reader: str = "en") -> list[tuple[str, str]]:
    """(label, code) for every language Whisper knows, named in the ``reader``'s language and in its own, the
    most spoken first as Whisper lists them."""
    choices = []
    for code in whisper_submodule("tokenizer").LANGUAGES:
        name, native = language_name(code, reader), NATIVE.get(code)
        label = f"{name} · {native} ({code})" if native and native.lower() != name.lower() else f"{name} ({code})"
        choices.append((label, code))
    return choices
