"""quantlib.dask on a real Dask cluster: 2 worker processes (distributed.LocalCluster), started once.

Every result is compared with its single-process twin on the concatenated rows: bit for bit
(codes, codec configs, scores, ids, tie order), except float rows searched by 8 or more float
queries, where BLAS sums in an order that depends on the block (compared under that rule).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import cloudpickle
import numpy as np
import pytest

import quantlib
from quantlib import FlatIndex, ScalarCodec
from quantlib.errors import CalibrationWarning, ConfigError, DTypeError, NonFiniteError, OutOfRangeError, ShapeError

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
import dask  # noqa: E402

import quantlib.dask as qd  # noqa: E402

# functions defined here run on the workers, which cannot import this file
cloudpickle.register_pickle_by_value(sys.modules[__name__])

CHUNKS = (300, 1, 0, 457, 242)  # irregular, with a one-row and an empty block
N = sum(CHUNKS)


@pytest.fixture(scope="module")
def client():
    # distributed's nanny sets OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS and MALLOC_TRIM_THRESHOLD_
    # in this process's os.environ before it spawns a worker; every later subprocess of the test session would
    # inherit them (test_memory's child then summed BLAS blocks on one thread, a last-bit difference), so the
    # environment is put back when the cluster closes.
    environ = dict(os.environ)
    # one failure allowed per task: a worker killed once is survived, twice is an error (fast tests)
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # distributed's own start-up and shutdown chatter
        cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                           dashboard_address=None, silence_logs=50)
        c = distributed.Client(cluster)
        try:
            yield c
        finally:
            c.close()
            cluster.close()
            os.environ.clear()
            os.environ.update(environ)


def rows(n=N, d=64, seed=0, dtype=np.float32):
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(dtype)
    # duplicates across blocks: equal scores whose order must go to the lower row
    if n > 700:
        x[400] = x[10]
        x[700] = x[10]
        x[301] = x[299]
    return x


def darr(x, chunks=CHUNKS):
    return da.from_array(x, chunks=(chunks, x.shape[1]))


def same(got, want):
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)


def same_under_blas_rule(got, want, atol=0.0):
    """Scores within BLAS's last-bit differences; ids equal except between such near-ties.

    ``atol``: for squared distances, whose rounding is relative to ``|q|^2 + |x|^2``, not to the score.
    """
    (gs, gi), (ws, wi) = got, want
    assert gs.dtype == ws.dtype and gi.shape == wi.shape
    tol = 1e-6 * (1 + np.abs(ws)) + atol  # a few float32 rounding steps of sums of 64 products
    assert (np.abs(gs - ws) <= tol).all()
    for qi, rank in zip(*np.nonzero(gi != wi), strict=True):  # a swapped near-tie: both rows score the same
        assert (np.abs(ws[qi] - ws[qi, rank])[wi[qi] == gi[qi, rank]] <= tol[qi, rank]).all()


def test_importing_quantlib_imports_no_dask():
    code = "import sys, quantlib; print(sorted(m for m in ('dask', 'distributed') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------- quantize


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.float64])
def test_quantize_equals_one_process(client, dtype):
    x = rows(dtype=dtype)
    precisions = ["float32", "float16", "int8", "uint8", "binary", "ubinary"]
    lazy = [qd.quantize(darr(x), p) for p in precisions]
    assert all(c.chunks[0] == CHUNKS for c in lazy)
    for precision, codes in zip(precisions, dask.compute(*lazy), strict=True):
        want = quantlib.quantize(x, precision)
        assert codes.dtype == want.dtype
        assert codes.tobytes() == want.tobytes()


@pytest.mark.parametrize("rounding", ["nearest", "floor", "truncate"])
@pytest.mark.parametrize("precision", ["int8", "uint8"])
def test_calibration_pass_gives_the_same_codec(client, precision, rounding):
    x = rows(seed=1) * 3
    codec = qd.fit_codec(darr(x), precision, rounding=rounding)
    want = ScalarCodec.fit(x, precision, rounding=rounding)
    assert codec.get_config() == want.get_config()
    np.testing.assert_array_equal(qd.calibration_ranges(darr(x)), quantlib.calibration_ranges(x))
    codes = qd.quantize(darr(x), precision, rounding=rounding).compute()
    assert codes.tobytes() == quantlib.quantize(x, precision, rounding=rounding).tobytes()
    assert qd.quantize(darr(x), codec).compute().tobytes() == codes.tobytes()


def test_quantize_with_ranges_or_calibration_rows(client):
    x = rows(seed=2)
    cal = rows(n=500, seed=3)
    r = quantlib.calibration_ranges(cal) * 0.5  # values outside get clipped
    for kwargs, dkwargs in (({"ranges": r}, {"ranges": r}),
                            ({"calibration_embeddings": cal}, {"calibration_embeddings": darr(cal, (200, 300))}),
                            ({"calibration_embeddings": cal}, {"calibration_embeddings": cal})):
        want = quantlib.quantize(x, "uint8", **kwargs)
        assert qd.quantize(darr(x), "uint8", **dkwargs).compute().tobytes() == want.tobytes()


def test_truncate_rounding_reports_the_block_that_would_wrap(client):
    x = rows(seed=4)
    r = quantlib.calibration_ranges(x)
    x[500, 3] = r[1, 3] + 10 * (r[1, 3] - r[0, 3])  # far above the range: sentence-transformers < 5.7 wraps
    with pytest.raises(OutOfRangeError, match="block of rows from 301"):
        qd.quantize(darr(x), "int8", ranges=r, rounding="truncate").compute()


def test_calibration_refuses_nonfinite_and_warns_like_quantlib(client):
    x = rows(seed=5)
    x[350, 7] = np.nan
    with pytest.raises(NonFiniteError) as got:
        qd.quantize(darr(x), "int8")
    with pytest.raises(NonFiniteError) as want:
        quantlib.quantize(x, "int8")
    assert str(got.value) == str(want.value)  # the global (row, column), as in one process
    small = rows(n=50, seed=6)
    with pytest.warns(CalibrationWarning, match="50 row"):
        codec = qd.fit_codec(darr(small, (20, 30)))
    with pytest.warns(CalibrationWarning):
        assert codec == ScalarCodec.fit(small)


@pytest.mark.parametrize("precision", ["float32", "float16", "int8", "ubinary", "binary"])
def test_matryoshka_truncate_equals_one_process(client, precision):
    x = rows(seed=7)
    stored = x if precision in ("float32",) else quantlib.quantize(x, precision)
    if precision == "float16":
        stored = x.astype(np.float16)
    for dim in (13, 32):
        got = qd.truncate(darr(stored), dim, precision=precision).compute()
        want = quantlib.truncate(stored, dim, precision=precision)
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes()


# ---------------------------------------------------------------- search

Q = 5  # float queries below 8 take the numba kernels, whose scores never depend on the block


def _cases():
    x = rows(seed=8)
    codec = ScalarCodec.fit(x, "int8")
    u8 = ScalarCodec.fit(x, "uint8")
    bits = quantlib.quantize(x, "ubinary")
    return x, codec, u8, bits


@pytest.mark.parametrize("case", [
    "float32", "float16", "int8-codec", "uint8-codec", "int8-raw-float-queries",
    "uint8-raw-code-queries", "int8-raw-code-queries", "int8-codec-code-queries",
    "ubinary-float-queries", "binary-float-queries", "ubinary-code-queries",
])
def test_search_equals_one_process(client, case):
    for metric in ("cosine", "dot", "sqeuclidean"):
        # 20 queries: the two-stage int16 paths over codes and bits (each block may take a different one)
        for nq in (Q, 20) if case in ("float32", "int8-codec", "ubinary-float-queries") else (Q,):
            _search_case(case, metric, nq)


def _search_case(case, metric, nq):
    x, codec, u8, bits = _cases()
    q = rows(n=nq, seed=9)
    q[1] = x[10]  # a query whose best rows tie across blocks
    kwargs = {"metric": metric}
    if case == "float32":
        corpus = x
    elif case == "float16":
        corpus = x.astype(np.float16)
    elif case == "int8-codec":
        corpus, kwargs["codec"] = codec.encode(x), codec
    elif case == "uint8-codec":
        corpus, kwargs["codec"] = u8.encode(x), u8
    elif case == "int8-raw-float-queries":
        corpus, kwargs["precision"] = codec.encode(x), "int8"
    elif case == "uint8-raw-code-queries":  # cosine: float64 ranking keys behind float32 scores
        corpus, kwargs["precision"] = u8.encode(x), "uint8"
        q = u8.encode(q)
    elif case == "int8-raw-code-queries":
        corpus, kwargs["precision"] = codec.encode(x), "int8"
        q = codec.encode(q)
    elif case == "int8-codec-code-queries":
        corpus, kwargs["codec"] = codec.encode(x), codec
        q = codec.encode(q)
    elif case == "ubinary-float-queries":
        corpus, kwargs["precision"] = bits, "ubinary"
    elif case == "binary-float-queries":
        corpus, kwargs["precision"] = quantlib.quantize(x, "binary"), "binary"
    else:
        corpus, kwargs["precision"] = bits, "ubinary"
        q = quantlib.quantize(q, "ubinary")
    for k in (7,):
        want = quantlib.search(q, corpus, k, **kwargs)
        got = qd.search(q, darr(corpus), k, **kwargs, split_every=2)
        if case.startswith("float") and nq >= 8:
            norms = float((x.astype(np.float64) ** 2).sum(1).max() + (q.astype(np.float64) ** 2).sum(1).max())
            same_under_blas_rule(got, want, atol=1e-6 * norms if metric == "sqeuclidean" else 0.0)
        else:
            same(got, want)


@pytest.mark.parametrize("queries", ["float", "codes"])
def test_hamming_search_and_ties_across_blocks(client, queries):
    x = rows(seed=10)
    bits = quantlib.quantize(x, "ubinary")
    bits[::3] = bits[0]  # a third of the rows equal, in every block: ties decided by the lower row
    q = x[:20] if queries == "float" else bits[:20]
    for k in (1, 10, N):
        want = quantlib.search(q, bits, k, metric="hamming")
        got = qd.search(q, darr(bits), k, metric="hamming")
        same(got, want)
    assert (got[1][0, :10] == np.arange(0, 30, 3)).all()


@pytest.mark.parametrize(("first", "again"), [("ubinary-hamming", "float32"), ("ubinary-cosine", "int8-codec"),
                                              ("int8-dot", "float16"), ("float16-cosine", "float32"),
                                              ("ubinary-sqeuclidean", "int8-codec")])
def test_rescore_across_blocks_equals_one_process(client, first, again):
    x = rows(seed=11)
    q = rows(n=Q, seed=12)
    q[2] = x[10]
    codec = ScalarCodec.fit(x, "int8")
    precision, metric = first.split("-")
    corpus = x.astype(np.float16) if precision == "float16" else quantlib.quantize(x, precision) \
        if precision == "ubinary" else codec.encode(x)
    kwargs = {"metric": metric, "codec": codec} if precision == "int8" else {"metric": metric}
    if precision == "ubinary":
        kwargs["precision"] = "ubinary"
    if again == "float32":
        rescore, drescore = x, darr(x, (500, 500))  # other chunks: rechunked to the corpus's
    elif again == "float16":
        rescore, drescore = x.astype(np.float16), darr(x.astype(np.float16))
    else:
        rescore, drescore = (codec.encode(x), codec), (darr(codec.encode(x)), codec)
    for k, oversample in ((3, 4), (10, 2), (N, 1)):
        want = quantlib.search(q, corpus, k, rescore=rescore, oversample=oversample, **kwargs)
        got = qd.search(q, darr(corpus), k, rescore=drescore, oversample=oversample, **kwargs)
        same(got, want)


def test_search_takes_a_list_of_blocks_and_no_queries(client):
    x = rows(seed=13)
    q = rows(n=3, seed=14)
    same(qd.search(q, [x[:100], darr(x[100:], (300, 600)), x[400:401][:0]], 4), quantlib.search(q, x, 4))
    same(qd.search(q[:0], darr(x), 4), quantlib.search(q[:0], x, 4))
    same(qd.search(q[0], darr(x), 4), quantlib.search(q[0], x, 4))


def _touch_block(block, marker):
    Path(marker).write_text("computed")
    return block


@pytest.mark.parametrize("case", ["axis1", "widths", "dtypes", "k", "queries", "unknown", "precision",
                                  "rescore-rows", "rescore-codes"])
def test_bad_input_raises_before_work_is_sent(client, tmp_path, case):
    x = rows(seed=15)
    marker = tmp_path / "computed"
    corpus = darr(x).map_blocks(_touch_block, str(marker), dtype=x.dtype, meta=np.empty((0, 0), x.dtype))
    q = x[:3]
    if case == "axis1":
        with pytest.raises(ShapeError, match=r"chunk along axis 1.*rechunk"):
            qd.search(q, corpus.rechunk({1: 32}), 5)
        with pytest.raises(ShapeError, match="axis 1"):
            qd.quantize(corpus.rechunk({1: 32}), "int8")
    elif case == "widths":
        with pytest.raises(ShapeError, match="block 1 has rows of width 63"):
            qd.search(q, [corpus[:100], corpus[100:, :63]], 5)
    elif case == "dtypes":
        with pytest.raises(DTypeError, match="block 1 has dtype float16"):
            qd.search(q, [corpus[:100], corpus[100:].astype(np.float16)], 5)
    elif case == "k":
        with pytest.raises(ShapeError, match=rf"at most the number of corpus rows \({N}\)"):
            qd.search(q, corpus, N + 1)
    elif case == "queries":
        with pytest.raises(ShapeError, match="dimension 63 does not match"):
            qd.search(q[:, :63], corpus, 5)
    elif case == "unknown":
        with pytest.raises(ShapeError, match="unknown chunk sizes"):
            qd.search(q, corpus[corpus[:, 0] > 0], 5)
    elif case == "precision":
        with pytest.raises(ConfigError, match="'hamming' scores"):
            qd.search(q, corpus, 5, metric="hamming")
    elif case == "rescore-rows":
        with pytest.raises(ShapeError, match="one row per corpus row"):
            qd.search(q, corpus, 5, rescore=corpus[:-1])
    else:
        codes = da.from_array(ScalarCodec.fit(x).encode(x), chunks=(300, 64))
        with pytest.raises(ShapeError, match="ranges are for dimension 32, got dimension 64"):
            qd.search(q, corpus, 5, rescore=(codes, ScalarCodec.fit(x[:, :32])))
    assert not marker.exists()


# ---------------------------------------------------------------- faults


def _two_workers(client):
    """Back to two workers after a test killed some (a nanny may give up on a worker killed while starting)."""
    client.cluster.scale(2)
    client.wait_for_workers(2, timeout=120)


def _die_once(block, marker):
    """Kill this worker process the first time any block is computed (the marker says it happened)."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return block
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)


