"""A graded notebook as HTML for its feedback page, without paying for the lesson every time.

nbconvert's ``basic`` HTML template costs about a second of CPU per notebook, mostly
highlighting code, rendering markdown and sanitizing both (bleach).  All but a few cells of a
submission are the lesson's own, the same in every submission, so these three steps are
memoized on their input text: the page is the same, and the cost per submission falls to what
the learner's own cells and outputs need.  Each memo keeps the 2,048 texts used last: the
lessons' own cells (a few hundred, used by every submission) stay in it, a learner's own text
is pushed out by the next learners', so the grader's memory does not grow with the cohort.
"""
from __future__ import annotations

import functools
import json
import threading

_lock = threading.Lock()  # one exporter, used by the single writer; nbconvert's are not thread-safe
_exporter = None


# What a notebook's markdown and outputs may keep on a feedback page: text, tables, code, links
# and inline images; no script, style, form, frame, object, meta or event handler.
# (nbconvert's own clean_html escapes paragraphs and headings, which would garble every lesson cell.)
_TAGS = {"a", "abbr", "b", "blockquote", "br", "code", "del", "details", "div", "em", "h1", "h2", "h3", "h4",
         "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "summary",
         "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul"}


def _allowed_attribute(tag: str, name: str, value: str) -> bool:
    if name in ("class", "id", "title", "alt", "colspan", "rowspan", "align"):
        return True
    if tag == "a" and name == "href":
        return value.startswith(("http://", "https://", "mailto:", "#")) or "://" not in value and ":" not in value
    if tag == "img" and name == "src":
        return value.startswith(("data:image/png;", "data:image/jpeg;", "data:image/gif;"))
    if tag == "img" and name in ("width", "height"):
        return True
    return False


def _cleaner():
    import bleach

    return bleach.Cleaner(tags=_TAGS, attributes=_allowed_attribute,
                          protocols={"http", "https", "mailto", "data"}, strip=True, strip_comments=True)


def _cached_exporter():
    from jinja2 import pass_context
    from nbconvert import HTMLExporter
    from nbconvert.filters.highlight import Highlight2HTML

    # Learner outputs and markdown are hostile: bleach them (scripts, event handlers, javascript:
    # links go); the page also forbids every script by its Content-Security-Policy (feedback.py).
    exporter = HTMLExporter(template_name="basic", sanitize_html=True)
    markdown2html = exporter.markdown2html

    @functools.lru_cache(maxsize=None)
    def highlighter(lexer):
        return Highlight2HTML(pygments_lexer=lexer, parent=exporter)

    @functools.lru_cache(maxsize=2048)
    def highlighted(lexer, source: str, language, metadata: str) -> str:
        return highlighter(lexer)(source, language=language, metadata=json.loads(metadata))

    def highlight_code(source, language=None, metadata=None):
        return highlighted(exporter.bnlab_lexer, source, language,
                           json.dumps(metadata or {}, sort_keys=True, default=str))

    @functools.lru_cache(maxsize=2048)
    def markdown(source: str, attachments: str, path: str) -> str:
        context = {"cell": {"attachments": json.loads(attachments)}, "resources": {"metadata": {"path": path}}}
        return markdown2html(context, source)

    @pass_context
    def cached_markdown2html(context, source):
        cell = context.get("cell", {}) or {}
        attachments = json.dumps(cell.get("attachments", {}) or {}, sort_keys=True)
        return markdown(source, attachments, context.get("resources", {}).get("metadata", {}).get("path", ""))

    exporter.register_filter("highlight_code", highlight_code)
    exporter.register_filter("markdown2html", cached_markdown2html)
    exporter.register_filter("clean_html", functools.lru_cache(maxsize=2048)(_cleaner().clean))
    return exporter


def notebook_html(notebook) -> str:
    """The body of nbconvert's ``basic`` HTML export of ``notebook``."""
    global _exporter
    with _lock:
        if _exporter is None:
            _exporter = _cached_exporter()
        language = notebook.metadata.get("language_info", {})
        _exporter.bnlab_lexer = language.get("pygments_lexer", language.get("name"))  # as nbconvert picks it
        body, _ = _exporter.from_notebook_node(notebook)
    return body


__all__ = ["notebook_html"]
