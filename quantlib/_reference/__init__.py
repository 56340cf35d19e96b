"""Slow, obviously correct numpy twins of quantlib's kernels and codecs.

Every fast path in quantlib has a twin here, written as the plainest numpy
expression of its definition.  Tests assert that the fast path equals its twin
bit for bit (or that both raise the same exception class); benchmarks use the
twins as baselines.  Nothing in the library imports this module.

The twins take well-formed input (the right rank and dtype); they only repeat
the checks that are part of a format's definition (NaN and infinity cannot be
encoded, a float16 cannot hold 70000, sentence-transformers < 5.7 wraps).

Sections (add a new one for each kernel family, keep them in this order); 1-7 live in
:mod:`quantlib._reference.formats`, 8-10 in :mod:`quantlib._reference.scores`, and this
package exports them all (tests use ``from quantlib import _reference as R``):

1. Float casts: ``float32``, ``float16``
2. Scalar codes: ``int8``, ``uint8`` (three rounding rules)
3. Sign bits: ``ubinary``, ``binary``
4. Conversions between stored codes
5. base64
6. Dispatch by precision name (``quantize``, ``dequantize``)
7. Matryoshka truncation (floats, packed bits)
8. Sparse token weights (dense twins, top-k, pruning, uint8 weights, hybrid)
9. Scores and search: ``dot``, ``cosine``, ``hamming``, top-k
10. Multi-vector MaxSim (late interaction)
"""

from .formats import (
    CODE_RANGE,
    WIRE_DTYPES,
    b64decode,
    b64encode,
    bits_from_scalar,
    convert_codes,
    dequantize,
    float_decode,
    float_encode,
    pack_binary,
    pack_ubinary,
    quantize,
    scalar_decode,
    scalar_divisors,
    scalar_encode,
    scalar_encode_st_floor,
    scalar_encode_st_truncate,
    scalar_steps,
    truncate_bits,
    truncate_float,
    unpack_bits,
)
from .scores import (
    hamming_counts,
    hybrid_scores,
    maxsim,
    maxsim_top_k,
    muvera_encode,
    pairwise_scores,
    prune_row,
    score_values,
    search_top_k,
    sparse_cosine,
    sparse_dense,
    sparse_u8,
    top_k,
)

__all__ = [
    "CODE_RANGE",
    "WIRE_DTYPES",
    "b64decode",
    "b64encode",
    "bits_from_scalar",
    "convert_codes",
    "dequantize",
    "float_decode",
    "float_encode",
    "hamming_counts",
    "hybrid_scores",
    "maxsim",
    "maxsim_top_k",
    "muvera_encode",
    "pack_binary",
    "pack_ubinary",
    "pairwise_scores",
    "prune_row",
    "quantize",
    "scalar_decode",
    "scalar_divisors",
    "scalar_encode",
    "scalar_encode_st_floor",
    "scalar_encode_st_truncate",
    "scalar_steps",
    "score_values",
    "search_top_k",
    "sparse_cosine",
    "sparse_dense",
    "sparse_u8",
    "top_k",
    "truncate_bits",
    "truncate_float",
    "unpack_bits",
]