def _die_always(block):
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_worker_killed_mid_search_is_replaced_and_the_answer_is_the_same(client, tmp_path):
    _two_workers(client)
    x = rows(seed=16)
    bits = quantlib.quantize(x, "ubinary")
    corpus = darr(bits).map_blocks(_die_once, str(tmp_path / "died"), dtype=bits.dtype,
                                   meta=np.empty((0, 0), bits.dtype))  # meta: never called on the client
    q = x[:Q]
    got = qd.search(q, corpus, 10, metric="hamming", rescore=darr(x))
    assert (tmp_path / "died").exists()  # a worker really died
    same(got, quantlib.search(q, bits, 10, metric="hamming", rescore=x))
    _two_workers(client)


def test_a_block_whose_workers_keep_dying_raises(client):
    x = rows(seed=17)
    corpus = darr(x, (N,)).map_blocks(_die_always, dtype=x.dtype, meta=np.empty((0, 0), x.dtype))
    with pytest.raises(qd.ShardError, match="no partial result"):
        qd.search(x[:2], corpus, 3)
    _two_workers(client)


# ---------------------------------------------------------------- FlatIndex shards


def _shards(tmp_path, name, codec, dim, metric, rescore, x, sizes, ids):
    whole = FlatIndex(codec, dim, metric=metric, rescore=rescore)
    whole.add(x, ids=ids)
    paths = []
    start = 0
    for i, size in enumerate(sizes):
        part = FlatIndex(codec, dim, metric=metric, rescore=rescore)
        part.add(x[start:start + size], ids=ids[start:start + size])
        path = tmp_path / f"{name}-{i}"
        part.save(path)
        paths.append(str(path))
        start += size
    return whole, paths


