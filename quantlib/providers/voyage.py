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

from ._registry import ErrorShape, Provider
from .cohere import decode_as
from .openai import or_openai_shape

__all__ = ["VOYAGE"]


def _is_client_object(root: Mapping[str, Any]) -> bool:
    """The client's ``EmbeddingsObject``: rows and ``total_tokens``, no ``id`` (nor DashScope's ``output``)."""
    return ("total_tokens" in root and isinstance(root.get("embeddings"), (list, tuple)) and "id" not in root
            and root.get("output") is None)


def _error(root: Mapping[str, Any]) -> tuple[Any, Any] | None:
    from .errors import detail_message

    detail = root.get("detail")
    return (detail_message(detail), None) if detail else None


VOYAGE = Provider(
    name="voyage",
    decode=or_openai_shape(decode_as("voyage")),  # REST: the OpenAI shape; the client: its object
    aliases=("voyageai", "mongodb"),
    detect=_is_client_object,
    keys=("data", "embeddings"),
    shape='Voyage client {"embeddings": [[...]], "total_tokens": n}',
    errors=(ErrorShape(_error, ("detail",), '{"detail": ...}'),),
    models=("voyage",),
)
