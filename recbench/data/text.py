"""Text hygiene for ids and titles that reach a terminal: control characters and escapes.

Dataset files are untrusted input. A title such as ``"Heat\\x1b]0;pwned\\x07"`` printed as is
would retitle the user's terminal (or worse), so anything that shows ids or titles passes them
through :func:`strip_control`; loading only warns (``dataset.source["warnings"]``) and keeps the
data unchanged, so checksums and ids stay those of the source file.
"""

from __future__ import annotations

import re

#: Terminal escape sequences: CSI (``ESC [ ... final``), OSC/DCS/PM/APC/SOS strings (ended by
#: BEL or ``ESC \\``, or by the end of the text) and two-character ``ESC x`` sequences; the
#: 8-bit CSI (U+009B) form as well.
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -~]?"
)
#: C0 and C1 control characters, DEL, and the Unicode bidirectional overrides and isolates
#: (they reorder what a terminal shows: "Trojan source").
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def strip_control(text: str) -> str:
    """``text`` without terminal escape sequences and control characters (for printing)."""
    if not CONTROL.search(text):
        return text
    return CONTROL.sub("", _ESCAPES.sub("", text))


def has_control(text: str) -> bool:
    """Whether ``text`` holds a control character or escape that :func:`strip_control` removes."""
    return CONTROL.search(text) is not None


__all__ = ["CONTROL", "has_control", "strip_control"]
