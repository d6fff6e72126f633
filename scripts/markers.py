"""Tables that scripts regenerate inside Markdown pages, between `<!-- name:start -->` and
`<!-- name:end -->`, so a page's prose stays hand-written and its figures stay reproducible."""

from __future__ import annotations

from pathlib import Path


def replace_between(page: Path, name: str, text: str) -> bool:
    """Put `text` between the page's `name` markers; False (and the page untouched) without them."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    content = page.read_text()
    if start not in content or end not in content:
        return False
    head, rest = content.split(start, 1)
    page.write_text(head + start + "\n" + text + "\n" + end + rest.split(end, 1)[1])
    return True
