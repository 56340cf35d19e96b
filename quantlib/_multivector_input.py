"""What a :class:`~quantlib.MultiVectorBatch` is built from, checked: its format, token matrix and offsets.

The batch container is in :mod:`quantlib.multivector`; the codec a batch keeps
and its conversions are in :mod:`quantlib._multivector_formats`.  Here: the
precision and codec of the input (:func:`_resolve_format`), the token matrix in
its storage dtype (:func:`_tokens_matrix`), the offsets (:func:`_check_offsets`)
and the refusal of NaN and infinity naming document, token and component
(:func:`_check_finite_tokens`, also used for MaxSim queries).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._multivector_formats import _keep_codec
from ._validation import as_array, as_code_matrix, check_dim, describe, first_nonfinite
from .codecs import Codec, codec_from_config
from .codecs.binary import resolve_bit_dim
from .errors import ConfigError, DTypeError, NonFiniteError, OutOfRangeError, ShapeError
from .precision import PrecisionInfo, precision_info

_EMPTY_DOC = ("{name}: a document needs at least one token vector, got 0; "
              "drop empty documents (and keep their ids) before building the batch")


def _readonly(arr: np.ndarray) -> np.ndarray:
    """A read-only view of ``arr``: what a batch keeps of the arrays it was built from."""
    view = arr.view(np.ndarray)
    view.flags.writeable = False
    return view

def _lists_flat(documents: Any, info: PrecisionInfo | None) -> tuple[np.ndarray | None, np.ndarray]:
    """Nested lists (``documents[i][t]``: token ``t`` of document ``i``) as flat token rows and offsets.

    The rows are None when there are no documents.  Integer codes are checked
    to fit ``info``'s dtype; integers and booleans for float precisions become floats.
    """
    if isinstance(documents, (np.ndarray, str, bytes, Mapping)) or not isinstance(documents, Sequence):
        raise DTypeError(
            "documents: expected a list of documents, each a list of token vectors, "
            f"got {describe(documents)}"
        )
    lengths = []
    rows: list[Any] = []
    for i, doc in enumerate(documents):
        if isinstance(doc, (str, bytes, Mapping)) or not isinstance(doc, (Sequence, np.ndarray)):
            raise DTypeError(f"documents[{i}]: expected a list of token vectors, got {describe(doc)}")
        if len(doc) == 0:
            raise ShapeError(_EMPTY_DOC.format(name=f"documents[{i}]"))
        first = doc[0]
        if not isinstance(first, (Sequence, np.ndarray)) or isinstance(first, (str, bytes)):
            raise ShapeError(
                f"documents[{i}]: expected a list of token vectors (a list of lists), got a list of "
                f"{type(first).__name__}; a single-vector embedding is not a multi-vector document"
            )
        lengths.append(len(doc))
        rows.extend(doc)
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if not rows:
        return None, offsets
    flat = as_array(rows, "documents")
    if flat.ndim != 2:
        raise ShapeError(
            "documents: token vectors must be lists of numbers of one length, "
            f"got an array of shape {flat.shape}"
        )
    if flat.dtype.kind in "iu" and info is not None and info.family != "float":
        flat = _int_codes(flat, info, "documents")
    elif flat.dtype.kind in "iub" and (info is None or info.family == "float"):
        flat = flat.astype(np.float64) if flat.dtype.kind != "b" else flat
    return flat, offsets


def _matrices_flat(mats: list[np.ndarray], name: str) -> tuple[np.ndarray | None, np.ndarray]:
    """One ``(tokens, width)`` matrix per document as flat token rows (None without documents) and offsets."""
    for i, m in enumerate(mats):
        if m.ndim != 2:
            raise ShapeError(
                f"{name}[{i}]: expected a (tokens, d) matrix, got shape {m.shape}"
                + ("; use x[None, :] for a document of one token" if m.ndim == 1 else "")
            )
        if m.shape[0] == 0:
            raise ShapeError(_EMPTY_DOC.format(name=f"{name}[{i}]"))
        if m.shape[1] != mats[0].shape[1]:
            raise ShapeError(
                f"{name}[{i}]: token vectors must all have the same width; {name}[0] has "
                f"{mats[0].shape[1]}, {name}[{i}] has {m.shape[1]}"
            )
        if m.dtype != mats[0].dtype:
            raise DTypeError(
                f"{name}[{i}]: documents must all have the same dtype; {name}[0] is {mats[0].dtype}, "
                f"{name}[{i}] is {m.dtype}"
            )
    lengths = np.fromiter((m.shape[0] for m in mats), np.int64, len(mats))
    offsets = np.zeros(len(mats) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if not mats:
        return None, offsets
    return (mats[0] if len(mats) == 1 else np.concatenate(mats)), offsets


def _empty_tokens(info: PrecisionInfo | None, dim: int | None, name: str) -> tuple[np.ndarray, str]:
    """The token matrix of a batch without documents, and its precision (``dim=`` gives the width)."""
    if dim is None:
        raise ShapeError(f"{name}: an empty batch needs dim= to know the token width")
    info = info or precision_info("float32")
    return np.empty((0, info.width(check_dim(dim))), info.dtype), info.name


def _explicit_info(precision: Any, codec: Any) -> PrecisionInfo | None:
    if precision is not None:
        return precision_info(precision)
    if isinstance(codec, Codec):
        return codec.info
    if isinstance(codec, Mapping) and "id" in codec:
        return precision_info(codec["id"], name="codec['id']")
    return None


def _resolve_format(
    arr: np.ndarray, precision: Any, codec: Any, name: str
) -> tuple[PrecisionInfo, Codec | None]:
    """The precision of ``arr`` and the codec the batch keeps (checked against each other)."""
    if isinstance(codec, Mapping):
        codec = codec_from_config(dict(codec))
    if codec is not None and not isinstance(codec, Codec):
        raise DTypeError(f"codec: expected a quantlib codec or its config dict, got {describe(codec)}")
    info = _explicit_info(precision, codec)
    if info is None:
        if arr.dtype.kind == "f":
            info = precision_info("float16" if arr.dtype.itemsize == 2 else "float32")
        elif arr.dtype.kind in "iu":
            codes, bits = ("int8", "binary") if arr.dtype.kind == "i" else ("uint8", "ubinary")
            raise DTypeError(
                f"{name}: {arr.dtype} arrays hold either {codes} codes or packed bits; "
                f"pass precision={codes!r} or precision={bits!r}"
            )
        else:
            raise DTypeError(f"{name}: expected float values or integer codes, got dtype {arr.dtype}")
    if codec is not None and codec.precision != info.name:
        raise ConfigError(f"codec: the codec is for {codec.precision}, but the tokens are {info.name}")
    return info, _keep_codec(codec, info)


def _tokens_matrix(arr: np.ndarray, info: PrecisionInfo, dim: int | None, codec: Codec | None,
                   name: str) -> tuple[np.ndarray, int]:
    """The token matrix in the precision's storage dtype, and the logical dimension."""
    if arr.ndim != 2:
        raise ShapeError(
            f"{name}: expected a flat (total_tokens, width) matrix, got shape {arr.shape}"
            + ("; use MultiVectorBatch.from_arrays for a list of matrices" if arr.ndim == 3 else "")
        )
    if info.family == "float":
        if arr.dtype.kind != "f" or arr.dtype.itemsize > 8:
            hint = ("; integer codes need precision='int8'/'uint8'/'binary'/'ubinary'"
                    if arr.dtype.kind in "iu" else "")
            raise DTypeError(
                f"{name}: {info.name} tokens must be floats (float16, float32 or float64), "
                f"got dtype {arr.dtype}{hint}"
            )
        if arr.shape[1] == 0:
            raise ShapeError(f"{name}: expected at least one component per token, got shape {arr.shape}")
        want = info.dtype.newbyteorder("=")
        if arr.dtype != want:
            with np.errstate(over="ignore"):  # overflow is reported by _check_finite_tokens
                arr = arr.astype(want)
        arr = np.ascontiguousarray(arr)
        if dim is not None and check_dim(dim) != arr.shape[1]:
            raise ShapeError(f"dim: {name} have {arr.shape[1]} components per token, got dim={dim}")
        return arr, int(arr.shape[1])
    values, _ = as_code_matrix(arr, name, info)
    if values.shape[1] == 0:
        raise ShapeError(f"{name}: expected at least one component per token, got shape {arr.shape}")
    width = values.shape[1]
    if info.family == "signs" and values.shape[0]:
        return values, resolve_bit_dim(values, dim, name)  # also refuses set padding bits
    fitted = codec.dim if codec is not None else None
    if dim is None and not info.packed:
        true_dim = width
    elif dim is None:
        # the codec's own, or the widest dimension of this width (8 x width for bits): what decode(dim=None) reads
        true_dim = fitted if fitted is not None else width * 8 * info.dtype.itemsize // info.bits
    else:
        true_dim = check_dim(dim)
    if info.width(true_dim) != width:
        if not info.packed:
            raise ShapeError(f"dim: {info.name} {name} have {width} components per token, got dim={dim}")
        what = "packed bits" if info.family == "signs" else f"{info.name} tokens"
        raise ShapeError(f"{name}: {what} of dimension {true_dim} take {info.width(true_dim)} bytes per row, "
                         f"got {width}")
    if codec is not None:
        codec.check_dim(true_dim, name)
    return values, int(true_dim)


