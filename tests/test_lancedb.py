"""quantlib.stores.lancedb against a real, in-process LanceDB: round trips, and its searches against quantlib's.

LanceDB searches here without an index (none is created), so its results are exact, brute force.
"""

from __future__ import annotations

import lancedb
import numpy as np
import pyarrow as pa
import pytest

import quantlib
from quantlib import MultiVectorBatch, ScalarCodec, SparseBatch
from quantlib.errors import ConfigError, DTypeError, OutOfRangeError
from quantlib.sample import load_sample
from quantlib.stores import arrow
from quantlib.stores.lancedb import read_column, search, take

N_QUERIES = 100
RNG = np.random.default_rng(2025)


@pytest.fixture(scope="module")
def sample():
    return load_sample()


@pytest.fixture(scope="module")
def table(sample, tmp_path_factory):
    """The bundled sample in one LanceDB table: float32, float16, ubinary and calibrated int8 columns."""
    docs = sample.documents
    codec = ScalarCodec.fit(docs, "int8")
    t = pa.table({"id": np.arange(len(docs))})
    for name, values, kwargs in (("f32", docs, {}), ("f16", docs.astype(np.float16), {}),
                                 ("bits", quantlib.quantize(docs, "ubinary"), {"precision": "ubinary"}),
                                 ("int8", codec.encode(docs), {"codec": codec})):
        t = t.append_column(arrow.field(name, values, **kwargs), arrow.to_arrow(values, **kwargs))
    db = lancedb.connect(tmp_path_factory.mktemp("lancedb"))
    return db.create_table("sample", t), codec


def _lance(tbl, query, column, distance, k=10):
    """LanceDB's own exact search: (ids, _distance)."""
    r = tbl.search(query, vector_column_name=column).distance_type(distance).limit(k).to_arrow()
    return r["id"].to_numpy(), r["_distance"].to_numpy()


@pytest.mark.parametrize("distance, metric", [("dot", "dot"), ("cosine", "cosine")])
@pytest.mark.parametrize("column", ["f32", "f16"])
def test_lancedb_float_search_agrees_with_quantlib(table, sample, column, distance, metric):
    tbl, _ = table
    docs = sample.documents if column == "f32" else sample.documents.astype(np.float16)
    queries = sample.queries[:N_QUERIES]
    scores, ids = quantlib.search(queries, docs, k=10, metric=metric)
    for i, q in enumerate(queries):
        lids, dist = _lance(tbl, q, column, distance)
        assert np.array_equal(lids, ids[i]), i
        # LanceDB's "dot" distance is 1 - dot, its "cosine" 1 - cos: the same ranking, float32 rounding apart
        np.testing.assert_allclose(1 - dist, scores[i], rtol=0, atol=2e-6)


def test_lancedb_l2_is_squared_euclidean(table, sample):
    tbl, _ = table
    docs = sample.documents.astype(np.float64)
    scores, ids = quantlib.search(sample.queries[:20], sample.documents, k=10, metric="l2")
    for i, q in enumerate(sample.queries[:20]):
        ref = ((docs - q) ** 2).sum(axis=1)
        want = np.argsort(ref, kind="stable")[:10]
        lids, dist = _lance(tbl, q, "f32", "l2")
        assert np.array_equal(lids, want)
        np.testing.assert_allclose(dist, ref[want], rtol=0, atol=1e-5)
        assert np.array_equal(ids[i], want)  # quantlib's sqeuclidean (alias l2): the same ids and distances
        np.testing.assert_allclose(scores[i], ref[want], rtol=0, atol=1e-5)


def test_lancedb_hamming_search_agrees_with_quantlib_exactly(table, sample):
    tbl, _ = table
    qbits = quantlib.quantize(sample.queries[:N_QUERIES], "ubinary")
    counts, ids = quantlib.search(qbits, quantlib.quantize(sample.documents, "ubinary"), k=10, metric="hamming")
    ties = 0
    for i, q in enumerate(qbits):
        lids, dist = _lance(tbl, q, "bits", "hamming")
        assert np.array_equal(dist, counts[i]) and np.array_equal(lids, ids[i]), i  # ties: lower row first
        ties += int((np.diff(counts[i]) == 0).sum())
    assert ties > 50  # the tie order was really exercised
    # the same through quantlib.stores.lancedb.search, from float queries binarized on the way
    counts2, offsets = search(tbl, sample.queries[:N_QUERIES], k=10, column="bits", metric="hamming")
    assert np.array_equal(counts2, counts) and np.array_equal(offsets, ids)


