"""Help text is rendered once per text and width, and shows the same as rich's Markdown."""

from __future__ import annotations

from rich.console import Console
from rich.markdown import Markdown

from ftui.tui.widgets.mdtext import rendered_lines


def plain(lines) -> list[str]:
    return ["".join(segment.text for segment in line).rstrip() for line in lines]


def test_lines_match_rich_markdown_and_are_reused() -> None:
    console = Console(width=40, record=False)
    source = "# Title\n\nSome **bold** text that wraps across more than one line at forty columns.\n\n| k | v |\n| - | - |\n| `F1` | help |"
    first = rendered_lines(source, console, console.options)
    expected = console.render_lines(Markdown(source), console.options.update(height=None), pad=False)
    assert plain(first) == plain(expected)
    assert any("help" in line for line in plain(first))
    assert rendered_lines(source, console, console.options) is first


def test_each_width_and_text_is_laid_out_on_its_own() -> None:
    console = Console(width=80)
    source = "word " * 30
    wide = rendered_lines(source, console, console.options)
    narrow = rendered_lines(source, console, console.options.update_width(30))
    assert len(narrow) > len(wide)
    assert max(len("".join(s.text for s in line).rstrip()) for line in narrow) <= 30
    other = rendered_lines(source + "more", console, console.options)
    assert "more" in "".join(plain(other))