SIZES = (400, 1, 350, 249)


@pytest.mark.parametrize("config", ["ubinary-hamming-float32", "int8-cosine-float16", "float16-dot-none",
                                    "ubinary-cosine-int8"])
def test_sharded_index_equals_one_flat_index(client, tmp_path, config):
    x = rows(seed=18)
    precision, metric, again = config.split("-")
    codec = ScalarCodec.fit(x, "int8") if precision == "int8" else precision
    rescore = None if again == "none" else ScalarCodec.fit(x, "int8") if again == "int8" else again
    ids = np.arange(N, dtype=np.int64) * 7 + 10**12  # stored ids, not row numbers
    whole, paths = _shards(tmp_path, config, codec, 64, metric, rescore, x, SIZES, ids)
    index = qd.ShardedIndex(paths, client)
    assert len(index) == N and index.counts == list(SIZES) and index.dim == 64
    q = rows(n=Q, seed=19)
    q[0] = x[10]
    for k in (1, 10):
        same(index.search(q, k), whole.search(q, k))
        same(index.search(q, k, rescore=False), whole.search(q, k, rescore=False))
        same(index.search(q, k, oversample=2), whole.search(q, k, oversample=2))
    # each shard was memory-mapped by one worker only, and every shard by some worker
    held = client.run(qd.loaded_shards)
    mine = [p for ps in held.values() for p in ps if p in paths]
    assert sorted(mine) == sorted(paths)


