"""Text from outside (a model file's names, a board's serial answers) -> text safe to write.

A model file is untrusted input: its tensor, node and graph names end up in generated C
(comments of model.h, model.c), in messages on the user's terminal and in JSON. Every such
place goes through one function of this module, one per target language:

    c_comment(s)    inside /* ... */: printable ASCII only, no backslash, and the sequences
                    that end or nest a comment (`*/`, `/*`) or form trigraphs (`??`) broken
                    by a space; so nothing can leave the comment, splice a line or trip
                    -Wcomment / -Wtrigraphs / -Wbidi-chars under -Werror.
    c_string(s)     a complete C string literal: printable ASCII except `"`, `\\` and `?`
                    as is, everything else as a three-digit octal escape (fixed width, so
                    the next character is never swallowed as a hex escape would).
    make_comment(s) the text of a `#` comment in a Makefile or linker script: printable ASCII
                    only, no backslash (a trailing one would continue the comment onto the
                    next line).
    terminal(s)     text for a terminal: every control character (C0, DEL, C1, which covers
                    ESC / CSI sequences, carriage return, backspace, NUL) and the Unicode
                    bidirectional overrides shown as \\xNN / \\uNNNN instead of acted on;
                    newlines kept only when asked (multi-line error reports), the length
                    limit then applying to each line.
    shown(s)        a name quoted for a one-line message: terminal() without newlines,
                    quoted, cut in the middle beyond a limit.

Every function also limits the length (a 1 MB tensor name stays a short comment). JSON needs
no function here: json.dumps escapes every control character itself. Identifiers in generated
code are never built from model text (codegen names constants by step and op index).
"""
from __future__ import annotations

import re

NAME_LIMIT = 80           # characters of a name kept in a comment or message
LINE_LIMIT = 1000         # characters of one line of an error message

_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_TERMINAL_UNSAFE = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f{_BIDI}]")
_TERMINAL_UNSAFE_NL = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}]")


def _cut(text: str, limit: int | None) -> str:
    """At most `limit` characters, the middle replaced by '...' (both ends stay readable)."""
    if limit is None or len(text) <= limit:
        return text
    keep = max(limit - 3, 2)
    return text[:keep - keep // 2] + "..." + text[len(text) - keep // 2:]


def _ascii_printable(text: str, drop: str = "") -> str:
    """Printable ASCII kept, every other character (and those in `drop`) as '?'."""
    return "".join(c if " " <= c <= "~" and c not in drop else "?" for c in text)


def _break(text: str, pairs: tuple[str, ...]) -> str:
    """A space between the two characters of every pair in `pairs`, overlaps included."""
    out: list[str] = []
    for c in text:
        if out and out[-1] + c in pairs:
            out.append(" ")
        out.append(c)
    return "".join(out)


def c_comment(text: str, limit: int = NAME_LIMIT) -> str:
    return _break(_ascii_printable(_cut(str(text), limit), drop="\\"), ("*/", "/*", "??"))


def c_string(text: str, limit: int = NAME_LIMIT) -> str:
    out = []
    for byte in _cut(str(text), limit).encode("utf-8", errors="replace"):
        c = chr(byte)
        out.append(c if " " <= c <= "~" and c not in "\"\\?" else f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def make_comment(text: str, limit: int = 200) -> str:
    return _ascii_printable(_cut(str(text), limit), drop="\\")


def _escape_char(m: re.Match) -> str:
    c = m.group(0)
    return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"


def terminal(text: str, limit: int | None = None, newlines: bool = False) -> str:
    if newlines:
        return "\n".join(_cut(_TERMINAL_UNSAFE.sub(_escape_char, line), limit)
                         for line in str(text).split("\n"))
    return _cut(_TERMINAL_UNSAFE_NL.sub(_escape_char, str(text)), limit)


def shown(name: str, limit: int = NAME_LIMIT) -> str:
    return "'" + terminal(_cut(str(name), limit)) + "'"


# The template filters of every generated file (codegen and build register them).
JINJA_FILTERS = dict(c_comment=c_comment, c_string=c_string, make_comment=make_comment)
