"""Arrays to an OpenAI-compatible embeddings response (the reverse of decoding).

For serving embeddings behind an OpenAI-compatible endpoint: the response
that OpenAI clients read, with Voyage's conventions for the precisions OpenAI
does not have.  ``decode_response`` of what is built, given the same
``output_dtype`` (and ``output_dimension`` for bits), returns the arrays bit
for bit:

- float lists: float32 values written as the shortest decimal that reads back
  as the same double, which is the float32 value exactly;
- base64: the rows' little-endian bytes (``<f4``, ``<f2``, ``i1``, ``u1``), one
  string per row, as Voyage sends ``encoding_format="base64"``;
- int8, uint8, binary (offset-binary int8) and ubinary (uint8) codes as
  integer lists or base64 bytes, as Voyage sends them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Literal, TypedDict, Unpack

import numpy as np

from .._validation import as_array, as_code_matrix, check_dim
from ..codecs.binary import resolve_bit_dim
from ..codecs.float import FloatCodec
from ..encoding import b64encode_rows
from ..errors import ConfigError, short_repr
from ..precision import precision_info
from . import _common

__all__ = ["build_response", "build_response_json"]

EncodingFormat = Literal["float", "base64"]


def build_response(
    embeddings: Any,
    *,
    precision: str | None = None,
    encoding_format: EncodingFormat = "float",
    model: str = "",
    usage: Mapping[str, Any] | None = None,
    dim: int | None = None,
) -> dict[str, Any]:
    """An OpenAI-compatible response dict holding ``embeddings``, rows indexed 0..n-1.

    Parameters
    ----------
    embeddings : numpy.ndarray, shape (n, d) or (n, ceil(d / 8))
        float32/float16 values (float64 is rounded to float32), or codes in
        their storage dtype: int8 (``int8``, ``binary``) or uint8 (``uint8``,
        ``ubinary``).  A 1-D array is one row.
    precision : str, optional
        The precision of ``embeddings``; required for int8 and uint8 arrays,
        which hold either 8-bit codes or packed bits.
    encoding_format : {"float", "base64"}
        ``"float"`` writes number lists (integers for codes); ``"base64"`` the
        rows' bytes.
    model : str
        The ``model`` field.
    usage : mapping, optional
        The ``usage`` field (default ``{"prompt_tokens": 0, "total_tokens": 0}``): token counts by
        name, as a dict or an SDK object (OpenAI's ``Usage``).  Counts are integers (numpy integers
        and whole floats, as the Cohere SDK types them, are written as ints) or None; a value may
        also be a mapping of counts (``prompt_tokens_details``).
    dim : int, optional
        For bits, the logical dimension, to check that padding bits are zero.

    Returns
    -------
    dict
        ``{"object": "list", "data": [{"object": "embedding", "index": i, "embedding": ...}],
        "model": ..., "usage": ...}``.

    Raises
    ------
    ConfigError
        A bad ``encoding_format``, ``model`` or ``usage``, or an integer array without ``precision``.

    Examples
    --------
    >>> import numpy as np
    >>> build_response(np.array([[1.0, -2.0]], dtype=np.float32), encoding_format="base64", model="m")
    {'object': 'list', 'data': [{'object': 'embedding', 'index': 0, 'embedding': 'AACAPwAAAMA='}],
     'model': 'm', 'usage': {'prompt_tokens': 0, 'total_tokens': 0}}
    >>> build_response(np.array([[-51, 3]], dtype=np.int8), precision="binary")["data"][0]["embedding"]
    [-51, 3]
    """
    if encoding_format not in ("float", "base64"):
        raise ConfigError(f"encoding_format: expected 'float' or 'base64', got {encoding_format!r}")
    if not isinstance(model, str):
        raise ConfigError(f"model: expected a string, got {type(model).__name__}")
    usage_field = (
        {"prompt_tokens": 0, "total_tokens": 0} if usage is None else _usage_counts(usage, "usage", 0)
    )
    arr = as_array(embeddings, "embeddings")
    if precision is None:
        if arr.dtype.kind != "f":
            raise ConfigError(
                f"precision: an array of dtype {arr.dtype} may hold several precisions "
                "(int8: 'int8' or 'binary'; uint8: 'uint8' or 'ubinary'); pass precision="
            )
        precision = "float16" if arr.dtype.itemsize == 2 else "float32"
    info = precision_info(precision)
    if info.is_float:
        codes = FloatCodec(info.name).encode(arr)
        if codes.ndim == 1:
            codes = codes.reshape(1, -1)
    else:
        codes, _ = as_code_matrix(arr, "embeddings", info)
        if info.packed and dim is not None:
            resolve_bit_dim(codes, check_dim(dim), "embeddings")
    if encoding_format == "base64":
        rows: list[Any] = b64encode_rows(codes)
    else:
        rows = codes.tolist()
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": row} for i, row in enumerate(rows)],
        "model": model,
        "usage": usage_field,
    }


#: How deep ``usage`` may nest mappings (``prompt_tokens_details`` is one level).
_USAGE_DEPTH = 4


def _usage_counts(usage: Any, where: str, depth: int) -> dict[str, Any]:
    """``usage`` as a plain dict of token counts that any JSON writer takes, or a ConfigError naming ``where``."""
    mapping = usage if isinstance(usage, Mapping) else None
    if mapping is None and hasattr(usage, "model_dump"):  # a pydantic model: openai's Usage
        mapping = _common.as_mapping(usage)
    if mapping is None:
        raise ConfigError(
            f"{where}: expected a mapping of token counts (such as {{'prompt_tokens': 8, 'total_tokens': 8}}), "
            f"got {type(usage).__name__}"
        )
    if depth > _USAGE_DEPTH:
        raise ConfigError(f"{where}: expected token counts, got mappings nested more than {_USAGE_DEPTH} deep")
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if not isinstance(key, str):
            raise ConfigError(f"{where}: expected string keys, got {type(key).__name__} {short_repr(key)}")
        at = f"{where}[{key!r}]"
        if isinstance(value, Mapping) or hasattr(value, "model_dump"):
            out[key] = _usage_counts(value, at, depth + 1)
            continue
        count = _token_count(value)
        if count is None and value is not None:
            raise ConfigError(
                f"{at}: expected an integer token count (or null, or a mapping of counts), got {short_repr(value)}"
            )
        out[key] = count
    return out


def _token_count(value: Any) -> int | None:
    """``value`` as an int that fits in 64 bits, or None if it is not a whole number (or is a boolean)."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        count = int(value)
    elif isinstance(value, (float, np.floating)) and math.isfinite(value) and value == math.floor(value):
        count = int(value)
    else:
        return None
    return count if -(2**63) <= count < 2**64 else None


class BuildOptions(TypedDict, total=False):
    """The keywords of :func:`build_response`, which :func:`build_response_json` passes on."""

    precision: str | None
    encoding_format: EncodingFormat
    model: str
    usage: Mapping[str, Any] | None
    dim: int | None


def build_response_json(embeddings: Any, **options: Unpack[BuildOptions]) -> str:
    """:func:`build_response` as compact JSON text (orjson when installed); the same keywords.

    Examples
    --------
    >>> import numpy as np
    >>> build_response_json(np.array([[0.5, 0.1]], dtype=np.float32), model="m")[:72]
    '{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.'
    """
    body = build_response(embeddings, **options)
    if _common._orjson is not None:
        return _common._orjson.dumps(body).decode()
    return json.dumps(body, separators=(",", ":"), allow_nan=False)
