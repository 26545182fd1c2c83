"""Neutral text helpers shared by the CLI (rich) and the TUI (Textual).

Everything that came out of a dump (vendor strings, command lines, OEM IDs,
names from user GUID lists) is data: :func:`printable` makes control and escape
characters visible before any face shows it, and each face then escapes its
own markup (``efitables.cli.render.safe`` for rich, ``efitables_tui.text.plain``
for Textual). Nothing here imports rich or Textual.
"""

from __future__ import annotations

from efitables.findings import Severity

#: Style names per severity (rich and Textual understand the same names).
SEV_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
#: One-character severity marks for narrow views.
SEV_MARK = {Severity.ERROR: "E", Severity.WARNING: "W", Severity.INFO: "i"}


def printable(text: str) -> str:
    """Replace control, escape and non-printable characters with visible escapes."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        else:
            o = ord(ch)
            out.append(f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}")
    return "".join(out)


def hexa(v: int | None) -> str:
    """An address or size as ``0x...``; ``-`` for None."""
    return "-" if v is None else f"{v:#x}"


def ok_text(v: bool | None) -> str:
    """A checksum or signature verdict: ``ok``, ``BAD`` or ``-`` (not checked)."""
    return "-" if v is None else ("ok" if v else "BAD")


def fmt_value(v: object) -> str:
    """A scalar attribute as text: small integers in decimal, others in hex; strings made printable."""
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, int):
        return f"{v:#x}" if v > 9 else str(v)
    return printable(str(v))


def size_text(n: int) -> str:
    """``2 MiB`` for whole units, else ``0x1234 bytes``."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n:#x} bytes"
