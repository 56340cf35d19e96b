"""Cohere embed responses: v2 embeddings by type, and v1 float lists.

v2 (``POST /v2/embed``, ``response_type`` ``embeddings_by_type``)::

    {"id", "embeddings": {"float": [[...]], "int8": [[...]], "uint8": ..., "binary": ...,
                          "ubinary": ..., "base64": ["..."]},
     "texts", "meta": {"api_version", "billed_units": {"input_tokens"}}}

Every type requested in ``embedding_types`` comes back, rows in input order:
``float`` values, ``int8`` codes, ``uint8`` codes, ``binary`` bits (int8,
offset binary), ``ubinary`` bits (uint8) and ``base64`` (float32 bytes, one
string per input).  The cohere SDK's object names the float type ``float_``
(its plain ``model_dump()`` does too, and puts None in every type not
requested); both spellings are read.  v1 (``embeddings_floats``) carries one
list of float rows in ``embeddings``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..errors import PayloadError, ShapeError, short_repr
from ..precision import PrecisionInfo, code_width, precision_info
from ._common import (
    EmbeddingResponse,
    as_mapping,
    base64_rows_to_array,
    describe_value,
    get_list,
    optional_str,
    rows_to_array,
    to_plain,
    wire_precision,
)
from ._registry import DecodeRequest, ErrorShape, Provider

__all__ = ["COHERE", "COHERE_TYPES", "decode_as", "decode_cohere"]

#: Cohere's embedding types, in the order the primary ``embeddings`` is chosen from.
COHERE_TYPES = ("float", "base64", "int8", "uint8", "binary", "ubinary")


def decode_cohere(
    root: Mapping[str, Any],
    *,
    output_dtype: Any,
    output_dimension: int | None,
    provider: str,
) -> EmbeddingResponse:
    """Decode a Cohere embed response (see the module docstring).

    ``output_dtype`` picks which type becomes ``embeddings`` (default: the
    first present of float, base64, int8, uint8, binary, ubinary); all are in
    ``embeddings_by_type``.

    Examples
    --------
    >>> r = decode_cohere({"id": "x", "embeddings": {"float": [[0.5, -1.0]], "int8": [[64, -128]]}},
    ...                   output_dtype=None, output_dimension=None, provider="cohere")
    >>> r.precision, sorted(r.embeddings_by_type)
    ('float32', ['float32', 'int8'])
    >>> decode_cohere({"embeddings": {"float": [[0.5, -1.0]], "int8": [[64, -128]]}},
    ...               output_dtype="int8", output_dimension=None, provider="cohere").embeddings
    array([[  64, -128]], dtype=int8)
    """
    embeddings = root.get("embeddings")
    if isinstance(embeddings, (list, tuple)):  # v1 embeddings_floats, or a Voyage client object
        rows = get_list(root, "embeddings", "embeddings")
        info = _wanted(output_dtype)
        array, info, dim = rows_to_array(rows, info, lambda r: f"embeddings[{r}]", output_dimension)
        return _response(root, {info.name: array}, info.name, dim, provider)
    by_type = as_mapping(embeddings) if embeddings is not None and not isinstance(embeddings, str) else None
    if by_type is None:
        raise PayloadError(
            "embeddings: expected an object of embedding types or a list of rows, "
            f"got {describe_value(embeddings)}"
        )
    decoded: dict[str, np.ndarray] = {}
    dims: dict[str, int] = {}
    for key, value in by_type.items():
        if value is None:
            continue
        name = "float" if key == "float_" else key
        if name not in COHERE_TYPES:
            raise PayloadError(
                f"embeddings.{key}: unknown embedding type; Cohere's are {', '.join(COHERE_TYPES)}"
            )
        rows = get_list(by_type, key, f"embeddings.{key}")

        def where(r: int, key: str = key) -> str:
            return f"embeddings.{key}[{r}]"

        if name == "base64":
            array, dim = base64_rows_to_array(rows, precision_info("float32"), where, output_dimension)
        else:
            array, _, dim = rows_to_array(rows, precision_info(name), where, output_dimension)
        decoded[name] = array
        dims[name] = dim
    if not decoded:
        raise PayloadError("embeddings: no embedding type holds rows (every type is null)")
    _check_consistent(decoded, dims)
    primary = _primary(decoded, output_dtype)
    by_name = {("float32" if k == "float" else k): v for k, v in decoded.items()}
    return _response(root, by_name, "float32" if primary in ("float", "base64") else primary,
                     _logical_dim(dims, output_dimension), provider, primary="base64" if primary == "base64" else None)


def _response(root: Mapping[str, Any], by_name: dict[str, np.ndarray], precision: str, dim: int, provider: str,
              primary: str | None = None) -> EmbeddingResponse:
    """The response holding every decoded type, ``embeddings`` the one of ``primary`` (default ``precision``)."""
    return EmbeddingResponse(
        embeddings=by_name[primary or precision],
        precision=precision,
        dim=dim,
        model=optional_str(root, "model"),
        usage=_usage(root),
        provider=provider,
        id=optional_str(root, "id"),
        embeddings_by_type=by_name,
    )


def _wanted(output_dtype: Any) -> PrecisionInfo | None:
    """The precision of list rows: ``output_dtype``, or None to read floats and refuse bare integers."""
    return None if output_dtype is None else wire_precision(output_dtype)


def _primary(decoded: dict[str, np.ndarray], output_dtype: Any) -> str:
    if output_dtype is None:
        return next(name for name in COHERE_TYPES if name in decoded)
    word = output_dtype.strip().lower() if isinstance(output_dtype, str) else output_dtype
    if word == "base64":
        wanted = "base64"
    else:
        info = precision_info(output_dtype, name="output_dtype")
        wanted = "float" if info.name == "float32" else info.name
    if wanted not in decoded:
        raise PayloadError(
            f"output_dtype: {short_repr(output_dtype)} asked for, but the response holds only "
            f"{', '.join(k for k in COHERE_TYPES if k in decoded)}"
        )
    return wanted


def _check_consistent(decoded: dict[str, np.ndarray], dims: dict[str, int]) -> None:
    names = list(decoded)
    first = names[0]
    for name in names[1:]:
        if decoded[name].shape[0] != decoded[first].shape[0]:
            raise ShapeError(
                f"embeddings.{name}: every type must have one row per input; "
                f"{first} has {decoded[first].shape[0]} rows, {name} has {decoded[name].shape[0]}"
            )
    full = {n: d for n, d in dims.items() if n not in ("binary", "ubinary")}
    if len(set(full.values())) > 1:
        raise ShapeError(f"embeddings: the types disagree on the dimension: {full}")
    widths = {n: decoded[n].shape[1] for n in ("binary", "ubinary") if n in decoded}
    if len(set(widths.values())) > 1:  # also when no full-precision type gives the dimension
        raise ShapeError(f"embeddings: the bit types disagree on the bytes per row: {widths}")
    if full:
        dim = next(iter(full.values()))
        for name in ("binary", "ubinary"):
            if name in decoded and decoded[name].shape[1] != code_width(name, dim):
                raise ShapeError(
                    f"embeddings.{name}: packed bits of dimension {dim} take {code_width(name, dim)} bytes per row, "
                    f"got {decoded[name].shape[1]}"
                )


def _logical_dim(dims: dict[str, int], output_dimension: int | None) -> int:
    full = [d for n, d in dims.items() if n not in ("binary", "ubinary")]
    if full:
        return full[0]
    if output_dimension is not None:
        return output_dimension
    return next(iter(dims.values()))


def _usage(root: Mapping[str, Any]) -> dict[str, Any] | None:
    meta = root.get("meta")
    if meta is not None:
        meta_map = as_mapping(meta)
        billed = meta_map.get("billed_units") if meta_map is not None else None
        if billed is not None:
            plain = to_plain(billed)
            if isinstance(plain, dict):
                return {k: v for k, v in plain.items() if v is not None}
    if root.get("total_tokens") is not None:  # Voyage's client object
        return {"total_tokens": root["total_tokens"]}
    return None


def decode_as(provider: str) -> Callable[[Mapping[str, Any], DecodeRequest], EmbeddingResponse]:
    """A record's ``decode`` for this shape (``embeddings``), naming ``provider`` (Cohere's, Voyage's client)."""

    def decode(root: Mapping[str, Any], request: DecodeRequest) -> EmbeddingResponse:
        request.require(root, "embeddings")
        return decode_cohere(root, output_dtype=request.output_dtype, output_dimension=request.output_dimension,
                             provider=provider)

    return decode


def _error(root: Mapping[str, Any]) -> tuple[Any, Any] | None:
    """``{"id", "message"}`` (a ``code`` or a ``request_id`` is DashScope's, asked first)."""
    message, code = root.get("message"), root.get("code")
    if (message or code) and "id" in root:
        return message or "", code or None
    return None


#: Cohere embed v2 (embeddings by type) and v1 (a list of float rows).
COHERE = Provider(
    name="cohere",
    decode=decode_as("cohere"),
    detect=lambda root: root.get("embeddings") is not None,
    keys=("embeddings",),
    shape='Cohere {"embeddings": {"float": [[...]], ...}} or {"embeddings": [[...]]}',
    errors=(ErrorShape(_error, ("message",), '{"id", "message"}'),),
    base64="float32",
)
