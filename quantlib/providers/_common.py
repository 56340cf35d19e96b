"""What every provider decoder shares: the result record, payload loading, row order, row decoding.

- here: :class:`SparseRow` and :class:`EmbeddingResponse` (the result record), payload loading
  (:func:`load_payload`, :func:`as_mapping`, :func:`get_list`, ...) and :func:`input_order`;
- :mod:`quantlib.providers._rows`: rows (lists of numbers or base64 strings) to checked arrays
  (:func:`rows_to_array`, :func:`base64_rows_to_array`, :func:`decode_rows`, :func:`wire_precision`),
  re-exported here, so that a provider imports everything it shares from this one module.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ..errors import PayloadError, short_repr
from ..precision import precision_info
from ._registry import payload_keys
from ._rows import (  # noqa: F401  rows to arrays, re-exported: providers import what they share from here
    Where,
    _json_type,
    base64_rows_to_array,
    check_output_dimension,
    decode_rows,
    rows_to_array,
    wire_precision,
)

if TYPE_CHECKING:
    from ..sparse import SparseBatch

try:  # an optional, faster JSON parser; never required
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None


class SparseRow(NamedTuple):
    """One input's sparse embedding as the provider sent it (DashScope ``sparse_embedding``).

    Entries stay in the payload's order; the sparse batch type builds on these.

    Attributes
    ----------
    indices : numpy.ndarray of int64, shape (k,)
        Vocabulary ids (``index``).
    values : numpy.ndarray of float32, shape (k,)
        Token weights (``value``).
    tokens : tuple of str, or None
        The token texts (``token``), or None when the payload has none.
    """

    indices: np.ndarray
    values: np.ndarray
    tokens: tuple[str, ...] | None


@dataclass(frozen=True, eq=False, repr=False)
class EmbeddingResponse:
    """Arrays decoded from one embedding API response, rows in input order.

    Attributes
    ----------
    embeddings : numpy.ndarray or None
        Dense embeddings in the returned precision: ``(n, d)`` float32 (or
        float16) values or int8/uint8 codes, or ``(n, ceil(d / 8))`` bytes for
        ``binary`` (int8, offset binary) and ``ubinary`` (uint8).  None when
        the response has no dense vectors (sparse-only or multi-vector).
    precision : str or None
        Canonical precision of ``embeddings`` (and of ``multivectors``):
        ``"float32"``, ``"float16"``, ``"int8"``, ``"uint8"``, ``"binary"`` or
        ``"ubinary"``; None for a sparse-only response.
    dim : int or None
        Logical dimension: ``output_dimension`` when given, else the row
        width (8 x the byte width for bits).
    model : str or None
        The model name when the payload carries one.
    usage : dict or None
        The provider's usage record as a plain dict (``usage``; Cohere's
        ``meta.billed_units``; Voyage client objects' ``total_tokens``).
    provider : str
        ``"openai"`` (any OpenAI-compatible server), ``"voyage"``, ``"jina"``,
        ``"cohere"`` or ``"dashscope"``: the forced provider, or the one the
        payload's shape (and model name) points to.
    id : str or None
        The response or request id (``id``, DashScope ``request_id``).
    embeddings_by_type : dict of str to numpy.ndarray
        Every dense embedding type of the response, keyed by precision name
        (Cohere's ``base64`` type, float32 bytes, keeps the key ``"base64"``).
        ``embeddings`` is one of them.
    sparse : list of SparseRow, or None
        Per input ``(indices, values, tokens)``, when the response has sparse
        embeddings (DashScope ``output_type`` ``sparse`` or ``dense&sparse``).
    multivectors : list of numpy.ndarray, or None
        Per input a ``(tokens, d)`` matrix (Jina multi-vector / ColBERT), in
        ``precision``.
    """

    embeddings: np.ndarray | None
    precision: str | None
    dim: int | None
    model: str | None = None
    usage: dict[str, Any] | None = None
    provider: str = "openai"
    id: str | None = None
    embeddings_by_type: dict[str, np.ndarray] = field(default_factory=dict)
    sparse: list[SparseRow] | None = None
    multivectors: list[np.ndarray] | None = None

    def as_float32(self, *, ranges: Any = None) -> np.ndarray:
        """The dense embeddings as float32 values, whatever the precision.

        Floats are widened exactly; ``binary``/``ubinary`` bits become +1.0/-1.0
        per dimension (``dim`` of them).  ``int8``/``uint8`` codes are
        dequantized with ``ranges`` (shape ``(2, d)``) when given; the
        providers do not publish their calibration ranges, so without them the
        codes themselves are returned as floats (-128..127 or 0..255), which
        keeps dot-product ranking for int8.

        Raises
        ------
        PayloadError
            When the response has no dense embeddings.

        Examples
        --------
        >>> import quantlib
        >>> r = quantlib.decode_response(
        ...     {"data": [{"index": 0, "embedding": [77]}]}, output_dtype="ubinary")
        >>> r.as_float32()
        array([[-1.,  1., -1., -1.,  1.,  1., -1.,  1.]], dtype=float32)
        """
        from ..quantization import dequantize

        if self.embeddings is None:
            held = "sparse embeddings" if self.sparse is not None else "multi-vectors"
            raise PayloadError(f"embeddings: this response holds {held} only, no dense embeddings")
        info = precision_info(self.precision or "float32")
        if info.is_float:
            return self.embeddings.astype(np.float32)
        if info.packed:
            return dequantize(self.embeddings, info.name, dim=self.dim)
        if ranges is not None:
            return dequantize(self.embeddings, info.name, ranges=ranges)
        return self.embeddings.astype(np.float32)

    def sparse_batch(self, *, vocab_size: int | None = None) -> SparseBatch:
        """The sparse embeddings as a :class:`~quantlib.SparseBatch` (CSR, ids sorted, tokens kept).

        The rows' arrays, parsed once by the decoder, go to the
        :class:`~quantlib.SparseBatch` constructor as they are (no dicts, no
        second parse); a response without sparse embeddings raises a
        :class:`~quantlib.PayloadError`.

        Examples
        --------
        >>> from quantlib import decode_response
        >>> payload = {"output": {"embeddings": [{"text_index": 0, "sparse_embedding": [
        ...     {"index": 7149, "value": 0.5, "token": "swift"}, {"index": 2490, "value": 0.25, "token": "back"}]}]},
        ...     "usage": {"total_tokens": 2}, "request_id": "r1"}
        >>> b = decode_response(payload).sparse_batch(vocab_size=250002)
        >>> b.indices.tolist(), b.values.tolist(), b.tokens
        ([2490, 7149], [0.25, 0.5], ('back', 'swift'))
        """
        from ..sparse import SparseBatch

        if self.sparse is None:
            raise PayloadError("sparse: this response holds no sparse embeddings")
        rows = self.sparse
        tokens = _sparse_tokens(rows)
        indptr = np.zeros(len(rows) + 1, np.int64)
        np.cumsum([len(row.indices) for row in rows], out=indptr[1:])
        indices = np.concatenate([row.indices for row in rows]) if rows else np.zeros(0, np.int64)
        values = np.concatenate([row.values for row in rows]) if rows else np.zeros(0, np.float32)
        return SparseBatch(indptr, indices, values, vocab_size=vocab_size, tokens=tokens)

    def __repr__(self) -> str:
        parts = [f"provider={self.provider!r}", f"model={self.model!r}", f"precision={self.precision!r}"]
        if self.embeddings is not None:
            parts.append(f"shape={self.embeddings.shape}")
        parts.append(f"dim={self.dim}")
        if len(self.embeddings_by_type) > 1:
            parts.append(f"types={sorted(self.embeddings_by_type)}")
        if self.sparse is not None:
            parts.append(f"sparse={len(self.sparse)} rows")
        if self.multivectors is not None:
            parts.append(f"multivectors={len(self.multivectors)} inputs")
        return f"EmbeddingResponse({', '.join(parts)})"


def _sparse_tokens(rows: Sequence[SparseRow]) -> list[str] | None:
    """The rows' tokens end to end, or None; rows with entries must all have them or all not."""
    have = [(r, row.tokens is not None) for r, row in enumerate(rows) if len(row.indices)]
    if not have:
        return None
    for r, has in have:
        if has != have[0][1]:
            raise PayloadError(f"rows[{r}][0]: 'token' must be on every entry or on none")
    return [token for row in rows for token in (row.tokens or ())] if have[0][1] else None


# ---------------------------------------------------------------- payload loading


def load_payload(payload: Any) -> Mapping[str, Any]:
    """The payload's top-level object as a mapping.

    Accepts a mapping (``dict`` and its subclasses such as the Voyage and
    DashScope SDK responses), JSON text (``str``/``bytes``), a file-like
    object (or an HTTP response with ``read()`` or ``content``), or an SDK
    object read through its attributes (pydantic models, plain objects); SDK
    modules are never imported and nothing is dumped, so no serializer
    warning can leak.
    """
    if isinstance(payload, Mapping):
        return payload
    if isinstance(payload, (str, bytes, bytearray, memoryview)):
        return _parse_json(payload)
    read = getattr(payload, "read", None)
    if callable(read):  # files, and httpx responses
        return _parse_json(read())
    content = getattr(payload, "content", None)
    if isinstance(content, bytes) and callable(getattr(payload, "json", None)):  # a requests.Response
        return _parse_json(content)
    mapping = as_mapping(payload)
    if mapping is not None and not any(key in mapping for key in payload_keys()):
        # attributes hold no payload (properties, slots, a wrapper around the body): the object's own
        # dump method may (pydantic model_dump(), to_dict(), pydantic v1 dict())
        mapping = dumped(payload) or mapping
    if mapping is None:
        raise PayloadError(
            "payload: expected a dict, JSON text (str or bytes), a file-like object or an SDK response "
            f"object, got {type(payload).__name__}"
        )
    return mapping


def _parse_json(text: Any) -> Mapping[str, Any]:
    if isinstance(text, (bytearray, memoryview)):
        text = bytes(text)
    if not isinstance(text, (str, bytes)):
        raise PayloadError(
            f"payload: the file-like object returned {type(text).__name__}, expected str or bytes"
        )
    value: Any = None
    parsed = False
    if _orjson is not None:
        try:
            value = _orjson.loads(text)
            parsed = True
        except _orjson.JSONDecodeError:
            pass  # the stdlib parser words the error (and reads NaN, which is then refused)
    if not parsed:
        try:
            value = json.loads(text)
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer of over 4300 digits
            raise PayloadError(f"payload: invalid JSON ({exc})") from None
        except RecursionError:
            raise PayloadError("payload: invalid JSON (arrays or objects nested too deeply)") from None
    if not isinstance(value, dict):
        raise PayloadError(f"payload: expected a JSON object at the top level, got {_json_type(value)}")
    return value


#: Methods that dump an object to a dict, tried in this order when its attributes hold nothing.
DUMP_METHODS = ("model_dump", "to_dict", "dict")


def dumped(obj: Any) -> Mapping[str, Any] | None:
    """``obj.model_dump()``, ``obj.to_dict()`` or ``obj.dict()``: the first that gives a mapping, else None.

    Warnings a serializer raises while dumping are not passed on (they are
    about the SDK's own models, not the caller's code).
    """
    for name in DUMP_METHODS:
        method = getattr(obj, name, None)
        if not callable(method) or isinstance(obj, type):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                value = method()
        except (TypeError, ValueError):  # a method of that name that needs arguments, or fails
            continue
        if isinstance(value, Mapping):
            return value
    return None


def as_mapping(obj: Any) -> Mapping[str, Any] | None:
    """A mapping view of ``obj``: itself if a mapping, else its public attributes (or None).

    Pydantic models (openai, cohere) keep their fields in ``__dict__`` and
    their extra fields in ``__pydantic_extra__``; Voyage's ``EmbeddingsObject``
    is a plain object.  An object without public attributes (properties,
    ``__slots__``) is read through :func:`dumped` instead.  Nested values are
    left as they are.
    """
    if type(obj) is dict or isinstance(obj, Mapping):
        return obj
    try:
        attrs = vars(obj)
    except TypeError:
        attrs = None
    out: dict[str, Any] | None = None
    if attrs is not None:
        out = {k: v for k, v in attrs.items() if not k.startswith("_")}
        extra = getattr(obj, "__pydantic_extra__", None)
        if isinstance(extra, Mapping):
            out.update(extra)
    if not out and not isinstance(obj, (str, bytes, int, float, list, tuple, np.ndarray)):
        return dumped(obj) or out
    return out


def to_plain(obj: Any, depth: int = 0) -> Any:
    """Small nested records (usage, meta) as plain dicts and lists."""
    if depth > 8 or obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, (list, tuple)):
        return [to_plain(v, depth + 1) for v in obj]
    mapping = as_mapping(obj)
    if mapping is None:
        return obj
    return {str(k): to_plain(v, depth + 1) for k, v in mapping.items()}


