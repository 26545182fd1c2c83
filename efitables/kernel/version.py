"""Which Linux release a dump's kernel is: from VMCOREINFO ``OSRELEASE`` and the kernel's ``linux_banner``.

``OSRELEASE`` is ``utsname()->release`` (kernel/vmcore_info.c@v6.12, kernel/crash_core.c@v6.1:
``VMCOREINFO_OSRELEASE(init_uts_ns.name.release)``), e.g. ``6.1.0-56-amd64``: a distribution
may replace the stable sub-level by its own ABI number, as Debian does. ``linux_banner``
(init/version-timestamp.c@v6.1: ``"Linux version " UTS_RELEASE " (" LINUX_COMPILE_BY "@"
... ") " UTS_VERSION "\\n"``) carries ``UTS_VERSION``, where Debian writes the upstream
stable version (``#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)``); Ubuntu writes
``#NN-Ubuntu``, and Fedora/Arch keep the sub-level in the release itself.

:func:`kernel_version` takes both and keeps the most precise answer: the upstream
``(major, minor, sublevel)`` when something states it, and where each part came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from efitables.text import printable

_RELEASE = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")
#: Debian's ``UTS_VERSION``: ``Debian 6.1.192-2`` (the upstream stable version, then the package revision).
_DEBIAN = re.compile(r"\bDebian (\d+)\.(\d+)\.(\d+)")
_BANNER = re.compile(r"Linux version (\S+)")


@dataclass(frozen=True)
class KernelVersion:
    """``(major, minor)`` and, when known, the upstream stable ``sublevel``; ``text`` as found."""

    major: int
    minor: int
    sublevel: int | None = None
    text: str = ""
    source: str = ""  # "VMCOREINFO OSRELEASE", "linux_banner", "linux_banner (Debian stable version)"

    @property
    def key(self) -> tuple[int, int]:
        return (self.major, self.minor)

    def at_least(self, major: int, minor: int, sublevel: int = 0) -> bool:
        return (self.major, self.minor, self.sublevel or 0) >= (major, minor, sublevel)

    @property
    def short(self) -> str:
        """``v6.1`` or ``v6.1.192``."""
        tail = f".{self.sublevel}" if self.sublevel is not None else ""
        return f"v{self.major}.{self.minor}{tail}"

    def to_dict(self) -> dict[str, object]:
        return {
            "major": self.major,
            "minor": self.minor,
            "sublevel": self.sublevel,
            "text": self.text,
            "source": self.source,
        }


def parse_release(text: str, source: str) -> KernelVersion | None:
    """``6.1.0-56-amd64`` -> 6.1 (a ``.0`` sub-level after a distribution's ABI suffix is not trusted)."""
    m = _RELEASE.match(text.strip())
    if m is None:
        return None
    sub = int(m.group(3)) if m.group(3) is not None else None
    distro = "-" in text[m.end() :] or "+" in text[m.end() :]
    if sub == 0 and distro:
        sub = None  # Debian's 6.1.0-56 is 6.1.<stable>, not 6.1.0
    return KernelVersion(int(m.group(1)), int(m.group(2)), sub, printable(text.strip()), source)


def kernel_version(osrelease: str | None, banner: str | None) -> KernelVersion | None:
    """The kernel's version from VMCOREINFO ``OSRELEASE`` and/or ``linux_banner`` (None: neither parses)."""
    out = parse_release(osrelease, "VMCOREINFO OSRELEASE") if osrelease else None
    if banner:
        m = _BANNER.search(banner)
        from_banner = parse_release(m.group(1), "linux_banner") if m else None
        if out is None:
            out = from_banner
        # the compiler's version ("gcc-12 (Debian 12.2.0-14)") comes first: take the one of this release
        d = next(
            (m for m in _DEBIAN.finditer(banner) if out is not None and (int(m.group(1)), int(m.group(2))) == out.key),
            None,
        )
        if out is not None and d is not None:
            stable = f"{d.group(1)}.{d.group(2)}.{d.group(3)}"
            out = KernelVersion(
                out.major, out.minor, int(d.group(3)), out.text, f"{out.source} + linux_banner (Debian {stable})"
            )
    return out
