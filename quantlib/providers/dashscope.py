"""DashScope (Alibaba Model Studio) native text-embedding responses.

``POST .../services/embeddings/text-embedding/text-embedding`` answers::

    {"status_code": 200, "request_id", "code": "", "message": "",
     "output": {"embeddings": [{"text_index": i, "embedding": [...],
                                "sparse_embedding": [{"index", "value", "token"}, ...]}]},
     "usage": {"total_tokens"}}

``parameters.output_type`` ``dense`` (the default) sends ``embedding`` only,
``sparse`` sends ``sparse_embedding`` only, ``dense&sparse`` both.  Rows are
put in input order by ``text_index``.  The SDK's ``DashScopeAPIResponse`` is a
dict and reads as one.  DashScope's compatible mode is the OpenAI shape
(:mod:`quantlib.providers.openai`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import NonFiniteError, OutOfRangeError, PayloadError
from ..precision import PrecisionInfo
from ._common import (
    EmbeddingResponse,
    SparseRow,
    as_mapping,
    describe_value,
    get_list,
    input_order,
    item_mapping,
    optional_str,
    rows_to_array,
    to_plain,
)
from ._registry import DecodeRequest, ErrorShape, Provider
from .openai import or_openai_shape

__all__ = ["DASHSCOPE", "decode_dashscope"]

_FLOAT32_MAX = float(np.finfo(np.float32).max)
_INT64_MAX = int(np.iinfo(np.int64).max)


def decode_dashscope(
    root: Mapping[str, Any],
    *,
    info: PrecisionInfo | None,
    output_dimension: int | None,
    provider: str,
) -> EmbeddingResponse:
    """Decode a DashScope native response (see the module docstring).

    Examples
    --------
    >>> r = decode_dashscope({"output": {"embeddings": [
    ...     {"text_index": 1, "embedding": [0.5, 0.25],
    ...      "sparse_embedding": [{"index": 7, "value": 0.8, "token": "wind"}]},
    ...     {"text_index": 0, "embedding": [1.0, -1.0],
    ...      "sparse_embedding": [{"index": 3, "value": 1.5, "token": "sky"}]}]},
    ...     "usage": {"total_tokens": 4}, "request_id": "r-1"},
    ...     info=None, output_dimension=None, provider="dashscope")
    >>> r.embeddings
    array([[ 1.  , -1.  ],
           [ 0.5 ,  0.25]], dtype=float32)
    >>> r.sparse[0].indices, r.sparse[0].tokens
    (array([3]), ('sky',))
    """
    output = as_mapping(root.get("output")) if root.get("output") is not None else None
    if output is None:
        raise PayloadError(
            f"output: expected an object with 'embeddings', got {describe_value(root.get('output'))}"
        )
    items = get_list(output, "embeddings", "output.embeddings")
    rows = [item_mapping(item, f"output.embeddings[{k}]") for k, item in enumerate(items)]
    order = input_order([row.get("text_index") for row in rows], _where, "text_index")
    positions = list(range(len(rows))) if order is None else order

    dense_at = [k for k in positions if rows[k].get("embedding") is not None]
    embeddings = None
    dim = None
    if dense_at:
        if len(dense_at) != len(positions):
            k = next(k for k in positions if rows[k].get("embedding") is None)
            raise PayloadError(f"output.embeddings[{k}].embedding: missing, while other rows have one")
        array, info, dim = rows_to_array(
            [rows[k]["embedding"] for k in positions],
            info,
            lambda r: f"output.embeddings[{positions[r]}].embedding",
            output_dimension,
        )
        embeddings = array

    sparse_at = [k for k in positions if rows[k].get("sparse_embedding") is not None]
    sparse = None
    if sparse_at:
        if len(sparse_at) != len(positions):
            k = next(k for k in positions if rows[k].get("sparse_embedding") is None)
            raise PayloadError(f"output.embeddings[{k}].sparse_embedding: missing, while other rows have one")
        sparse = _sparse_rows([rows[k] for k in positions])
        if sparse is None:  # something is unusual or wrong: entry by entry, wording the first error
            sparse = [_sparse_row(rows[k], f"output.embeddings[{k}].sparse_embedding") for k in positions]
    if embeddings is None and sparse is None and positions:
        raise PayloadError(
            "output.embeddings[0]: expected 'embedding' (dense) or 'sparse_embedding' (sparse), got neither"
        )
    if embeddings is None and not positions:
        embeddings, info, dim = rows_to_array([], info, _where, output_dimension)
    usage = root.get("usage")
    return EmbeddingResponse(
        embeddings=embeddings,
        precision=info.name if embeddings is not None and info is not None else None,
        dim=dim,
        model=optional_str(root, "model"),
        usage=to_plain(usage) if usage is not None else None,
        provider=provider,
        id=optional_str(root, "request_id") or optional_str(root, "id"),
        embeddings_by_type={info.name: embeddings} if embeddings is not None and info is not None else {},
        sparse=sparse,
    )


def _where(k: int) -> str:
    return f"output.embeddings[{k}]"


def _sparse_rows(rows: list[Mapping[str, Any]]) -> list[SparseRow] | None:
    """Every row's ``sparse_embedding`` parsed in one pass into one index and one weight array, or None.

    The rows are views of those arrays, in payload order.  Only plain JSON
    (dicts, ints, floats, strings) that is valid takes this path; anything
    else returns None, and :func:`_sparse_row` then reads entry by entry and
    words the first error (or reads an SDK object's entries).
    """
    lists = [row.get("sparse_embedding") for row in rows]
    if not all(type(entries) is list for entries in lists):
        return None
    flat = [entry for entries in lists for entry in entries]
    if not all(type(entry) is dict for entry in flat):
        return None
    ids = [entry.get("index") for entry in flat]
    weights = [entry.get("value") for entry in flat]
    words = [entry.get("token") for entry in flat]
    if not (all(type(i) is int for i in ids) and all(type(v) is float or type(v) is int for v in weights)):
        return None
    try:
        indices = np.array(ids, np.int64)
        wide = np.array(weights, np.float64)
    except (OverflowError, ValueError, TypeError):  # an id beyond 64 bits, an integer weight beyond float64
        return None
    with np.errstate(invalid="ignore"):
        if indices.size and (indices.min() < 0 or not (np.abs(wide) <= _FLOAT32_MAX).all()):  # NaN fails too
            return None
    values = wide.astype(np.float32)
    out = []
    start = 0
    for entries in lists:
        stop = start + len(entries)
        row_words = words[start:stop]
        if all(type(w) is str for w in row_words):
            tokens: tuple[str, ...] | None = tuple(row_words)
        elif all(w is None for w in row_words):
            tokens = None
        else:
            return None
        out.append(SparseRow(indices[start:stop], values[start:stop], tokens))
        start = stop
    return out


def _sparse_row(row: Mapping[str, Any], where: str) -> SparseRow:
    entries: Sequence[Any] = get_list(row, "sparse_embedding", where)
    n = len(entries)
    indices = np.empty(n, np.int64)
    values = np.empty(n, np.float32)
    tokens: list[str] = []
    has_tokens = True
    for e, entry in enumerate(entries):
        item = item_mapping(entry, f"{where}[{e}]")
        index, value, token = item.get("index"), item.get("value"), item.get("token")
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
            raise PayloadError(
                f"{where}[{e}].index: expected a non-negative integer, got {describe_value(index)}"
            )
        if index > _INT64_MAX:
            raise OutOfRangeError(
                f"{where}[{e}].index: an integer of {int(index).bit_length()} bits does not fit in 64 bits"
            )
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise PayloadError(f"{where}[{e}].value: expected a number, got {describe_value(value)}")
        try:
            value = float(value)
        except OverflowError:  # an integer beyond float64
            raise OutOfRangeError(
                f"{where}[{e}].value: an integer of {int(value).bit_length()} bits is beyond float32's largest "
                "finite value"
            ) from None
        if not np.isfinite(value):
            raise NonFiniteError(f"{where}[{e}].value: expected a finite number, got {value}")
        if abs(value) > _FLOAT32_MAX:
            raise OutOfRangeError(f"{where}[{e}].value: {value!r} is beyond float32's largest finite value")
        if token is None:
            has_tokens = False
        elif not isinstance(token, str):
            raise PayloadError(f"{where}[{e}].token: expected a string, got {describe_value(token)}")
        else:
            tokens.append(token)
        indices[e] = index
        values[e] = value
    if tokens and not has_tokens:
        raise PayloadError(f"{where}: some entries have a 'token' and some do not")
    return SparseRow(indices, values, tuple(tokens) if has_tokens else None)


def _decode_native(root: Mapping[str, Any], request: DecodeRequest) -> EmbeddingResponse:
    request.require(root, "output")
    return decode_dashscope(root, info=request.info, output_dimension=request.output_dimension, provider="dashscope")


def _error(root: Mapping[str, Any]) -> tuple[Any, Any] | None:
    """``{"code", "message", "request_id"}``: a ``message`` or ``code`` beside ``request_id`` or ``code``."""
    message, code = root.get("message"), root.get("code")
    if (message or code) and ("request_id" in root or "code" in root):
        return message or "", code or None
    return None


#: DashScope (Alibaba Model Studio) native text embedding, and its OpenAI-compatible mode when named.
DASHSCOPE = Provider(
    name="dashscope",
    decode=or_openai_shape(_decode_native),  # the compatible mode, named provider="dashscope", is the OpenAI shape
    aliases=("alibaba", "qwen"),
    detect=lambda root: root.get("output") is not None,
    keys=("output",),
    shape='DashScope {"output": {"embeddings": [{"text_index": i, ...}]}}',
    errors=(ErrorShape(_error, ("code", "message"), '{"code", "message"}'),),
    base64="float32",
)