def test_int8_columns_are_searched_with_float_queries_through_their_codec(table, sample):
    tbl, codec = table
    queries = sample.queries[:N_QUERIES]
    with pytest.raises(ValueError, match="element type Int8 and the query vector is Float32"):
        _lance(tbl, queries[0], "int8", "cosine")  # LanceDB cannot; if it ever can, revisit the docs
    scores, offsets = search(tbl, queries, k=10, column="int8")
    want_scores, want_ids = quantlib.search(queries, codec.encode(sample.documents), k=10, codec=codec)
    assert np.array_equal(offsets, want_ids) and np.array_equal(scores, want_scores)
    exact = quantlib.search(queries, sample.documents, k=10)[1]
    assert np.mean([len(set(a) & set(b)) for a, b in zip(offsets, exact, strict=True)]) / 10 > 0.9  # the codec at work
    rows = take(tbl, offsets[0], columns=["id"])
    assert rows["id"].to_numpy().tolist() == offsets[0].tolist()


@pytest.mark.parametrize("precision", ["float32", "float16", "int8", "uint8", "binary", "ubinary"])
def test_lancedb_round_trip_keeps_the_codec(tmp_path, precision):
    x = RNG.standard_normal((300, 20)).astype(np.float32)
    codec = ScalarCodec.fit(x, precision) if precision in ("int8", "uint8") else quantlib.get_codec(precision)
    codes = codec.encode(x)
    db = lancedb.connect(tmp_path)
    tbl = db.create_table("t", arrow.to_table(codes[:200], codec=codec, dim=20, columns={"id": np.arange(200)}))
    tbl.add(arrow.to_table(codes[200:], codec=codec, dim=20, columns={"id": np.arange(200, 300)}))
    values, codec2, dim = read_column(db.open_table("t"))  # two fragments, joined in offset order
    assert np.array_equal(values.view(np.uint8), codes.view(np.uint8)) and codec2 == codec and dim == 20
    assert take(tbl, [250, 3, 250])["id"].to_pylist() == [250, 3, 250]


def test_lancedb_round_trip_of_multivectors_and_sparse(tmp_path):
    mv = MultiVectorBatch.from_arrays([RNG.standard_normal((n, 8)).astype(np.float32) for n in (3, 1, 4)])
    mv = mv.quantize(ScalarCodec.fit(RNG.standard_normal((200, 8)), "uint8"))
    sp = SparseBatch.from_dicts([{5: 1.0, 2: 0.5}, {}, {7: 0.25}], vocab_size=10)
    db = lancedb.connect(tmp_path)
    t = arrow.to_table(mv, column="tokens", columns={"id": [1, 2, 3]})
    s = arrow.to_table(sp, column="sparse")
    tbl = db.create_table("t", t.append_column(s.schema.field("sparse"), s.column("sparse")))
    back, codec, dim = read_column(tbl, "tokens")
    assert back == mv and back.codec == mv.codec == codec and dim == 8
    sback, _, vocab = read_column(tbl, "sparse")
    assert vocab == 10 and np.array_equal(sback.indptr, sp.indptr) and np.array_equal(sback.values, sp.values)
    with pytest.raises(DTypeError, match=r"column: 'tokens' holds MultiVectorBatchs; search dense vector columns"):
        search(tbl, np.ones(8, np.float32), column="tokens")


def test_uncalibrated_int8_codes_are_searched_by_their_integer_values(tmp_path):
    codes = RNG.integers(-128, 128, size=(50, 16), dtype=np.int8)
    tbl = lancedb.connect(tmp_path).create_table("t", arrow.to_table(codes, precision="int8"))
    q = RNG.integers(-128, 128, size=(3, 16), dtype=np.int8)
    got = search(tbl, q, k=5, metric="dot")
    want = quantlib.search(q, codes, k=5, metric="dot", precision="int8")
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def test_bad_tables_and_columns_are_refused(tmp_path):
    x = RNG.standard_normal((4, 3)).astype(np.float32)
    db = lancedb.connect(tmp_path)
    plain = db.create_table("plain", pa.table({"v": pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), 3)}))
    with pytest.raises(ConfigError, match=r"column 'v': the field has no quantlib metadata"):
        read_column(plain, "v")
    with pytest.raises(ConfigError, match=r"column: expected one of the table's columns \['v'\], got 'vector'"):
        read_column(plain)
    with pytest.raises(DTypeError, match=r"table: expected a LanceDB table, got ndarray"):
        read_column(x)
    with pytest.raises(OutOfRangeError, match=r"offsets: expected row offsets in \[0, 4\), got 0..4"):
        take(plain, [0, 4])
    with pytest.raises(DTypeError, match=r"offsets: expected a 1-D array of integer row offsets"):
        take(plain, [[0, 1]])
