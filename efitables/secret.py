"""Secret material as efitables shows it: a length and a short SHA-256 unless revealed.

One class for every secret a dump holds: the SNP VMPCKs (``struct
snp_secrets_page``), Linux's EFI and setup_data RNG seeds, the CoCo secret
area's entries. ``value`` is None unless the Dump was opened with
``show_secrets=True``; the digest lets two dumps be compared without showing
the key.

A Secret hides the bytes in the object that owns them; the bytes themselves are
withheld from every other structure by physical range (the Dump reads through
:class:`efitables.memory.redact.RedactedMemory`), so a pointer that lands on a
secret from elsewhere reads zeros, not the key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

#: Length of the digest prefix shown for a redacted secret (hex characters).
DIGEST_CHARS = 16


@dataclass(frozen=True, kw_only=True)
class Secret:
    """A secret's summary; ``value`` holds the bytes only when revealed."""

    length: int
    sha256_prefix: str
    all_zero: bool
    value: bytes | None = field(default=None, repr=False)

    @classmethod
    def of(cls, data: bytes, reveal: bool) -> Secret:
        return cls(
            length=len(data),
            sha256_prefix=hashlib.sha256(data).hexdigest()[:DIGEST_CHARS],
            all_zero=not any(data),
            value=bytes(data) if reveal else None,
        )

    @property
    def redacted(self) -> bool:
        return self.value is None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "redacted": self.redacted,
            "length": self.length,
            "sha256_prefix": self.sha256_prefix,
            "all_zero": self.all_zero,
        }
        if self.value is not None:
            d["hex"] = self.value.hex()
        return d

    def __str__(self) -> str:
        if self.value is not None:
            return self.value.hex()
        state = "all zero" if self.all_zero else f"sha256 {self.sha256_prefix}"
        return f"<redacted: {self.length} bytes, {state}>"

    __repr__ = __str__