def describe_value(value: Any) -> str:
    """How a payload value is named in error messages (JSON words)."""
    return _json_type(value)


def get_list(obj: Mapping[str, Any], key: str, where: str) -> Sequence[Any]:
    """``obj[key]`` as a list, or a PayloadError naming ``where``."""
    if key not in obj or obj[key] is None:
        raise PayloadError(f"{where}: missing; expected a list")
    value = obj[key]
    if isinstance(value, np.ndarray) or not isinstance(value, (list, tuple)):
        raise PayloadError(f"{where}: expected a list, got {_json_type(value)}")
    return value


def item_mapping(item: Any, where: str) -> Mapping[str, Any]:
    """A list item that must be an object (dict or SDK object)."""
    if type(item) is dict:
        return item
    mapping = as_mapping(item) if not isinstance(item, (str, bytes, int, float, list, tuple)) else None
    if mapping is None:
        raise PayloadError(f"{where}: expected an object, got {_json_type(item)}")
    return mapping


def optional_str(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) and value else None


# ---------------------------------------------------------------- row order


def input_order(indices: Sequence[Any], where: Where, key: str) -> list[int] | None:
    """Payload positions in input order, from each row's ``key`` (``index``/``text_index``).

    Returns None when the rows are already in order (the common case).  Rows
    without the key at all are taken in payload order; otherwise the keys
    must be exactly ``0..n-1``.
    """
    n = len(indices)
    missing_key = [k for k, v in enumerate(indices) if v is None]
    if len(missing_key) == n:
        return None
    if missing_key:
        k = missing_key[0]
        raise PayloadError(f"{where(k)}.{key}: missing, while other rows have one; every row needs its {key}")
    for k, v in enumerate(indices):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise PayloadError(f"{where(k)}.{key}: expected an integer, got {_json_type(v)}")
    if all(v == k for k, v in enumerate(indices)):
        return None
    order = [-1] * n
    for k, v in enumerate(indices):
        if not 0 <= v < n:
            absent = sorted(set(range(n)) - {int(i) for i in indices})
            raise PayloadError(
                f"{where(k)}.{key}: {short_repr(v)} is outside 0..{n - 1}; the {n} rows must carry each index "
                f"0..{n - 1} exactly once (missing: {absent[:5]}{'...' if len(absent) > 5 else ''})"
            )
        if order[v] != -1:
            raise PayloadError(
                f"{where(k)}.{key}: duplicate index {v} (also at {where(order[v])}); "
                f"the {n} rows must carry each index 0..{n - 1} exactly once"
            )
        order[v] = k
    return order
