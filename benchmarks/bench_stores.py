"""Arrow columns of a 100,000 x 1024 batch, beside the glue pyarrow users write by hand.

``to_arrow``/``to_table`` against ``pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), d)``,
``from_arrow`` against ``col.values.to_numpy().reshape(n, d)``: both sides are zero-copy
for float32, float16, int8 and ubinary, so the times are microseconds and the ratios show
quantlib's checks and metadata; ``binary`` codes are converted to sign bits (a pass over the
codes) on the way in and back on the way out.  ``ParquetRead`` reads a 1000-row file.
"""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import quantlib
from quantlib.stores import arrow

from .common import embeddings, ranges, speedup

_PRECISIONS = ["float32", "float16", "int8", "ubinary", "binary"]


def _codes(name: str, precision: str) -> tuple[np.ndarray, quantlib.Codec]:
    x = embeddings(name)
    if precision == "int8":
        codec = quantlib.ScalarCodec("int8", ranges(name))
    else:
        codec = quantlib.get_codec(precision)
    return (np.ascontiguousarray(x) if precision == "float32" else codec.encode(x)), codec


def _glue(codes: np.ndarray) -> pa.Array:
    """What users write by hand: a flat Arrow array, split into fixed-size lists."""
    return pa.FixedSizeListArray.from_arrays(pa.array(codes.reshape(-1)), codes.shape[1])


def _unglue(col: pa.Array) -> np.ndarray:
    return col.values.to_numpy().reshape(len(col), col.type.list_size)


class ToArrow:
    """An (n, d) array to an Arrow column (and to a table with its metadata)."""

    params = _PRECISIONS
    param_names = ["precision"]

    def setup(self, precision):
        self.codes, self.codec = _codes("batch", precision)
        arrow.to_table(self.codes, codec=self.codec)

    def time_to_arrow(self, precision):
        arrow.to_arrow(self.codes, codec=self.codec)

    def time_to_table(self, precision):
        arrow.to_table(self.codes, codec=self.codec)

    def time_pyarrow_from_arrays(self, precision):
        _glue(self.codes)

    def track_speedup_vs_from_arrays(self, precision):
        return speedup(lambda: arrow.to_arrow(self.codes, codec=self.codec), lambda: _glue(self.codes))

    track_speedup_vs_from_arrays.unit = "x"


class FromArrow:
    """A table's vector column back to numpy, with its codec."""

    params = _PRECISIONS
    param_names = ["precision"]

    def setup(self, precision):
        codes, codec = _codes("batch", precision)
        self.table = arrow.to_table(codes, codec=codec)
        self.column = self.table.column("vector").chunk(0)
        arrow.from_arrow(self.table, "vector")

    def time_from_arrow(self, precision):
        arrow.from_arrow(self.table, "vector")

    def time_pyarrow_to_numpy(self, precision):
        _unglue(self.column)

    def track_speedup_vs_to_numpy(self, precision):
        return speedup(lambda: arrow.from_arrow(self.table, "vector"), lambda: _unglue(self.column))

    track_speedup_vs_to_numpy.unit = "x"


class ParquetRead:
    """Read the int8 column of a 1000 x 1024 Parquet file held in memory, with its codec."""

    def setup(self):
        codes, codec = _codes("response", "int8")
        buf = io.BytesIO()
        pq.write_table(arrow.to_table(codes, codec=codec), buf)
        self.data = buf.getvalue()
        arrow.read_parquet(io.BytesIO(self.data))

    def time_read_parquet(self):
        arrow.read_parquet(io.BytesIO(self.data))

    def time_pyarrow_read_table(self):
        _unglue(pq.read_table(io.BytesIO(self.data)).column("vector").combine_chunks())

    def track_speedup_vs_read_table(self):
        return speedup(lambda: arrow.read_parquet(io.BytesIO(self.data)),
                       lambda: _unglue(pq.read_table(io.BytesIO(self.data)).column("vector").combine_chunks()))

    track_speedup_vs_read_table.unit = "x"