def test_sharded_index_refuses_mismatched_shards_and_bad_queries(client, tmp_path):
    x = rows(seed=20)
    ids = np.arange(N, dtype=np.int64)
    _, a = _shards(tmp_path, "a", "ubinary", 64, "hamming", None, x, (500, 500), ids)
    _, b = _shards(tmp_path, "b", "binary", 64, "hamming", None, x, (500, 500), ids)
    _, c = _shards(tmp_path, "c", "ubinary", 56, "hamming", None, x[:, :56], (500, 500), ids)
    with pytest.raises(ConfigError, match="shard 1 .* has codec"):
        qd.ShardedIndex([a[0], b[1]], client)
    with pytest.raises(ConfigError, match="shard 1 .* has dimension 56"):
        qd.ShardedIndex([a[0], c[1]], client)
    with pytest.raises(FileNotFoundError):
        qd.ShardedIndex([a[0], str(tmp_path / "nothing")], client)
    index = qd.ShardedIndex(a, client)
    before = _search_tasks(client)
    with pytest.raises(ShapeError, match=r"at most the number of corpus rows \(1000\)"):
        index.search(x[:2], 1001)
    with pytest.raises(ShapeError, match="take 7 bytes as bits"):
        index.search(x[:2, :56], 3)
    assert _search_tasks(client) == before  # nothing was sent


