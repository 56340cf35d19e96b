"""The corpus side of scoring: stored rows checked once and viewed as the kernels read them.

:func:`prepare_corpus` validates an array of stored rows (dtype, shape, the
codec that made them) against a metric and wraps it in a :class:`Corpus`, which
caches what every search of the same rows needs again (row norms, L1 sums, the
padding-bit check).  :mod:`quantlib._planner` prepares queries against it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._kernels import dense as KD
from ._validation import as_array, check_finite, describe
from .codecs import Affine, Codec, codec_from_config, default_codec, get_codec
from .codecs.binary import resolve_bit_dim
from .errors import ConfigError, DTypeError, OutOfRangeError, ShapeError
from .metrics import METRICS, MetricInfo, metric_info
from .precision import PRECISIONS, PrecisionInfo, precision_info


@dataclass
class Corpus:
    """Stored rows checked once (dtype, shape, codec) and viewed the way the kernels read them.

    Built by :func:`prepare_corpus`; :class:`quantlib.FlatIndex` keeps one so
    repeated searches skip the checks and reuse the row norms.  NaN and
    infinity in float rows are found by the kernels, which flag non-finite
    scores (:meth:`raise_nonfinite` then names the row).
    """

    info: PrecisionInfo
    codec: Codec  # the codec of the rows (for codes without calibration, an IntegerCodec)
    rows: np.ndarray  # as given (validated, C-contiguous): floats, codes or packed bytes
    view: np.ndarray  # what kernels read: float32 (also decoded rows), uint16 (float16 bits), int8, uint8, bits
    dim: int | None  # known logical dimension (None for bits until a query says)
    name: str = "corpus"  # the argument name, for error messages
    parent: Corpus | None = None  # the corpus this one was taken from (error messages)
    _norms: dict[str, np.ndarray] | None = None

    @property
    def family(self) -> str:
        """The kernels' reading of the rows: the codec's family, but ``"float"`` for decoded rows."""
        family = self.codec.family
        return "float" if family == "decoded" else family

    @property
    def floats(self) -> np.ndarray:
        """The float rows BLAS multiplies: the decoded values of a ``"decoded"`` codec's rows, else the rows."""
        return self.view if self.codec.family == "decoded" else self.rows

    @property
    def affine(self) -> Affine | None:
        """The codec's map from codes to values, for rows of an ``"affine"`` codec."""
        return self.codec.affine() if self.codec.family == "affine" else None

    @property
    def dequantized(self) -> bool:
        """True where float queries score the values the codes stand for, not the codes themselves."""
        affine = self.affine
        return affine is not None and not affine.identity

    @property
    def n(self) -> int:
        return int(self.view.shape[0])

    @property
    def width(self) -> int:
        return int(self.view.shape[1])

    def slice(self, start: int, stop: int) -> Corpus:
        """The sub-corpus of rows ``start:stop``: views of these rows (nothing copied), with their cached norms."""
        sub = Corpus(self.info, self.codec, self.rows[start:stop], self.view[start:stop], self.dim, self.name,
                     self.parent or self)
        if self._norms:
            sub._norms = {key: value[start:stop] for key, value in self._norms.items()}
        return sub

    def take(self, rows: np.ndarray) -> Corpus:
        """The sub-corpus of ``rows`` (copied), with the cached norms of those rows."""
        picked = np.ascontiguousarray(self.rows[rows])
        view = np.ascontiguousarray(self.view[rows]) if self.codec.family == "decoded" else picked.view(self.view.dtype)
        sub = Corpus(self.info, self.codec, picked, view, self.dim, self.name, self.parent or self)
        if self._norms:
            sub._norms = {key: value[rows] for key, value in self._norms.items()}
        return sub

    def raise_nonfinite(self) -> None:
        """Raise the error behind a non-finite score: a NaN/inf row, or else float32 overflow."""
        whole = self.parent or self
        if whole.info.is_float:
            rows = whole.rows if whole.rows.dtype == np.float32 else whole.rows.astype(np.float32)
            check_finite(rows, self.name)
        raise OutOfRangeError(
            f"{self.name}: a score overflows float32 (beyond 3.4e+38); scale the vectors down"
        )

    def _cached(self, key: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """``compute()`` once per corpus, kept under ``key`` (norms, L1 sums)."""
        # Threads may share this corpus (one FlatIndex searched from many): work on one
        # dict object throughout, so a racing first call can never read a dict that
        # lacks the key it just stored; at worst two threads compute the same array.
        cache = self._norms
        if cache is None:
            cache = self._norms = {}
        if key not in cache:
            cache[key] = compute()
        return cache[key]

    def inverse_norms(self, dequantized: bool) -> np.ndarray:
        """``1 / |x_i|`` (0 for zero rows) of the raw or dequantized rows, computed once."""

        def compute() -> np.ndarray:
            norms = np.empty(self.n, np.float64)
            if dequantized:
                # the norms of the float32 values decode() gives, a block of rows (4 MB) at a
                # time: rebuilding them in float64 (or with a fused multiply-add) leaves rounding
                # residue where decode gives exactly 0, and a cosine of that residue
                block = max(1, (1 << 20) // self.width)
                for s in range(0, self.n, block):
                    KD.row_norms(self.codec.decode(self.view[s:s + block], dim=self.dim), norms[s:s + block])
            else:
                KD.row_norms(self.view, norms)
            small = np.flatnonzero((norms > 0) & (norms < _FLOAT32_TINY))
            if small.size:  # queries are rescaled instead; corpus rows are read where they lie
                i = int(small[0])
                raise OutOfRangeError(
                    f"{self.name}: row {i}{' (dequantized)' if dequantized else ''} has norm "
                    f"{norms[i]:.3g}, below float32's smallest normal number ({_FLOAT32_TINY:.3g}), "
                    "so its cosine cannot be computed in float32; scale such rows up (cosine "
                    "does not change) or drop them"
                )
            with np.errstate(divide="ignore"):
                inv = np.where(norms > 0, 1.0 / norms, 0.0)
            return inv.astype(np.float32)

        return self._cached("dequantized" if dequantized else "raw", compute)

    def squared_norms(self, dequantized: bool) -> np.ndarray:
        """``|x_i|**2`` (float64) of the raw or dequantized rows, computed once.

        Summed in float64 from the float32 values the kernels read (``decode()``'s for
        dequantized rows): exact for integer codes, and for float rows within one
        rounding of float64, far below the float32 rounding of the scores.
        """

        def compute() -> np.ndarray:
            out = np.empty(self.n, np.float64)
            block = max(1, (1 << 20) // max(1, self.width))
            for s in range(0, self.n, block):
                if dequantized:
                    x = self.codec.decode(self.view[s:s + block], dim=self.dim)
                else:  # the values the kernels read: decoded rows' floats, else the rows themselves
                    x = (self.view if self.codec.family == "decoded" else self.rows)[s:s + block]
                x = x.astype(np.float64)
                out[s:s + block] = np.einsum("ij,ij->i", x, x)
            return out

        return self._cached("squared dequantized" if dequantized else "squared raw", compute)

    def check_bit_dim(self, d: int) -> None:
        """Refuse set padding bits past dimension ``d`` in packed rows (checked once per ``d``)."""

        def compute() -> np.ndarray:
            resolve_bit_dim(self.view, d, self.name)
            return np.zeros(self.n, bool)  # per row, so that take() can pass it on

        if d % 8:
            self._cached(f"bits past {d}", compute)

    def check_cosine_norms(self) -> None:
        """Raise now what a cosine search of these rows would raise for a row of subnormal norm."""
        if self.family != "signs":
            self.inverse_norms(self.dequantized)

    def code_l1(self) -> np.ndarray:
        """``sum_j |x_ij|`` of each row of integer codes (int64, exact), computed once."""

        def compute() -> np.ndarray:
            l1 = np.empty(self.n, np.int64)
            KD.row_l1(self.view, l1)
            return l1

        return self._cached("l1", compute)


#: The smallest normal float32, 2**-126: a corpus row of smaller norm has products that
#: underflow and an inverse norm that may not fit float32, so cosine refuses it.
_FLOAT32_TINY = float(np.finfo(np.float32).tiny)


def resolve_codec(codec: Any) -> Codec | None:
    if codec is None or isinstance(codec, Codec):
        return codec
    if isinstance(codec, dict):
        return codec_from_config(codec)
    raise DTypeError(f"codec: expected a quantlib Codec or its config dict, got {describe(codec)}")


def _corpus_precision(arr: np.ndarray, metric: MetricInfo, precision: Any, codec: Codec | None,
                      name: str) -> PrecisionInfo:
    """The precision the corpus array is read as (explicit, from the codec, or from its dtype)."""
    if precision is not None:
        info = precision_info(precision)
        if codec is not None and codec.precision != info.name:
            raise ConfigError(
                f"precision, codec: precision {info.name!r} but the codec is {codec.precision!r}"
            )
    elif codec is not None:
        info = codec.info
    elif arr.dtype.kind == "f" and arr.dtype.itemsize in (2, 4, 8):
        info = precision_info("float16" if arr.dtype.itemsize == 2 else "float32")
    elif arr.dtype in (np.int8, np.uint8):
        kind = "int8" if arr.dtype == np.int8 else "uint8"
        bits = "binary" if arr.dtype == np.int8 else "ubinary"
        if "affine" not in metric.families:  # a metric of bits only (hamming): the bytes can only be bits
            info = precision_info(bits)
        else:
            raise DTypeError(
                f"{name}: a {arr.dtype} array holds {kind} codes or packed bits; "
                f"pass precision={kind!r} (or the codec that made them) or precision={bits!r}"
            )
    else:
        raise DTypeError(
            f"{name}: expected float embeddings, int8/uint8 codes or packed bits, got dtype {arr.dtype}"
        )
    if info.family not in metric.families:
        others = [m.name for m in METRICS if info.family in m.families]
        raise ConfigError(
            f"metric: {metric.name!r} scores {', '.join(p.name for p in PRECISIONS if p.family in metric.families)} "
            f"rows, got precision {info.name!r}"
            + (f"; use metric={' or '.join(map(repr, others))} for {info.name} rows" if others else "")
        )
    return info


def _as_rows(x: Any, name: str) -> np.ndarray:
    arr = as_array(x, name)
    if arr.ndim != 2:
        raise ShapeError(
            f"{name}: expected a 2-D (n, d) array of rows, got shape {arr.shape}"
            + ("; use x[None, :] for one vector" if arr.ndim == 1 else "")
        )
    return arr


def prepare_corpus(corpus: Any, metric: str | MetricInfo = "cosine", *, precision: Any = None,
                   codec: Any = None, dim: int | None = None, name: str = "corpus") -> Corpus:
    """Validate stored rows once and view them as the kernels read them (internal).

    ``dim`` is the rows' logical dimension where the codes' width does not say
    it (packed codes); rows of a ``"decoded"`` codec are decoded to it.
    """
    m = metric_info(metric)
    codec = resolve_codec(codec)
    arr = _as_rows(corpus, name)
    info = _corpus_precision(arr, m, precision, codec, name)
    return _make_corpus(arr, info, codec, name, dim)


def _make_corpus(arr: np.ndarray, info: PrecisionInfo, codec: Codec | None, name: str,
                 dim: int | None = None) -> Corpus:
    if codec is None:
        codec = default_codec(info)
    elif codec.info != info and not (info.is_float and codec.info.is_float):
        raise ConfigError(f"precision, codec: precision {info.name!r} but the codec is {codec.precision!r}")
    if info.is_float:
        if arr.dtype.kind != "f":
            raise DTypeError(f"{name}: {info.name} rows must be floating point, got dtype {arr.dtype}")
        if arr.shape[1] == 0:
            raise ShapeError(f"{name}: expected at least one dimension, got shape {arr.shape}")
        if arr.dtype.itemsize == 2:  # float16 of either byte order
            rows = np.ascontiguousarray(arr, np.float16)
            view = rows.view(np.uint16)
            info = precision_info("float16")
        else:
            rows = _to_float32(arr, name, check=False)
            view = rows
            info = precision_info("float32")
        if codec.info != info:
            codec = get_codec(info.name)
        # NaN/inf rows are caught by the kernels, which flag non-finite scores: one pass, not two
        return Corpus(info, codec, rows, view, rows.shape[1], name)
    want = info.dtype.newbyteorder("=")
    if arr.dtype != want:
        raise DTypeError(f"{name}: {info.name} rows must have dtype {want}, got dtype {arr.dtype}")
    rows = np.ascontiguousarray(arr)
    if rows.shape[1] == 0:
        unit = "byte" if info.packed else "dimension"
        raise ShapeError(f"{name}: expected at least one {unit} per row, got shape {rows.shape}")
    if codec.family == "signs":
        return Corpus(info, codec, rows, rows.view(np.uint8), None, name)
    fitted = codec.dim if codec.dim is not None else dim
    if not info.packed:
        codec.check_dim(rows.shape[1], name)
    elif fitted is not None and codec.width(fitted) != rows.shape[1]:
        raise ShapeError(f"{name}: {info.name} rows of dimension {fitted} have {codec.width(fitted)} items, "
                         f"got rows of {rows.shape[1]}")
    if codec.family == "decoded":
        # the generic path: float32 values of the rows, scored as floats (a copy; see Codec.family)
        view = _to_float32(np.asarray(codec.decode(rows, dim=fitted)), name)
        return Corpus(info, codec, rows, view, view.shape[1], name)
    # packed rows do not say their dimension (rotated codes pad it and add factors): the codec's, or dim=
    return Corpus(info, codec, rows, rows, fitted if info.packed else rows.shape[1], name)


def _to_float32(arr: np.ndarray, name: str, check: bool = True) -> np.ndarray:
    """Float rows as C-contiguous float32; float64 beyond float32's range is refused.

    ``check=False`` skips the NaN/inf pass over float32 input (kernels flag them).
    """
    if arr.dtype.itemsize not in (2, 4, 8):
        raise DTypeError(f"{name}: expected float16, float32 or float64, got dtype {arr.dtype}")
    if arr.dtype == np.float32:
        out = np.ascontiguousarray(arr)
        if check:
            check_finite(out, name)
        return out
    src = np.ascontiguousarray(arr)
    check_finite(src, name)
    with np.errstate(over="ignore"):
        out = src.astype(np.float32)
    if out.size and not np.isfinite(out).all():
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(out))[0])
        raise OutOfRangeError(
            f"{name}: value {float(src[where])!r} at index {where} is beyond float32's "
            "largest finite value 3.4e+38"
        )
    return out