def _int_codes(flat: np.ndarray, info: PrecisionInfo, name: str) -> np.ndarray:
    """Python integers from nested lists, checked to fit the codes' dtype."""
    lo, hi = np.iinfo(info.dtype).min, np.iinfo(info.dtype).max
    if flat.size and (flat.min() < lo or flat.max() > hi):
        bad = flat[(flat < lo) | (flat > hi)][0]
        raise OutOfRangeError(f"{name}: {info.name} codes lie in {lo}..{hi}, got {bad}")
    return flat.astype(info.dtype)


def _check_offsets(offsets: Any, n_tokens: int) -> np.ndarray:
    arr = as_array(offsets, "offsets")
    if arr.ndim != 1 or arr.shape[0] == 0:
        raise ShapeError(f"offsets: expected a 1-D array of n_documents + 1 integers, got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise DTypeError(f"offsets: expected integers, got dtype {arr.dtype}")
    if arr.dtype == np.uint64 and arr.max() > np.iinfo(np.int64).max:
        raise ShapeError(f"offsets: expected offsets below 2**63, got {arr.max()}")
    offs = np.ascontiguousarray(arr, dtype=np.int64)
    if offs[0] != 0:
        raise ShapeError(f"offsets: expected offsets[0] == 0, got {offs[0]}")
    steps = np.diff(offs)
    bad = np.flatnonzero(steps <= 0)
    if bad.size:
        i = int(bad[0])
        if steps[i] == 0:
            raise ShapeError(
                f"offsets: document {i} has no tokens (offsets[{i}] == offsets[{i + 1}] == {offs[i]}); "
                "every document and query needs at least one token vector"
            )
        raise ShapeError(
            f"offsets: expected increasing offsets, got offsets[{i}] = {offs[i]} > "
            f"offsets[{i + 1}] = {offs[i + 1]}"
        )
    if offs[-1] != n_tokens:
        raise ShapeError(
            "offsets: expected the last offset to equal the number of token rows "
            f"({n_tokens}), got {offs[-1]}"
        )
    return offs


def _check_finite_tokens(tokens: np.ndarray, offsets: np.ndarray | None, name: str = "tokens",
                         source: np.ndarray | None = None) -> None:
    """Refuse NaN/inf in float tokens, naming the document, token and component.

    ``source`` is the array ``tokens`` was cast from: a value finite there was
    too large for the narrower dtype (:class:`~quantlib.OutOfRangeError`).
    """
    from ._kernels.codecs import all_finite

    if tokens.size == 0:
        return
    if all_finite(np.ascontiguousarray(tokens.reshape(-1), tokens.dtype.newbyteorder("="))):
        return
    row, col = first_nonfinite(tokens)
    if offsets is None:
        where = f"token row {row}, component {col}"
    else:
        doc = int(np.searchsorted(offsets, row, side="right") - 1)
        where = f"document {doc}, token {row - offsets[doc]}, component {col}"
    if source is not None and np.isfinite(source[row, col]):
        raise OutOfRangeError(
            f"{name}: value {float(source[row, col])!r} in {where} is beyond {tokens.dtype}'s largest "
            f"finite value {float(np.finfo(tokens.dtype).max):g}"
        )
    raise NonFiniteError(f"{name}: expected finite values, got {tokens[row, col]} in {where}")
