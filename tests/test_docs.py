"""The documentation holds together: every relative link in the READMEs and docs/ resolves, anchors
included (as GitHub makes them from headings), the README stays short, and the Korean README exists
and links to the English one."""

from __future__ import annotations

import re
import urllib.parse
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted([ROOT / "README.md", ROOT / "README.ko.md", ROOT / "SECURITY.md", ROOT / "deploy" / "README.md",
               ROOT / "bench" / "README.md", *(ROOT / "docs").rglob("*.md")])

FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
# [text](target "title") and ![alt](target); the text may hold one level of brackets (a badge, `[x]`)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HTML_REF = re.compile(r"<(?:img|a)\b[^>]*?\b(?:src|href)=\"([^\"]+)\"", re.I)
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.I)


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: the rendered text in lower case, without punctuation but
    hyphens, spaces made hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "").replace("*", "")
    text = re.sub(r"(?<!\w)_+|_+(?!\w)", "", text)  # _emphasis_, not snake_case
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    found = set()
    for line in prose_lines(path.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    found.update(re.findall(r"<a\s+(?:name|id)=\"([^\"]+)\"", path.read_text(encoding="utf-8")))
    return frozenset(found)


def links(path: Path) -> list[str]:
    found = []
    for line in prose_lines(path.read_text(encoding="utf-8")):
        reference = REFERENCE.match(line)
        if reference:
            found.append(reference.group(1))
        bare = CODE_SPAN.sub("", line)
        found += LINK.findall(bare) + HTML_REF.findall(bare)
    return found


def broken_links(path: Path) -> list[str]:
    broken = []
    for target in links(path):
        if EXTERNAL.match(target):
            continue
        file_part, _, anchor = target.partition("#")
        file_part = urllib.parse.unquote(file_part)
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            broken.append(f"{target}: no such file")
            continue
        if ROOT not in resolved.parents and resolved != ROOT:
            broken.append(f"{target}: outside the repository")
            continue
        if anchor:
            if resolved.is_dir() or resolved.suffix != ".md":
                broken.append(f"{target}: an anchor into something that is not a Markdown file")
            elif urllib.parse.unquote(anchor).lower() not in anchors(resolved):
                broken.append(f"{target}: no heading with that anchor in {resolved.relative_to(ROOT)}")
    return broken


def test_the_slugs_are_githubs():
    assert slug("Two commands") == "two-commands"
    assert slug("Engines: openai-whisper vs faster-whisper") == "engines-openai-whisper-vs-faster-whisper"
    assert slug("What `cache` looks at, and what it never touches") == "what-cache-looks-at-and-what-it-never-touches"
    assert slug("Both engines on a GPU (issue 12)") == "both-engines-on-a-gpu-issue-12"
    assert slug("More than one replica: `--backend ray` against the local backend") == (
        "more-than-one-replica---backend-ray-against-the-local-backend")
    assert slug("OpenAI SDK를 쓰는 Django 뷰") == "openai-sdk를-쓰는-django-뷰"
    assert slug("Other sites' pages") == "other-sites-pages"


def test_the_link_finder_finds_links_and_images_and_skips_code(tmp_path):
    path = tmp_path / "page.md"
    path.write_text("[a](docs/a.md) ![shot](images/x.png) `[not](this.md)` [b](https://x.org) [c](#here)\n"
                    "```\n[in code](no.md)\n```\n[ref]: docs/ref.md\n", encoding="utf-8")
    assert sorted(links(path)) == sorted(["docs/a.md", "images/x.png", "https://x.org", "#here", "docs/ref.md"])


@pytest.mark.parametrize("path", DOCS, ids=[str(p.relative_to(ROOT)) for p in DOCS])
def test_every_relative_link_resolves(path):
    assert links(path) or path.parent == ROOT / "bench", f"{path} has no links at all: is the finder broken?"
    assert broken_links(path) == []


def test_the_docs_pages_exist():
    pages = {p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").rglob("*.md")}
    for page in ("docs/settings.md", "docs/models-and-engines.md", "docs/page.md", "docs/api-and-mcp.md",
                 "docs/deploying.md", "docs/security.md", "docs/troubleshooting.md", "docs/migrating.md",
                 "docs/ko/troubleshooting.md", "docs/ko/migrating.md"):
        assert page in pages, page


def test_the_readme_is_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, len(lines)


def test_the_readmes_link_to_each_other():
    english = (ROOT / "README.md").read_text(encoding="utf-8")
    korean = (ROOT / "README.ko.md").read_text(encoding="utf-8")
    assert "README.md" in links(ROOT / "README.ko.md")
    assert "README.ko.md" in links(ROOT / "README.md")
    assert re.search(r"[\uac00-\ud7a3]", korean), "README.ko.md is not in Korean"
    # both point at the picture of the page, and at the Korean troubleshooting and migration pages
    for readme in (english, korean):
        assert "docs/images/page.png" in readme
        assert "docs/ko/troubleshooting.md" in readme and "docs/ko/migrating.md" in readme


def test_the_readme_keeps_the_two_commands():
    """CI (`.ci/run`) runs `make test`, the README's test command: it stays in its "Two commands"."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    assert re.search(r"^make run\b", section, re.M) and re.search(r"^make test\b", section, re.M)
    assert re.search(r"^make test$", (ROOT / ".ci" / "run").read_text(), re.M)


def test_the_screenshot_is_small():
    image = ROOT / "docs" / "images" / "page.png"
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert image.stat().st_size < 300_000
