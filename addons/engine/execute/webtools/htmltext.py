"""HTML -> readable text, with the stdlib parser: what a model can read of a
page. Scripts, styles, forms' insides and other invisible parts are
dropped; block elements become line breaks, list items get a dash,
``<pre>`` keeps its spacing, runs of blank lines shrink to one. The
``<title>`` is returned apart. No I/O.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_SKIP = frozenset({
    "script", "style", "noscript", "template", "svg", "canvas", "iframe", "object",
    "select", "button", "math",
})  # fmt: skip
_BLOCK = frozenset({
    "p", "div", "section", "article", "main", "header", "footer", "nav", "aside",
    "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "dl", "dt", "dd", "table",
    "tr", "blockquote", "pre", "figure", "figcaption", "form", "fieldset", "hr",
    "address", "details", "summary", "br",
})  # fmt: skip
_VOID = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
    "source", "track", "wbr",
})  # fmt: skip
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_KEEP = "\x00"
_BLANKS = re.compile(r"\n\s*\n\s*\n+")


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.title: list[str] = []
        self.skip = 0
        self.pre = 0
        self.in_title = False
        self.cells = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self.in_title = True
        elif tag in _SKIP:
            self.skip += tag not in _VOID
        elif tag == "pre":
            self.pre += 1
        if tag in _BLOCK and not self.skip:
            self.out.append("\n- " if tag == "li" else "\n")
        elif tag in ("td", "th") and not self.skip:
            self.cells += 1
            self.out.append(" | " if self.cells > 1 else "")
        if tag == "tr":
            self.cells = 0

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        elif tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)
        if tag in _BLOCK and tag != "li" and not self.skip:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
        elif not self.skip:
            self.out.append(_pre(data) if self.pre else _SPACES.sub(" ", data.replace("\n", " ")))


def _pre(data: str) -> str:
    """Preformatted text, its lines marked to keep their indentation."""
    return _KEEP + data.replace("\n", "\n" + _KEEP)


def _line(line: str) -> str:
    if line.startswith(_KEEP):
        return line.replace(_KEEP, "").rstrip()
    return line.replace(_KEEP, "").strip()


def html_to_text(html: str) -> tuple[str, str | None]:
    """``(text, title)`` of an HTML document (title None when it has none)."""
    reader = _Reader()
    reader.feed(html)
    reader.close()
    text = "".join(reader.out)
    lines = (_line(line) for line in text.split("\n"))
    text = "\n".join(lines)
    text = _BLANKS.sub("\n\n", text).strip()
    title = " ".join("".join(reader.title).split())
    return text, title or None
