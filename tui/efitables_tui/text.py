"""Turning dump-derived values into safe terminal text.

Every string that came out of a dump is data: it goes into a Rich ``Text``
built without markup, after :func:`efitables.text.printable` has made control
and escape characters visible. Textual parses plain ``str`` labels and cells as
markup, so widgets here are given ``Text`` objects only. The neutral helpers
(``printable``, ``hexa``, ``size_text``, severity styles and marks) are
efitables' own (:mod:`efitables.text`), shared with the CLI.
"""

from __future__ import annotations

import construct as cs
from rich.text import Text

from efitables.findings import Severity
from efitables.text import SEV_MARK, SEV_STYLE, hexa, printable, size_text

__all__ = [
    "MAX_CELL",
    "MAX_VALUE",
    "SEV_MARK",
    "SEV_STYLE",
    "hexa",
    "int_cells",
    "parse_address",
    "plain",
    "printable",
    "sev_text",
    "shown",
    "size_text",
    "value_int",
    "value_meaning",
]

#: Longest text shown in one table cell (the rest is elided, the JSON export has it all).
MAX_CELL = 200
#: Longest value shown in the fields table (and matched by a search).
MAX_VALUE = 120


def shown(value: object, limit: int = MAX_CELL) -> str:
    """``value`` as the terminal shows it: control characters made visible, elided past ``limit``."""
    s = printable(str(value))
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return s


def plain(value: object, style: str = "", limit: int = MAX_CELL) -> Text:
    """``value`` as escaped, non-markup text (control characters made visible)."""
    return Text(shown(value, limit), style=style)


def sev_text(sev: Severity | None) -> Text:
    if sev is None:
        return Text("")
    return Text(str(sev), style=SEV_STYLE[sev])


def parse_address(text: str) -> int | None:
    """``0x7e0018``, ``7e0018h``, ``7e0018`` (hex by default: addresses are hex) or ``#123`` (decimal)."""
    t = text.strip().lower().replace("_", "").replace("`", "")
    if not t:
        return None
    try:
        if t.startswith("#"):
            n = int(t[1:], 10)
        elif t.endswith("h"):
            n = int(t[:-1], 16)
        elif t.startswith("0x"):
            n = int(t, 16)
        else:
            n = int(t, 16)
    except ValueError:
        return None
    return n if 0 <= n < 1 << 64 else None


def value_int(value: object, raw: bytes, offset: int, size: int) -> int | None:
    """The integer a field holds: from the parsed value, or its bytes for enums and flags."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):  # includes EnumInteger / EnumIntegerString's int
        return int(value)
    if isinstance(value, cs.EnumIntegerString):
        return int(value)
    if (value is None or isinstance(value, dict)) and size in (1, 2, 4, 8) and len(raw) >= offset + size:
        return int.from_bytes(raw[offset : offset + size], "little")
    return None


def value_meaning(value: object) -> str:
    """Enum name, set flag names, or the value itself for non-integers (strings, GUIDs, bytes)."""
    if isinstance(value, cs.EnumIntegerString):
        return str(value)
    if isinstance(value, dict):
        if value.get("_flagsenum"):
            names = [k for k, v in value.items() if not str(k).startswith("_") and v is True]
            return " | ".join(names) if names else "(none)"
        return ", ".join(f"{k}={v}" for k, v in value.items() if not str(k).startswith("_"))
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return ""
    if isinstance(value, bytes | bytearray | memoryview):
        b = bytes(value)
        text = b[:32].hex(" ") + (" …" if len(b) > 32 else "")
        stripped = b.rstrip(b"\0")
        if stripped and len(b) <= 32 and all(0x20 <= c < 0x7F for c in stripped):
            text += ' "' + stripped.decode("ascii") + '"'  # printable ASCII only: safe as-is
        return text
    if isinstance(value, list | tuple):
        return f"[{len(value)} items]"
    if value is None:
        return ""
    return str(value)


def int_cells(v: int | None) -> tuple[str, str]:
    if v is None:
        return "", ""
    return f"{v:#x}", str(v)
