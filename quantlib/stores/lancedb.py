"""LanceDB tables of quantlib columns: read them back with their codec, search what LanceDB cannot.

A LanceDB table is made of Arrow columns and keeps each field's metadata, so
the columns of :mod:`quantlib.stores.arrow` go in unchanged::

    db.create_table("docs", quantlib.stores.arrow.to_table(codes, codec=codec, columns={"id": ids}))

LanceDB then searches the float32 and float16 columns itself (``"dot"``,
``"cosine"``, ``"l2"``) and the packed bits with ``"hamming"``.  It cannot
search an int8 or uint8 column with a float query (it refuses a query whose
element type differs from the column's), so :func:`search` does it: it reads
the column's codes and the codec recorded in their metadata and runs
:func:`quantlib.search`, which scores the float query against the vectors the
codes stand for.  The rows it returns are LanceDB *offsets*, the positions
``table.take_offsets`` takes.

Nothing here imports ``lancedb``: these functions use the table object you pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..codecs import Codec, ScalarCodec
from ..errors import ConfigError, DTypeError, OutOfRangeError, short_repr
from ..metrics import Metric
from ..search import search as _search
from . import arrow as _arrow

__all__ = ["read_column", "search", "take"]


def read_column(table: Any, column: str = "vector") -> tuple[_arrow.Column, Codec | None, int | None]:
    """Read a LanceDB table's vector column as numpy, with its codec and dimension.

    Only that column is read, in offset order (row ``i`` is ``table.take_offsets([i])``);
    the fragments LanceDB returns are joined into one array.

    Parameters
    ----------
    table : lancedb.table.Table
        An open table (``db.open_table(name)``).
    column : str
        The vector column, written by :mod:`quantlib.stores.arrow` (or with
        quantlib metadata added to its field).

    Returns
    -------
    values, codec, dim
        As :func:`quantlib.stores.arrow.from_arrow`.

    Examples
    --------
    >>> import numpy as np, lancedb
    >>> from quantlib.stores import arrow
    >>> db = lancedb.connect(getfixture("tmp_path"))
    >>> bits = np.packbits(np.eye(3, 12) > 0, axis=-1)
    >>> t = db.create_table("bits", arrow.to_table(bits, precision="ubinary", dim=12))
    >>> values, codec, dim = read_column(t)
    >>> np.array_equal(values, bits), codec, dim
    (True, BitCodec('ubinary'), 12)
    """
    if not hasattr(table, "search") or not hasattr(table, "schema"):
        raise DTypeError(f"table: expected a LanceDB table, got {type(table).__name__}")
    schema = table.schema
    if not isinstance(column, str) or column not in schema.names:
        raise ConfigError(f"column: expected one of the table's columns {schema.names}, got {short_repr(column)}")
    data = table.search().select([column]).limit(None).to_arrow()
    return _arrow.from_arrow(data.combine_chunks(), column)


def search(
    table: Any,
    queries: Any,
    k: int = 10,
    *,
    column: str = "vector",
    metric: Metric | str = "cosine",
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best rows of a LanceDB table's vector column for each query: ``(scores, offsets)``.

    For any column :mod:`quantlib.stores.arrow` writes, and in particular for
    int8/uint8 codes, which LanceDB cannot search with float queries: float
    queries are scored against the vectors the codes stand for, by the codec in
    the column's metadata (as :func:`quantlib.search` with ``codec=``).  The
    column is read on every call; for many searches read it once with
    :func:`read_column` and keep a :class:`quantlib.FlatIndex` or call
    :func:`quantlib.search` on it.

    Parameters
    ----------
    table : lancedb.table.Table
    queries : array_like, shape (m, d) or (d,)
        float queries, or codes in the column's format.
    k : int
        Rows per query (at most the table's rows).
    column : str
        The vector column.
    metric : {"cosine", "dot", "hamming", "sqeuclidean"}
        As :func:`quantlib.search`: similarities best first, distances (Hamming
        counts, squared Euclidean; ``"l2"`` as in LanceDB) lowest first.

    Returns
    -------
    scores : numpy.ndarray, shape (m, k)
    offsets : numpy.ndarray of int64, shape (m, k)
        Row offsets; :func:`take` fetches the rows in this order (LanceDB's
        ``take_offsets`` returns them in table order).  Equal scores are
        ordered by the lower offset.

    Examples
    --------
    >>> import numpy as np, lancedb
    >>> from quantlib import ScalarCodec
    >>> from quantlib.stores import arrow
    >>> docs = np.array([[0.9, 0.1], [0.1, 0.9], [-0.8, -0.2]], dtype=np.float32)
    >>> codec = ScalarCodec("int8", [[-1.0, -1.0], [1.0, 1.0]])
    >>> db = lancedb.connect(getfixture("tmp_path"))
    >>> t = db.create_table("docs", arrow.to_table(codec.encode(docs), codec=codec, columns={"id": [10, 11, 12]}))
    >>> scores, offsets = search(t, np.array([0.0, 1.0], dtype=np.float32), k=2)
    >>> offsets
    array([[1, 0]])
    >>> take(t, offsets[0])["id"].to_pylist()
    [11, 10]
    """
    values, codec, dim = read_column(table, column)
    if not isinstance(values, np.ndarray):
        raise DTypeError(f"column: {column!r} holds {type(values).__name__}s; search dense vector columns here "
                         "(quantlib.maxsim_search and quantlib.sparse_search take the others)")
    if isinstance(codec, ScalarCodec):  # calibrated codes: scored as the vectors they stand for
        fmt: dict[str, Any] = {"codec": codec}
    elif codec is None:  # int8/uint8 codes no calibrated codec made: their integer values
        fmt = {"precision": values.dtype.name}
    else:
        fmt = {"precision": codec.precision, "dim": dim if codec.info.packed else None}
    return _search(queries, values, k, metric=metric, **fmt)


def take(table: Any, offsets: Any, columns: list[str] | None = None) -> Any:
    """The rows at ``offsets`` (a 1-D array of row offsets, e.g. a row of :func:`search`'s), in that order.

    LanceDB's ``take_offsets`` returns rows in table order whatever the order
    asked; this puts them back in the order of ``offsets`` (repeats allowed).

    Returns
    -------
    pyarrow.Table
        ``columns`` (default: all) of those rows.

    Examples
    --------
    >>> import lancedb, pyarrow as pa
    >>> t = lancedb.connect(getfixture("tmp_path")).create_table("t", pa.table({"id": [5, 6, 7]}))
    >>> take(t, [2, 0, 2])["id"].to_pylist()
    [7, 5, 7]
    """
    if not hasattr(table, "take_offsets"):
        raise DTypeError(f"table: expected a LanceDB table, got {type(table).__name__}")
    offs = np.asarray(offsets)
    if offs.ndim != 1 or (offs.size and offs.dtype.kind not in "iu"):
        raise DTypeError(f"offsets: expected a 1-D array of integer row offsets, got {short_repr(offsets)}")
    n = table.count_rows()
    if offs.size and (offs.min() < 0 or offs.max() >= n):
        raise OutOfRangeError(f"offsets: expected row offsets in [0, {n}), got {int(offs.min())}..{int(offs.max())}")
    unique, inverse = np.unique(offs.astype(np.int64), return_inverse=True)
    query = table.take_offsets(unique.tolist())
    if columns is not None:
        query = query.select(list(columns))
    rows = query.to_arrow()
    return rows.take(inverse.reshape(-1))