def _search_tasks(client):
    def count(dask_scheduler):
        prefix = dask_scheduler.task_prefixes.get("quantlib-shard-search")
        return 0 if prefix is None else sum(prefix.state_counts.values())

    return client.run_on_scheduler(count)


def _die_on_load_once(marker):
    """Make this worker's next shard load kill the process, once (the marker says it happened)."""
    import quantlib.dask._shards as mod  # where _shard_info and _opened look _load_shard up

    real = mod._load_shard

    def load(source):
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return real(source)
        os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)

    mod._load_shard = load


def test_a_shard_worker_killed_mid_search_moves_its_shard(client, tmp_path):
    _two_workers(client)
    x = rows(seed=21)
    ids = np.arange(N, dtype=np.int64) + 100
    whole, paths = _shards(tmp_path, "k", "ubinary", 64, "hamming", "float32", x, (600, 402), ids)
    index = qd.ShardedIndex(paths, client)
    q = x[:Q]
    want = whole.search(q, 10)
    client.run(_die_on_load_once, str(tmp_path / "died"))
    got = index.search(q, 10)
    assert (tmp_path / "died").exists()
    same(got, want)
    _two_workers(client)


def test_a_shard_saved_again_after_opening_is_refused(client, tmp_path):
    x = rows(seed=22)
    ids = np.arange(N, dtype=np.int64)
    _, paths = _shards(tmp_path, "s", "ubinary", 64, "hamming", None, x, (500, 500), ids)
    index = qd.ShardedIndex(paths, client)
    index.search(x[:2], 3)
    again = FlatIndex("ubinary", 64, metric="hamming")
    again.add(x[:10], ids=np.arange(10))
    again.save(paths[1])
    with pytest.raises(qd.ShardError, match="shard 1 .* changed on disk"):
        index.search(x[:2], 3)


