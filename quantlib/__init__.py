"""quantlib: embedding quantization and compression, exact to the bit.

Encode and decode the formats embedding APIs return (float32, float16, int8,
uint8, binary, ubinary, base64), exactly as the providers define them.
Importing quantlib compiles nothing and changes no global configuration.
"""

from .codecs import (
    BitCodec,
    Codec,
    FloatCodec,
    IntegerCodec,
    ScalarCodec,
    calibration_ranges,
    codec_from_config,
    get_codec,
    register_codec,
)
from .distance import cosine, dot, hamming, pairwise
from .encoding import b64decode, b64encode, b64encode_rows
from .errors import (
    Base64DecodeError,
    CalibrationError,
    CalibrationWarning,
    ConfigError,
    DTypeError,
    NonFiniteError,
    OutOfRangeError,
    PayloadError,
    ProviderError,
    QuantlibError,
    QuantlibWarning,
    ShapeError,
    UnknownPrecisionError,
    UnsupportedError,
)
from .index import FlatIndex
from .matryoshka import MATRYOSHKA_DIMS, ZeroPolicy, is_matryoshka_dim, truncate, truncate_codec
from .metrics import METRICS, Metric, MetricInfo, metric_info
from .multivector import MultiVectorBatch, MuveraEncoder, maxsim, maxsim_search
from .precision import PRECISIONS, Precision, PrecisionInfo, code_width, precision_info
from .providers import EmbeddingResponse, build_response, build_response_json, decode_response
from .quantization import convert_codes, dequantize, quantize
from .search import rescore, search
from .sparse import SparseBatch, SparseIndex, hybrid_scores, sparse_cosine, sparse_dot, sparse_search
from .threads import get_num_threads, set_num_threads

__version__ = "0.1.0"

__all__ = [
    "MATRYOSHKA_DIMS",
    "METRICS",
    "PRECISIONS",
    "Base64DecodeError",
    "BitCodec",
    "CalibrationError",
    "CalibrationWarning",
    "Codec",
    "ConfigError",
    "DTypeError",
    "EmbeddingResponse",
    "FlatIndex",
    "FloatCodec",
    "IntegerCodec",
    "Metric",
    "MetricInfo",
    "MultiVectorBatch",
    "MuveraEncoder",
    "NonFiniteError",
    "OutOfRangeError",
    "PayloadError",
    "Precision",
    "PrecisionInfo",
    "ProviderError",
    "QuantlibError",
    "QuantlibWarning",
    "ScalarCodec",
    "ShapeError",
    "SparseBatch",
    "SparseIndex",
    "UnknownPrecisionError",
    "UnsupportedError",
    "ZeroPolicy",
    "b64decode",
    "b64encode",
    "b64encode_rows",
    "build_response",
    "build_response_json",
    "calibration_ranges",
    "code_width",
    "codec_from_config",
    "convert_codes",
    "cosine",
    "decode_response",
    "dequantize",
    "dot",
    "get_codec",
    "get_num_threads",
    "hamming",
    "hybrid_scores",
    "is_matryoshka_dim",
    "maxsim",
    "maxsim_search",
    "metric_info",
    "pairwise",
    "precision_info",
    "quantize",
    "register_codec",
    "rescore",
    "search",
    "set_num_threads",
    "sparse_cosine",
    "sparse_dot",
    "sparse_search",
    "truncate",
    "truncate_codec",
]
