"""Embedding API responses to arrays, and arrays back to responses.

:func:`decode_response` reads what an embedding API returned (a dict, JSON
text, a file, or the SDK's own response object) and gives the arrays in input
order, or raises a quantlib error that names the field that is wrong.  Each provider
is a record (:class:`Provider`: name, aliases, detection, decoder, error
shapes); the payload's shape picks the record, in registration order:

======================================  =====================================
``{"data": [{"embedding", "index"}]}``  OpenAI-compatible: OpenAI, Voyage,
                                        Jina, OVH, AIML API, DashScope
                                        compatible mode, vLLM, TEI, ...
``{"embeddings": [...], "total_tokens"}`` the voyageai client's object
``{"output": {"embeddings": [...]}}``   DashScope native (dense, sparse)
``{"embeddings": {"float": ...}}``      Cohere v2 (v1: a list of rows)
``{"data": [{"embeddings": [[...]]}]}``  Jina multi-vector (ColBERT)
error shapes                            :class:`~quantlib.ProviderError`
======================================  =====================================

A new provider is one module with its record, registered with
:func:`register_provider` (see docs/adding-a-provider.md).

:func:`build_response` goes the other way, for serving embeddings behind an
OpenAI-compatible endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._common import (
    DUMP_METHODS,
    EmbeddingResponse,
    SparseRow,
    check_output_dimension,
    load_payload,
    wire_precision,
)
from ._registry import (
    PROVIDERS,
    DecodeRequest,
    ErrorShape,
    Provider,
    detect_provider,
    get_provider,
    register_provider,
    registered_providers,
    unregister_provider,
)
from .build import build_response, build_response_json
from .cohere import COHERE
from .dashscope import DASHSCOPE
from .errors import raise_for_error
from .jina import JINA
from .openai import OPENAI
from .voyage import VOYAGE

__all__ = [
    "PROVIDERS",
    "DecodeRequest",
    "EmbeddingResponse",
    "ErrorShape",
    "Provider",
    "SparseRow",
    "build_response",
    "build_response_json",
    "decode_response",
    "get_provider",
    "register_provider",
    "registered_providers",
    "unregister_provider",
]


# Detection and error shapes are asked in this order: OpenAI's "data" before DashScope's "output", Voyage's
# client object and "detail" before DashScope's "code"/"message", DashScope's before Cohere's.
for _record in (OPENAI, VOYAGE, DASHSCOPE, COHERE, JINA):
    register_provider(_record)
del _record


def decode_response(
    payload: Any,
    *,
    output_dtype: str | None = None,
    output_dimension: int | None = None,
    provider: str | None = None,
) -> EmbeddingResponse:
    """Decode an embedding API response into arrays, rows in input order.

    Parameters
    ----------
    payload : dict, str, bytes, file-like or SDK response object
        The response body as a dict (or a dict subclass such as the voyageai
        and dashscope responses), its JSON text, a file-like object holding
        it, an HTTP response (httpx, requests), or an SDK object (openai,
        cohere, voyageai) read through its attributes; no SDK is imported.
        An object whose attributes hold no payload (properties, slots, a
        wrapper) is read through its ``model_dump()``, ``to_dict()`` or
        ``dict()``, the first that gives a dict.
    output_dtype : str, optional
        The request's ``output_dtype`` / ``embedding_type``: ``"float"``,
        ``"int8"``, ``"uint8"``, ``"binary"``, ``"ubinary"`` (or any quantlib
        precision; ``"base64"`` means float32 bytes).  Needed for integer
        lists and for base64 outside OpenAI and Jina, because ``int8`` and
        ``binary`` (and ``uint8`` and ``ubinary``) look the same on the wire
        and base64 bytes do not say their dtype.  For Cohere it picks which
        returned type becomes ``embeddings``.
    output_dimension : int, optional
        The request's dimension, checked against every row; for ``binary`` and
        ``ubinary`` it is the number of bits (rows are ``ceil(d / 8)`` bytes,
        zero-padded), which the bytes alone cannot tell.
    provider : str, optional
        One of ``"openai"``, ``"voyage"``, ``"jina"``, ``"cohere"``,
        ``"dashscope"`` (or an alias, or a registered provider's name) to
        skip detection (and, for OpenAI, Jina and DashScope, to read base64
        as float32).

    Returns
    -------
    EmbeddingResponse
        ``embeddings`` ``(n, d)`` (``(n, ceil(d / 8))`` for bits) in
        ``precision``, ``dim``, ``model``, ``usage``, ``sparse``,
        ``multivectors``, ``embeddings_by_type``; ``as_float32()``.

    Raises
    ------
    ProviderError
        The payload is the provider's error response (message and code kept).
    PayloadError
        Missing or wrong-typed fields, indices that are not exactly 0..n-1,
        a dtype that cannot be known, or a shape that no provider uses.
    ShapeError, Base64DecodeError, NonFiniteError, OutOfRangeError
        Rows of different lengths or of the wrong dimension, base64 of the
        wrong length, NaN/inf, codes outside their dtype's range.

    Examples
    --------
    >>> import quantlib
    >>> r = quantlib.decode_response('''{"object": "list", "model": "text-embedding-3-small",
    ...     "data": [{"object": "embedding", "index": 1, "embedding": "AACAPgAAAL8="},
    ...              {"object": "embedding", "index": 0, "embedding": "AACAPwAAAMA="}],
    ...     "usage": {"prompt_tokens": 4, "total_tokens": 4}}''')
    >>> r.embeddings
    array([[ 1.  , -2.  ],
           [ 0.25, -0.5 ]], dtype=float32)
    >>> r.precision, r.dim, r.model, r.usage["total_tokens"]
    ('float32', 2, 'text-embedding-3-small', 4)

    Voyage ``binary`` codes need the request's ``output_dtype``:

    >>> r = quantlib.decode_response({"data": [{"index": 0, "embedding": [-51]}]},
    ...                              output_dtype="binary", output_dimension=8)
    >>> r.embeddings, r.as_float32()
    (array([[-51]], dtype=int8), array([[-1.,  1., -1., -1.,  1.,  1., -1.,  1.]], dtype=float32))
    """
    root = load_payload(payload)
    forced = _provider_name(provider)
    raise_for_error(root, forced)
    dimension = check_output_dimension(output_dimension)
    request = DecodeRequest(
        output_dtype=output_dtype,
        info=wire_precision(output_dtype) if output_dtype is not None else None,
        output_dimension=dimension,
        provider=forced,
        what=_what(payload),
    )
    record = get_provider(forced) if forced is not None else detect_provider(root, request.what)
    return record.decode(root, request)


def _provider_name(provider: Any) -> str | None:
    """The canonical name of a provider name or alias (None stays None), or a ConfigError."""
    if provider is None:
        return None
    return get_provider(provider).name


def _what(payload: Any) -> str:
    """How an error names the payload's top level: its type, when it was an SDK (or other) object."""
    if (isinstance(payload, (Mapping, str, bytes, bytearray, memoryview)) or callable(getattr(payload, "read", None))
            or isinstance(getattr(payload, "content", None), bytes)):  # JSON text, files, HTTP responses
        return "an object"
    t = type(payload)
    return (f"a {t.__module__}.{t.__qualname__} read as an object (through its attributes, or "
            f"{', '.join(m + '()' for m in DUMP_METHODS)} when they hold nothing)")
