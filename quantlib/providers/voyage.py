"""Voyage AI (and MongoDB's Voyage endpoint): the OpenAI shape over REST, its own object in the client.

The REST API answers in the OpenAI shape (:mod:`quantlib.providers.openai`),
with ``output_dtype`` ``int8``/``uint8``/``binary``/``ubinary`` as integer
lists or base64 bytes.  The voyageai client's ``EmbeddingsObject`` holds
``embeddings`` (a list of rows) and ``total_tokens``.  Errors are
``{"detail": "..."}`` (FastAPI's list of ``{"loc", "msg"}`` reads too).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._common import EmbeddingResponse
from ._registry import DecodeRequest, ErrorShape, Provider

__all__ = ["VOYAGE"]


def _is_client_object(root: Mapping[str, Any]) -> bool:
    """The client's ``EmbeddingsObject``: rows and ``total_tokens``, no ``id`` (nor DashScope's ``output``)."""
    return ("total_tokens" in root and isinstance(root.get("embeddings"), (list, tuple)) and "id" not in root
            and root.get("output") is None)


def _decode(root: Mapping[str, Any], request: DecodeRequest) -> EmbeddingResponse:
    from .cohere import decode_cohere
    from .openai import decode_openai_shape

    if root.get("data") is not None:
        return decode_openai_shape(root, request)
    request.require(root, "embeddings")
    return decode_cohere(root, output_dtype=request.output_dtype, output_dimension=request.output_dimension,
                         provider="voyage")


def _error(root: Mapping[str, Any]) -> tuple[Any, Any] | None:
    from .errors import detail_message

    detail = root.get("detail")
    return (detail_message(detail), None) if detail else None


VOYAGE = Provider(
    name="voyage",
    decode=_decode,
    aliases=("voyageai", "mongodb"),
    detect=_is_client_object,
    keys=("data", "embeddings"),
    shape='Voyage client {"embeddings": [[...]], "total_tokens": n}',
    errors=(ErrorShape(_error, ("detail",), '{"detail": ...}'),),
    models=("voyage",),
)