# ---------------------------------------------------------------- Parquet shards

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
from quantlib.stores import arrow  # noqa: E402


def _parquet_shards(directory, name, x, sizes, *, precision, metric, rescore=None, ids=None, row_group_size=None):
    """Parquet files of ``x``'s rows split by ``sizes``; and the one-process search of all the rows.

    ``precision``: a codec or precision name for the vector column; ``rescore``: None, a precision name or a
    codec for the rescoring column.  Returns (paths, search), ``search(q, k, **kw)`` being quantlib.search of
    the concatenated rows with their ids mapped through ``ids``.
    """
    def encode(spec):
        if isinstance(spec, ScalarCodec):
            return spec.encode(x), {"codec": spec}
        if spec in ("float32", "float16"):
            return x.astype(spec), {}
        if spec in ("int8", "uint8"):  # raw codes, as a provider returns them: no codec recorded
            return ScalarCodec.fit(x, spec).encode(x), {"precision": spec}
        return quantlib.quantize(x, spec), {"precision": spec, "dim": x.shape[1]}

    values, vkw = encode(precision)
    rvalues, rkw = encode(rescore) if rescore is not None else (None, {})
    paths, start = [], 0
    for i, size in enumerate(sizes):
        cols = {}
        if ids is not None:
            cols["doc_id"] = ids[start:start + size]
        table = arrow.to_table(values[start:start + size], **vkw, columns=cols)
        if rescore is not None:
            part = rvalues[start:start + size]
            table = table.append_column(arrow.field("full", part, **rkw), arrow.to_arrow(part, **rkw))
        path = Path(directory) / f"{name}-{i}.parquet"
        pq.write_table(table, path, row_group_size=row_group_size)
        paths.append(str(path))
        start += size

    def search(q, k, *, oversample=4, rescore=True):
        kwargs = dict(vkw)
        if rescore and rvalues is not None:
            kwargs["rescore"] = (rvalues, rkw["codec"]) if "codec" in rkw else rvalues
        scores, rows_ = quantlib.search(q, values, k, metric=metric, oversample=oversample, **kwargs)
        return scores, (rows_ if ids is None else ids[rows_])

    return paths, search


PARQUET_CASES = ["ubinary-hamming-float32-ids", "int8codec-cosine-float16-ids", "float16-dot-none-rows",
                 "binary-cosine-int8codec-rows", "int8-dot-float32-rows", "float32-cosine-none-ids"]


@pytest.mark.parametrize("case", PARQUET_CASES)
def test_parquet_shards_equal_quantlib_search_on_all_rows(client, tmp_path, case):
    x = rows(seed=23)  # rows 10, 400 and 700 equal: ties across shards 0, 1 and 2 of SIZES
    precision, metric, again, named = case.split("-")
    codec = ScalarCodec.fit(x, "int8")
    precision = codec if precision == "int8codec" else precision
    again = None if again == "none" else codec if again == "int8codec" else again
    ids = np.arange(N, dtype=np.int64)[::-1] * 3 + 10**12 if named == "ids" else None
    paths, search = _parquet_shards(tmp_path, case, x, SIZES, precision=precision, metric=metric,
                                    rescore=again, ids=ids, row_group_size=128)  # several row groups per file
    index = qd.ShardedIndex.from_parquet(paths, client, metric=metric, rescore_column=again and "full",
                                         id_column="doc_id" if named == "ids" else None)
    assert len(index) == N and index.counts == list(SIZES) and index.dim == 64 and index.metric == metric
    q = rows(n=Q, seed=24)
    q[0] = x[10]  # its best rows tie across three shards: the lower row first
    for k in (1, 10):
        same(index.search(q, k), search(q, k))
        same(index.search(q, k, rescore=False), search(q, k, rescore=False))
        same(index.search(q, k, oversample=2), search(q, k, oversample=2))
    if metric != "hamming":
        _, got = index.search(q[:1], 3, rescore=False)
        want = np.array([10, 400, 700]) if ids is None else ids[[10, 400, 700]]
        assert (got[0] == want).all()
    held = client.run(qd.loaded_shards)  # each file read by one worker, every file by some worker
    mine = [p for ps in held.values() for p in ps if p in paths]
    assert sorted(mine) == sorted(paths)


