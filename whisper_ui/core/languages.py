"""Whisper's languages by name: "Korean · 한국어 (ko)", for the page's searchable language choice.

The codes and English names are openai-whisper's own (``whisper.tokenizer.LANGUAGES``); beside them,
each language's name for itself, so a reader finds their language whichever way they look for it.
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


@functools.cache
def language_choices() -> list[tuple[str, str]]:
    """(label, code) for every language Whisper knows, the most spoken first as Whisper lists them."""
    choices = []
    for code, name in whisper_submodule("tokenizer").LANGUAGES.items():
        english = name.title() if name != "haitian creole" else "Haitian Creole"
        native = NATIVE.get(code)
        label = f"{english} · {native} ({code})" if native and native.lower() != english.lower() else f"{english} ({code})"
        choices.append((label, code))
    return choices
