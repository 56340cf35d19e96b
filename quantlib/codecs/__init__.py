"""Codecs: float embeddings to the stored codes of each precision and back.

The built-in codecs register here, in the order of :data:`~quantlib.PRECISIONS`;
a codec of another package registers the same way (:func:`register_codec`).
"""

from .base import Affine, Codec
from .binary import BitCodec
from .float import FloatCodec
from .registry import (
    codec_class,
    codec_from_config,
    default_codec,
    get_codec,
    register_codec,
    registered_precisions,
    unregister_codec,
)
from .rotated import RotatedCodec
from .scalar import IntegerCodec, ScalarCodec, calibration_ranges

for _cls in (FloatCodec, ScalarCodec, BitCodec, RotatedCodec):
    register_codec(_cls)
register_codec(IntegerCodec, variant="raw")
del _cls

__all__ = [
    "Affine",
    "BitCodec",
    "Codec",
    "FloatCodec",
    "IntegerCodec",
    "RotatedCodec",
    "ScalarCodec",
    "calibration_ranges",
    "codec_class",
    "codec_from_config",
    "default_codec",
    "get_codec",
    "register_codec",
    "registered_precisions",
    "unregister_codec",
]
