"""The docs stay navigable: every relative link in README.md and docs/*.md (and CHANGELOG.md,
infra/README.md) points to a file that exists, and every `#anchor` to a heading of its target,
slugged as GitHub slugs headings.

Links inside fenced code blocks and inline code are text, not links; http(s) and mailto links
are not followed. README.md stays an overview (docs/ holds the detail), and the architecture
page keeps its Mermaid diagrams.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").glob("*.md"))
README_MAX_LINES = 260

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"", re.IGNORECASE)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto:, ...


def prose_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of every line outside fenced code blocks."""
    fence: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        match = FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)
        elif fence is not None and match and match.group(1)[0] == fence[0]:
            if len(match.group(1)) >= len(fence) and not line.strip()[len(match.group(1)) :]:
                fence = None
        elif fence is None:
            yield number, line


def heading_text(markdown: str) -> str:
    """A heading's text as GitHub renders it: code spans keep their content, links their text,
    emphasis markers and HTML tags go."""
    spans: list[str] = []

    def keep(match: re.Match[str]) -> str:
        spans.append(match.group(2).strip())
        return f"\x00{len(spans) - 1}\x00"

    text = CODE_SPAN.sub(keep, markdown)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<[^>]+>", "", text)
    text = re.sub(r"\*+|~~", "", text)
    text = re.sub(r"(?<![0-9A-Za-z])_+|_+(?![0-9A-Za-z])", "", text)
    return re.sub(r"\x00(\d+)\x00", lambda m: spans[int(m.group(1))], text)


def slug(heading: str) -> str:
    """GitHub's heading id (github-slugger): lower case; everything but letters, digits,
    spaces, hyphens and underscores dropped; each space a hyphen."""
    text = heading_text(heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor a markdown file offers: its headings' slugs (a repeated slug gets -1, -2,
    ...) and explicit HTML anchors."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    previous = ""
    for _, line in prose_lines(text):
        heading = ATX_HEADING.match(line)
        if heading:
            title = heading.group(2) or ""
        elif SETEXT_UNDERLINE.match(line) and previous.strip() and not previous.startswith("|"):
            title = previous.strip()
        else:
            title = None
        if title is not None:
            base = slug(title)
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
        found.update(HTML_ANCHOR.findall(line))
        previous = line
    return found


def links(text: str) -> Iterator[tuple[int, str]]:
    """(line number, target) of every link outside code."""
    for number, line in prose_lines(text):
        for match in LINK.finditer(CODE_SPAN.sub("", line)):
            yield number, match.group(1)


def check_file(path: Path, root: Path = ROOT) -> list[str]:
    """The dead links of one markdown file, as `file:line: target (why)`."""
    problems: list[str] = []
    for number, target in links(path.read_text(encoding="utf-8")):
        if not target or EXTERNAL.match(target):
            continue
        where, _, anchor = target.partition("#")
        if where.startswith("/"):
            file = root / unquote(where).lstrip("/")
        else:
            file = (path.parent / unquote(where)) if where else path
        name = f"{path.name}:{number}: {target}"
        if not file.exists():
            problems.append(f"{name} (no such file)")
        elif anchor and file.suffix.lower() != ".md":
            problems.append(f"{name} (an anchor into a file that is not markdown)")
        elif anchor and unquote(anchor) not in anchors(file.read_text(encoding="utf-8")):
            problems.append(f"{name} (no heading with this anchor in {file.name})")
    return problems


CHECKED = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "infra" / "README.md", *DOCS]


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path: Path) -> None:
    assert check_file(path) == []


def test_the_checker_reports_dead_links_and_anchors(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## Some `code` here\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n## Twice\n\n## Twice\n\n"
        "[ok](other.md) [ok](other.md#some-code-here) [ok](#twice-1) [ok](https://x.invalid/)\n"
        "[gone](missing.md)\n"
        "[bad anchor](other.md#no-such-heading)\n"
        "[bad local](#twice-2)\n"
        "`[in code](missing.md)`\n"
        "```md\n[in a fence](missing.md)\n# Not a heading\n```\n"
        "[fenced heading](#not-a-heading)\n",
        encoding="utf-8",
    )
    assert check_file(page, root=tmp_path) == [
        "page.md:8: missing.md (no such file)",
        "page.md:9: other.md#no-such-heading (no heading with this anchor in other.md)",
        "page.md:10: #twice-2 (no heading with this anchor in page.md)",
        "page.md:16: #not-a-heading (no heading with this anchor in page.md)",
    ]


@pytest.mark.parametrize(
    ("heading", "expected"),
    [
        (
            "List, export and import a sender's opt-outs (`optouts` tool)",
            "list-export-and-import-a-senders-opt-outs-optouts-tool",
        ),
        ("Revoke-all groups (brand-wide opt-out)", "revoke-all-groups-brand-wide-opt-out"),
        ("Removing: do not use `azd down`", "removing-do-not-use-azd-down"),
        ("The hot path: `check` at any list size", "the-hot-path-check-at-any-list-size"),
        ("**Bold** and _emphasis_ with snake_case", "bold-and-emphasis-with-snake_case"),
        ("A [linked](other.md) heading", "a-linked-heading"),
        ("Send (`POST /sms`)", "send-post-sms"),
    ],
)
def test_slugs_follow_github(heading: str, expected: str) -> None:
    assert slug(heading) == expected


def test_readme_is_an_overview() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, "move the detail to docs/"


def test_readme_links_every_docs_page() -> None:
    linked = {
        (ROOT / target.partition("#")[0]).resolve()
        for _, target in links((ROOT / "README.md").read_text(encoding="utf-8"))
    }
    assert [p.name for p in DOCS if p.resolve() not in linked] == []


def test_architecture_has_mermaid_diagrams() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert re.search(r"(?m)^```mermaid$", text)