def _chdir(path):
    os.chdir(path)
    return os.getcwd()


def test_parquet_files_are_read_by_the_workers_only(client, tmp_path, monkeypatch):
    """The files exist only relative to the workers' working directory, and the client cannot open Parquet."""
    x = rows(seed=25)
    where = tmp_path / "workers-only"
    where.mkdir()
    paths, search = _parquet_shards(where, "w", x, (600, 400), precision="ubinary", metric="hamming",
                                    rescore="float32")
    names = [Path(p).name for p in paths]  # relative: no such files in the client's working directory
    assert not any(Path(n).exists() for n in names)
    for fn in ("read_table", "read_schema", "ParquetFile", "read_metadata"):
        monkeypatch.setattr(pq, fn, _client_must_not_read)
    before = client.run(os.getcwd)
    client.run(_chdir, str(where))
    try:
        index = qd.ShardedIndex.from_parquet(names, client, metric="hamming", rescore_column="full")
        q = x[:Q]
        same(index.search(q, 10), search(q, 10))
    finally:
        for addr, cwd in before.items():
            client.run(_chdir, cwd, workers=[addr])


def _client_must_not_read(*args, **kwargs):
    raise AssertionError("the client read a Parquet file")


def test_parquet_shards_refuse_mixed_codecs_dimensions_and_missing_columns(client, tmp_path):
    x = rows(seed=26)
    a, _ = _parquet_shards(tmp_path, "a", x, (500, 500), precision="ubinary", metric="hamming")
    b, _ = _parquet_shards(tmp_path, "b", x, (500, 500), precision="binary", metric="hamming")
    c, _ = _parquet_shards(tmp_path, "c", x[:, :56], (500, 500), precision="ubinary", metric="hamming")
    i8, _ = _parquet_shards(tmp_path, "i8", x, (500, 500), precision=ScalarCodec.fit(x), metric="dot")
    other, _ = _parquet_shards(tmp_path, "o", x, (500, 500), precision=ScalarCodec.fit(x[:500]), metric="dot")
    r, _ = _parquet_shards(tmp_path, "r", x, (500, 500), precision="ubinary", metric="hamming", rescore="float32",
                           ids=np.arange(N))
    r16, _ = _parquet_shards(tmp_path, "r16", x, (500, 500), precision="ubinary", metric="hamming",
                             rescore="float16", ids=np.arange(N))
    with pytest.raises(ConfigError, match="shard 1 .* has codec"):
        qd.ShardedIndex.from_parquet([a[0], b[1]], client, metric="hamming")
    with pytest.raises(ConfigError, match="shard 1 .* has dimension 56"):
        qd.ShardedIndex.from_parquet([a[0], c[1]], client, metric="hamming")
    with pytest.raises(ConfigError, match="shard 1 .* has codec"):  # int8 codes of other ranges
        qd.ShardedIndex.from_parquet([i8[0], other[1]], client, metric="dot")
    with pytest.raises(ConfigError, match="shard 1 .* has rescoring codec"):
        qd.ShardedIndex.from_parquet([r[0], r16[1]], client, metric="hamming", rescore_column="full")
    with pytest.raises(ConfigError, match=r"column: the Parquet file .*a-[01].parquet has no column 'vec'; "
                                          r"its columns are \['vector'\]"):
        qd.ShardedIndex.from_parquet(a, client, column="vec", metric="hamming")
    with pytest.raises(ConfigError, match="rescore_column: .* has no column 'full'"):
        qd.ShardedIndex.from_parquet(a, client, rescore_column="full", metric="hamming")
    with pytest.raises(ConfigError, match="id_column: .* has no column 'doc_id'"):
        qd.ShardedIndex.from_parquet(a, client, id_column="doc_id", metric="hamming")
    with pytest.raises(ConfigError, match="metadata"):  # the id column is no vector column
        qd.ShardedIndex.from_parquet(r, client, column="doc_id", metric="hamming")
    wide, _ = _parquet_shards(tmp_path, "wide", x, (500, 500), precision="ubinary", metric="hamming")
    for path in wide:  # a rescoring column of 32 dimensions beside 64-bit codes
        table = pq.read_table(path)
        short = np.ascontiguousarray(x[:table.num_rows, :32])
        pq.write_table(table.append_column(arrow.field("full", short), arrow.to_arrow(short)), path)
    with pytest.raises(ShapeError, match="rescore_column: column 'full' .* has dimension 32, the vector column"):
        qd.ShardedIndex.from_parquet(wide, client, rescore_column="full", metric="hamming")
    with pytest.raises(DTypeError, match="id_column: column 'full' .* expected integers"):
        qd.ShardedIndex.from_parquet(r, client, id_column="full", metric="hamming")
    with pytest.raises(FileNotFoundError, match="no Parquet file"):
        qd.ShardedIndex.from_parquet([a[0], str(tmp_path / "nothing.parquet")], client, metric="hamming")
    with pytest.raises(ConfigError, match="'hamming' scores"):
        qd.ShardedIndex.from_parquet(i8, client, metric="hamming")
    with pytest.raises(ConfigError, match="expected different columns"):
        qd.ShardedIndex.from_parquet(r, client, id_column="vector", metric="hamming")
    index = qd.ShardedIndex.from_parquet(r, client, metric="hamming", rescore_column="full", id_column="doc_id")
    with pytest.raises(ShapeError, match=r"at most the number of corpus rows \(1000\)"):
        index.search(x[:2], 1001)
    with pytest.raises(DTypeError, match="rescoring needs float queries"):
        index.search(quantlib.quantize(x[:2], "ubinary"), 3)


