"""Checksums of the formats quantlib writes (internal).

A checksum is written as ``"<algorithm>:<hex digest>"`` so that a reader sees
what it was computed with.  JSON-like records (codec configs, the multi-vector
dict, the index header) are checksummed over their *canonical* JSON text: keys
sorted, no spaces, ASCII only, every key but ``"checksum"`` itself.  That text
depends only on the values, not on how a JSON library printed them: a record
that travels through another language's JSON keeps its checksum as long as its
numbers keep their values.

That held for values but not for how numbers are spelled: PostgreSQL
``jsonb`` turns ``-0.0`` into ``0``, and JavaScript or Go write ``1.0`` as
``1``, which ``json.loads`` reads back as the int ``1``, whose canonical text
differs from ``1.0``'s.  :func:`canonical_numbers` is the form that survives
those: every number is written from its float value, integral values below
2**53 as integers (``-0.0``, ``0.0`` and ``0`` are all ``0``; ``1.0`` and
``1`` are ``1``), others by the shortest text that reads back as the same
float.  Codec configs of version 3 and later are checksummed over it
(``numbers=True``); records written before keep the plain form.
"""

from __future__ import annotations

import hashlib
import json
import math
import zlib
from collections.abc import Iterable, Mapping
from decimal import Decimal
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


def canonical_numbers(record: Mapping[str, Any]) -> bytes:
    """The canonical JSON text of ``record`` without its ``"checksum"`` key, numbers normalised.

    Keys sorted, no spaces, ASCII, as :func:`canonical_json`; every number
    (int, float or Decimal; not bool) is written from ``float(value)``: an
    integral value below 2**53 as an integer, anything else by Python's
    shortest round-trip ``repr``.  So ``-0.0``, ``0`` and ``0.0`` give ``0``,
    ``1.0`` and ``1`` give ``1``, and ``1e-07``, ``1.0E-7`` and
    ``0.0000001`` give ``1e-07``.

    Raises ``TypeError``/``ValueError`` for values JSON cannot hold.
    """
    body = {k: v for k, v in record.items() if k != KEY}
    parts: list[str] = []
    _write(body, parts, 0)
    return "".join(parts).encode("ascii")


def _write(value: Any, out: list[str], depth: int) -> None:
    if depth > 64:
        raise ValueError("the record nests deeper than 64 levels")
    if isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=True))
    elif value is None or isinstance(value, bool):
        out.append(json.dumps(value))
    elif isinstance(value, (int, float, Decimal)):
        out.append(_number(value))
    elif isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("keys must be str")
        out.append("{")
        for i, key in enumerate(sorted(value)):
            out.append("," if i else "")
            out.append(json.dumps(key, ensure_ascii=True) + ":")
            _write(value[key], out, depth + 1)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            out.append("," if i else "")
            _write(item, out, depth + 1)
        out.append("]")
    else:
        raise TypeError(f"{type(value).__name__} is not JSON data")


def _number(value: int | float | Decimal) -> str:
    try:
        f = float(value)
    except OverflowError:
        raise ValueError(f"the number {short_repr(value)} is beyond float64") from None
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "Infinity" if f > 0 else "-Infinity"
    if f == int(f) and abs(f) < 2.0**53:
        return str(int(f))
    return repr(f)


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


def record_checksum(record: Mapping[str, Any], algorithm: str = "crc32", *, numbers: bool = False) -> str:
    """The checksum of a JSON-like record (see the module docstring); ``numbers``: of :func:`canonical_numbers`."""
    text = canonical_numbers(record) if numbers else canonical_json(record)
    return crc32([text]) if algorithm == "crc32" else sha256([text])


def record_mismatch(record: Mapping[str, Any], *, numbers: bool = False) -> str | None:
    """None if ``record["checksum"]`` matches the record, else why not (a message fragment).

    ``numbers``: the checksum is of :func:`canonical_numbers` (codec configs of version 3 and later).
    """
    stored = record.get(KEY)
    if not isinstance(stored, str) or stored.split(":", 1)[0] not in ("crc32", "sha256"):
        return f"expected a 'checksum' of the form 'crc32:<hex>' or 'sha256:<hex>', got {short_repr(stored)}"
    try:
        actual = record_checksum(record, stored.split(":", 1)[0], numbers=numbers)
    except (TypeError, ValueError, RecursionError) as exc:
        return f"the record is not JSON data ({short_repr(str(exc), 120)})"
    if actual != stored:
        return f"the checksum says {stored}, the content gives {actual}: it was changed or corrupted"
    return None
