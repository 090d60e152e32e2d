"""Labels from input escaped for Markdown (rendered by nbconvert's own Markdown
renderer, as in a report page) and for matplotlib text (drawn for real)."""
from __future__ import annotations

import html
import io
import re

import matplotlib
import matplotlib.pyplot as plt
import pytest
from nbconvert.filters.markdown_mistune import markdown2html_mistune

from workbench import markup

PAYLOADS = [
    "[x](javascript:alert(1))",
    "![p](http://127.0.0.1:9/pixel.png)",
    "<img src=x onerror=\"window.pwned=1\">",
    "<script>window.pwned=2</script>",
    "$\\foo$ and $x^2$",
    "**bold** _em_ `code` ~~del~~ a|b",
    "www.example.org http://example.org <http://example.org> a@b.example",
    "&amp; &lt;b&gt; &#60;",
    "# heading",
    "- item",
    "+ item",
    "12. item",
    "line\n\n# two\n- three",
    "back\\slash \\[x\\]",
    "[ref]: http://example.org",
]


def rendered_text(markdown: str) -> tuple[str, str]:
    """(HTML, its text) as nbconvert renders a Markdown output."""
    page = markdown2html_mistune(markdown)
    return page, html.unescape(re.sub(r"<[^>]+>", "", page)).strip()


@pytest.mark.parametrize("label", PAYLOADS)
def test_markdown_label_renders_as_its_own_text(label):
    page, text = rendered_text(f"condition **{markup.md(label)}** wins")
    assert text == f"condition {' '.join(label.split())} wins"
    # only the <p> and the <strong> of the sentence itself: no link, image, heading, list, code, math
    assert re.findall(r"<(\w+)", page) == ["p", "strong"]


def test_markdown_escape_keeps_plain_labels_readable():
    assert markup.md("kvm, 16 threads: 2.5 % (n=10)") == "kvm, 16 threads\\: 2.5 % \\(n=10\\)"
    assert markup.md("1. a-b") == "1\\. a-b" and markup.md("-x") == "\\-x"


@pytest.mark.parametrize("label", ["$\\foo$", "$x$", "a$b$c\\$", "$$", "\\$\\alpha$"])
def test_matplotlib_label_is_drawn_as_text(label):
    assert matplotlib.get_backend().lower() == "agg"
    fig, ax = plt.subplots()
    try:
        ax.set_title(markup.mpl(label))
        ax.set_xticks([0], [markup.mpl(label)])
        fig.savefig(io.BytesIO(), format="png")  # mathtext would raise on \foo
        title = ax.title
        assert title._preprocess_math(title.get_text()) == (label, False)
    finally:
        plt.close(fig)


def test_unescaped_mathtext_label_fails_to_draw():
    """The defect the escaping prevents (issue 18 item 1)."""
    fig, ax = plt.subplots()
    try:
        ax.set_title("$\\foo$")
        with pytest.raises(ValueError, match="Unknown symbol"):
            fig.savefig(io.BytesIO(), format="png")
    finally:
        plt.close(fig)
