"""A tool's description for agents, made from its docstring.

MCP and OpenAI clients show a description to a model as plain text, so the
reStructuredText a docstring may hold (``code``, :role:`targets`, emphasis,
links) would reach it as noise, and only the first paragraph is meant for it:
what the tool does, in whole sentences. Later paragraphs are for whoever reads
the code. The README's tool table shows the same text, so it is never cut.
"""

from __future__ import annotations

import inspect
import re

# One pass, left to right, so an inline literal's content is never read as markup.
_INLINE = re.compile(
    r"""``(?P<literal>[^`]+?)``                     # ``code``
    | (?::[\w.:+-]+:)?`(?P<text>[^`]+)`_{0,2}      # :role:`x`, `x`_, `x`__, `x`
    | (?<![\w*\\])\*\*(?P<strong>[^*\s](?:[^*]*?[^*\s])??)\*\*(?![\w*])
    | (?<![\w*\\])\*(?P<emphasis>[^*\s](?:[^*]*?[^*\s])??)\*(?![\w*])
    | \\(?P<escaped>[*`_|\\])                      # \* -> *
    """,
    re.VERBOSE,
)


def _unmark(match: re.Match[str]) -> str:
    text = match["text"]
    if text is None:
        return next(group for group in match.groups() if group is not None)
    text = re.sub(r"\s*<[^<>]*>$", "", text)  # `title <target>` -> title
    # :class:`~pkg.mod.Name` shows the last part only
    return text[1:].rsplit(".", 1)[-1] if text.startswith("~") else text


def plain(text: str) -> str:
    """``text`` with reST inline markup removed and its whitespace collapsed to single spaces."""
    text = " ".join(_INLINE.sub(_unmark, text).split())
    # "Example::" introduces a literal block, which the first paragraph never carries.
    return text[:-1] if text.endswith("::") else text


def from_docstring(doc: str | None, fallback: str) -> str:
    """The first paragraph of ``doc`` as plain text, one line, whole (``fallback`` if none)."""
    paragraphs = re.split(r"\n\s*\n", inspect.cleandoc(doc or "").strip(), maxsplit=1)
    return plain(paragraphs[0]) or fallback
