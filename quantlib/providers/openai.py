"""The OpenAI-compatible shape, which most embedding servers speak.

``{"object": "list", "data": [{"object": "embedding", "embedding": ..., "index": i}], "model", "usage"}``

``embedding`` is a list of numbers or a base64 string:

=================  ==========================================================
OpenAI             float list, or base64 float32 (``encoding_format="base64"``)
Voyage / MongoDB   float or integer lists by ``output_dtype``; base64 holds
                   numpy bytes: float32 for ``float``, int8 for ``int8`` and
                   ``binary``, uint8 for ``uint8`` and ``ubinary``
Jina               float list, base64 float32, or integer lists for
                   ``embedding_type`` ``binary`` (int8) / ``ubinary`` (uint8)
OVH, AIML API,     float lists (DashScope compatible mode only sends floats)
DashScope (compat)
=================  ==========================================================

Integer lists and base64 bytes do not say their dtype, so ``output_dtype``
is needed for them (base64 float32 is assumed only for OpenAI and Jina).
An ``embedding`` that is a list of vectors, or rows with ``embeddings``,
is a multi-vector response (see :mod:`quantlib.providers.jina`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..errors import PayloadError
from ..precision import PrecisionInfo, precision_info
from ._common import (
    EmbeddingResponse,
    as_mapping,
    decode_rows,
    get_list,
    input_order,
    item_mapping,
    optional_str,
    to_plain,
)
from ._registry import DecodeRequest, ErrorShape, Provider, get_provider, model_provider

__all__ = ["OPENAI", "decode_openai", "decode_openai_shape", "or_openai_shape"]

def decode_openai(
    root: Mapping[str, Any],
    *,
    info: PrecisionInfo | None,
    output_dimension: int | None,
    provider: str | None,
) -> EmbeddingResponse:
    """Decode an OpenAI-compatible response (see the module docstring).

    Parameters
    ----------
    root : mapping
        The payload's top-level object.
    info : PrecisionInfo or None
        The precision from ``output_dtype``; None when not given.
    output_dimension : int or None
        Checked against every row when given.
    provider : str or None
        The forced provider, or None to name it from the model.

    Examples
    --------
    >>> r = decode_openai({"data": [{"index": 1, "embedding": [0.5, 1.0]},
    ...                             {"index": 0, "embedding": [2.0, -1.0]}]},
    ...                   info=None, output_dimension=None, provider=None)
    >>> r.embeddings
    array([[ 2. , -1. ],
           [ 0.5,  1. ]], dtype=float32)
    """
    model = optional_str(root, "model")
    record = get_provider(provider) if provider is not None else model_provider(model)
    label = provider or (record.name if record is not None else "openai")
    items = get_list(root, "data", "data")
    rows_raw = [item_mapping(item, f"data[{k}]") for k, item in enumerate(items)]

    if any("embeddings" in row and "embedding" not in row for row in rows_raw) or _nested(rows_raw):
        from .jina import decode_multivector

        return decode_multivector(
            root,
            rows_raw,
            info=info,
            output_dimension=output_dimension,
            provider=provider or "jina",
            model=model,
        )

    order = input_order([row.get("index") for row in rows_raw], _where_item, "index")
    positions = range(len(rows_raw)) if order is None else order
    rows = []
    for k in positions:
        row = rows_raw[k]
        if row.get("embedding") is None:
            raise PayloadError(f"data[{k}].embedding: missing; expected a list of numbers or a base64 string")
        rows.append(row["embedding"])

    def where(r: int) -> str:
        return f"data[{r if order is None else order[r]}].embedding"

    def base64_hint() -> PrecisionInfo | None:
        return precision_info(record.base64) if record is not None and record.base64 is not None else None

    needs = (
        "Voyage sends float32, int8 (for int8 and binary) or uint8 (for uint8 and ubinary) bytes by the "
        "request's output_dtype; pass output_dtype= that value ('float' for OpenAI-compatible servers)"
    )
    array, info, dim = decode_rows(rows, info, where, output_dimension, base64_hint, needs)
    return EmbeddingResponse(
        embeddings=array,
        precision=info.name,
        dim=dim,
        model=model,
        usage=_usage(root),
        provider=label,
        id=optional_str(root, "id"),
        embeddings_by_type={info.name: array},
    )


def _where_item(k: int) -> str:
    return f"data[{k}]"


def _nested(rows: list[Mapping[str, Any]]) -> bool:
    """Whether the first row's ``embedding`` is a list of vectors (Jina ``return_multivector``)."""
    if not rows:
        return False
    first = rows[0].get("embedding")
    return isinstance(first, (list, tuple)) and len(first) > 0 and isinstance(first[0], (list, tuple, str))


def _usage(root: Mapping[str, Any]) -> dict[str, Any] | None:
    usage = root.get("usage")
    if usage is None:
        return None
    plain = to_plain(usage)
    return plain if isinstance(plain, dict) else {"usage": plain}


def decode_openai_shape(root: Mapping[str, Any], request: DecodeRequest) -> EmbeddingResponse:
    """The ``decode`` of the records whose payload is the OpenAI shape: ``data`` rows."""
    request.require(root, "data")
    return decode_openai(root, info=request.info, output_dimension=request.output_dimension,
                         provider=request.provider)


def or_openai_shape(
    native: Callable[[Mapping[str, Any], DecodeRequest], EmbeddingResponse],
) -> Callable[[Mapping[str, Any], DecodeRequest], EmbeddingResponse]:
    """A record's ``decode``: the OpenAI shape when the payload has ``data``, else the provider's ``native`` one."""

    def decode(root: Mapping[str, Any], request: DecodeRequest) -> EmbeddingResponse:
        return decode_openai_shape(root, request) if root.get("data") is not None else native(root, request)

    return decode


def _error(root: Mapping[str, Any]) -> tuple[Any, Any] | None:
    """``{"error": {"message", "type", "code"}}``, or ``"error"`` as a string beside ``code``/``type``."""
    error = root.get("error")
    if not error:
        return None
    detail = as_mapping(error) if not isinstance(error, str) else None
    if detail is not None:
        return detail.get("message") or dict(detail), detail.get("code") or detail.get("type")
    return error, root.get("code") or root.get("error_type") or root.get("type")


def _object_error(root: Mapping[str, Any]) -> tuple[Any, Any] | None:
    """vLLM's ``{"object": "error", "message", "type", "code"}``."""
    if root.get("object") != "error":
        return None
    return root.get("message", ""), root.get("code") or root.get("type")


#: OpenAI and every server that speaks its shape (OVH AI Endpoints, AIML API, vLLM, TEI, ...).
OPENAI = Provider(
    name="openai",
    decode=decode_openai_shape,
    aliases=("openai-compatible", "ovh", "aimlapi"),
    detect=lambda root: root.get("data") is not None,
    keys=("data",),
    shape='OpenAI-compatible {"data": [{"embedding": ..., "index": i}]}',
    errors=(
        ErrorShape(_error, ("error",), '{"error": ...}', beside_embeddings=True),
        ErrorShape(_object_error, ("message",), '{"object": "error", "message"}'),
    ),
    models=("text-embedding-3", "text-embedding-ada"),
    base64="float32",
)
