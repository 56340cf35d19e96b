"""Jina multi-vector (ColBERT) responses: one matrix of token vectors per input.

``POST /v1/multi-vector`` (``jina-colbert-v2``) answers
``{"data": [{"object": "embeddings", "index": i, "embeddings": [[...], ...]}], "model", "usage"}``,
and ``jina-embeddings-v4`` with ``return_multivector`` puts the matrix in
``embedding``.  Token vectors are float lists or base64 float32 strings
(``embedding_type``/``encoding_format`` ``base64``); one base64 string for a
whole matrix is read with ``output_dimension`` as the row length.  Jina's
single-vector ``/v1/embeddings`` is the OpenAI-compatible shape
(:mod:`quantlib.providers.openai`).

The batch is ragged: inputs have different token counts, one dimension.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..codecs.binary import resolve_bit_dim
from ..errors import PayloadError, ShapeError
from ..precision import PrecisionInfo, code_width, precision_info
from ._common import (
    EmbeddingResponse,
    base64_rows_to_array,
    decode_rows,
    describe_value,
    input_order,
    optional_str,
    to_plain,
)
from ._registry import Provider
from .openai import decode_openai_shape

__all__ = ["JINA", "decode_multivector"]


def decode_multivector(
    root: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    *,
    info: PrecisionInfo | None,
    output_dimension: int | None,
    provider: str,
    model: str | None,
) -> EmbeddingResponse:
    """Decode the ``data`` rows of a multi-vector response into one matrix per input.

    Examples
    --------
    jina-embeddings-v4 with ``return_multivector`` puts each matrix in ``embedding``:

    >>> from quantlib import decode_response
    >>> r = decode_response({"model": "jina-embeddings-v4", "data": [
    ...     {"index": 1, "embedding": [[2.0, 3.0]]}, {"index": 0, "embedding": [[0.5, 1.0], [0.25, -1.0]]}]})
    >>> [m.shape for m in r.multivectors], r.dim, r.provider
    ([(2, 2), (1, 2)], 2, 'jina')
    """
    order = input_order([row.get("index") for row in rows], lambda k: f"data[{k}]", "index")
    positions = list(range(len(rows))) if order is None else order
    matrices: list[np.ndarray] = []
    dim: int | None = output_dimension
    first_at: str | None = None
    for k in positions:
        row = rows[k]
        key = "embeddings" if row.get("embeddings") is not None else "embedding"
        value = row.get(key)
        where_row = f"data[{k}].{key}"
        if value is None:
            raise PayloadError(f"data[{k}].embeddings: missing; expected a list of token vectors")
        if isinstance(value, str):
            matrix, info = _packed_matrix(value, info, where_row, output_dimension)
        else:
            if isinstance(value, np.ndarray) or not isinstance(value, (list, tuple)):
                raise PayloadError(
                    f"{where_row}: expected a list of token vectors, got {describe_value(value)}"
                )
            matrix, info, _ = decode_rows(
                value,
                info,
                lambda t, w=where_row: f"{w}[{t}]",
                output_dimension,
                lambda: precision_info("float32"),
                "multi-vector base64 holds float32",
            )
        if matrix.shape[0]:
            width_dim = _logical_dim(matrix, info, output_dimension)
            if dim is None:
                dim, first_at = width_dim, where_row
            elif width_dim != dim:
                raise ShapeError(
                    f"{where_row}: token vectors must all have the same dimension; "
                    f"{first_at or 'output_dimension'} has {dim}, {where_row} has {width_dim}"
                )
        matrices.append(matrix)
    info = info or precision_info("float32")
    width = 0 if dim is None else code_width(info, dim)
    matrices = [m if m.shape[0] else np.empty((0, width), m.dtype) for m in matrices]
    usage = root.get("usage")
    return EmbeddingResponse(
        embeddings=None,
        precision=info.name,
        dim=dim,
        model=model,
        usage=to_plain(usage) if usage is not None else None,
        provider=provider,
        id=optional_str(root, "id"),
        multivectors=matrices,
    )


def _logical_dim(matrix: np.ndarray, info: PrecisionInfo | None, dim: int | None) -> int:
    if info is not None and info.packed:
        return dim if dim is not None and code_width(info, dim) == matrix.shape[1] else 8 * matrix.shape[1]
    return matrix.shape[1]


def _packed_matrix(
    value: str, info: PrecisionInfo | None, where: str, dim: int | None
) -> tuple[np.ndarray, PrecisionInfo]:
    """One base64 string holding a whole ``(tokens, dim)`` matrix."""
    info = info or precision_info("float32")
    if dim is None:
        raise PayloadError(
            f"{where}: one base64 string holds the whole token matrix, so its row length cannot be known; "
            "pass output_dimension= (the request's dimensions)"
        )
    flat, _ = base64_rows_to_array([value], info, lambda _r: where, None)
    width = code_width(info, dim)
    if flat.shape[1] % width:
        raise ShapeError(
            f"{where}: {flat.shape[1]} {info.name} items are not a whole number of token vectors of {width}"
        )
    matrix = flat.reshape(-1, width)
    if info.packed:  # the same padding check as token vectors sent as lists or one string each
        try:
            resolve_bit_dim(matrix, dim, where)
        except ShapeError as exc:
            raise ShapeError(f"{exc} (output_dimension={dim})") from None
    return matrix, info


#: Jina: the OpenAI shape for single vectors, ``embeddings`` matrices for multi-vectors.  Not detected on its
#: own: the OpenAI record names it from the model (``jina-...``) or from multi-vector rows.
JINA = Provider(
    name="jina",
    decode=decode_openai_shape,
    aliases=("jinaai",),
    keys=("data",),
    shape='Jina multi-vector {"data": [{"embeddings": [[...]]}]}',
    models=("jina",),
    base64="float32",
)
