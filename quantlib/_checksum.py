"""Checksums of the formats quantlib writes (internal).

A checksum is written as ``"<algorithm>:<hex digest>"`` so that a reader sees
what it was computed with.  JSON-like records (codec configs, the multi-vector
dict, the index header) are checksummed over their *canonical* JSON text: keys
sorted, no spaces, ASCII only, every key but ``"checksum"`` itself.  That text
depends only on the values, not on how a JSON library printed them: a record
that travels through another language's JSON keeps its checksum as long as its
numbers keep their values.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import short_repr

KEY = "checksum"


def canonical_json(record: Mapping[str, Any]) -> bytes:
    """The canonical JSON text of ``record`` without its ``"checksum"`` key.

    Raises ``TypeError``/``ValueError`` for values JSON cannot hold.
    """
    body = {k: v for k, v in record.items() if k != KEY}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=True).encode("ascii")


def crc32(chunks: Iterable[Any]) -> str:
    """``"crc32:xxxxxxxx"``: zlib's CRC-32 of the bytes of ``chunks``, one after the other."""
    value = 0
    for chunk in chunks:
        value = zlib.crc32(chunk, value)
    return f"crc32:{value:08x}"


def sha256(chunks: Iterable[Any]) -> str:
    """``"sha256:<64 hex digits>"`` of the bytes of ``chunks``, one after the other."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def record_checksum(record: Mapping[str, Any], algorithm: str = "crc32") -> str:
    """The checksum of a JSON-like record (see the module docstring)."""
    text = canonical_json(record)
    return crc32([text]) if algorithm == "crc32" else sha256([text])


def record_mismatch(record: Mapping[str, Any]) -> str | None:
    """None if ``record["checksum"]`` matches the record, else why not (a message fragment)."""
    stored = record.get(KEY)
    if not isinstance(stored, str) or stored.split(":", 1)[0] not in ("crc32", "sha256"):
        return f"expected a 'checksum' of the form 'crc32:<hex>' or 'sha256:<hex>', got {short_repr(stored)}"
    try:
        actual = record_checksum(record, stored.split(":", 1)[0])
    except (TypeError, ValueError, RecursionError) as exc:
        return f"the record is not JSON data ({short_repr(str(exc), 120)})"
    if actual != stored:
        return f"the checksum says {stored}, the content gives {actual}: it was changed or corrupted"
    return None