def test_a_parquet_shard_rewritten_after_opening_is_refused(client, tmp_path):
    x = rows(seed=27)
    paths, _ = _parquet_shards(tmp_path, "s", x, (500, 500), precision="ubinary", metric="hamming")
    index = qd.ShardedIndex.from_parquet(paths, client, metric="hamming")
    index.search(x[:2], 3)
    pq.write_table(arrow.to_table(quantlib.quantize(x[:10], "ubinary"), precision="ubinary", dim=64),
                   paths[1] + ".new")
    os.replace(paths[1] + ".new", paths[1])  # replaced whole: the worker's open copy stays the old file's
    with pytest.raises(qd.ShardError, match="shard 1 .* changed on disk"):
        index.search(x[:2], 3)


@pytest.mark.parametrize("case", ["rescore-width", "rescore-codes", "oversample", "rank"])
def test_bad_queries_get_the_first_error_quantlib_search_gives(case):
    """The client-side checks are quantlib.search's own (its query checks, in its order), not a copy."""
    x = rows(60, 8, seed=31)
    queries, kwargs = {
        "rescore-width": (x[:2, :5], {"rescore": x}),  # fits neither the rows nor the rescoring rows
        "rescore-codes": (quantlib.quantize(x[:2], "ubinary"), {"rescore": x}),
        "oversample": (x[:2], {"rescore": x, "oversample": 0}),
        "rank": (x[None, :2], {}),
    }[case]
    with pytest.raises(quantlib.QuantlibError) as want:
        quantlib.search(queries, x, 3, **kwargs)
    if "rescore" in kwargs:
        kwargs["rescore"] = darr(kwargs["rescore"], (25, 35))
    with pytest.raises(type(want.value)) as got:  # raised on the client, before any task: no cluster needed
        qd.search(queries, darr(x, (25, 35)), 3, **kwargs)
    assert str(got.value) == str(want.value)


def test_the_package_is_split_into_small_modules_that_keep_every_name():
    """Issue 23: no module over about 700 lines; every public name still comes from quantlib.dask."""
    sizes = {f.name: len(f.read_text().splitlines()) for f in Path(qd.__file__).parent.glob("*.py")}
    assert max(sizes.values()) <= 700, sizes
    for name in (*qd.__all__, "loaded_shards"):
        assert callable(getattr(qd, name)), name
