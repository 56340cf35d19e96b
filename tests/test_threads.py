"""Threads: kernels release the GIL; many threads calling quantlib at once get the serial results.

A server calls quantlib from many threads.  These tests check that every
kernel is compiled ``nogil`` (and that a running kernel really lets other
Python code run), that eight threads calling search, pairwise, MaxSim, sparse
search, the codecs and base64 decoding on shared inputs, in a shuffled order,
get exactly what one thread gets, on the serial and on the parallel kernels,
and that eight threads making the first, compiling call of a kernel at the
same moment are safe too.  Throughput per thread count is in
benchmarks/bench_threads.py.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import random
import subprocess
import sys
import threading
import time

import numba
import numpy as np
from numba.core.registry import CPUDispatcher

import quantlib as ql
import quantlib._kernels as kernels_pkg
import quantlib._kernels._config as C
from quantlib._kernels import _config
from quantlib._kernels import dense as KD

THREADS = 8


def _dispatchers():
    for info in pkgutil.iter_modules(kernels_pkg.__path__):
        module = importlib.import_module(f"quantlib._kernels.{info.name}")
        for name, obj in vars(module).items():
            if isinstance(obj, CPUDispatcher) and obj.__module__ == module.__name__:
                yield f"{info.name}.{name}", obj


def test_every_kernel_is_compiled_nogil():
    seen = 0
    for name, dispatcher in _dispatchers():
        options = dispatcher.targetoptions
        if options.get("inline") == "always":
            continue  # inlined into its callers, which carry the flag; never called on its own
        assert options.get("nogil") is True, f"{name} holds the GIL"
        seen += 1
    assert seen >= 40  # the kernels were found (a rename of the package layout must not pass silently)


def test_a_running_kernel_lets_other_threads_run():
    # While a worker sits inside long kernel calls (float16 rows, 0.1-0.2 s each), this thread keeps
    # stamping the time.  Only the middle half of each call counts: at its edges the worker runs
    # Python, where the two threads take turns on the GIL anyway.  A kernel that held the GIL would
    # leave no stamp there at all (checked by hand with njit(nogil=False): 0 stamps, against ~1700).
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4000, 256)).astype(np.float16).view(np.uint16)
    W = rng.standard_normal((1024, 256)).astype(np.float32)
    A, B = np.ones(1024, np.float32), np.zeros(1024, np.float32)
    RS, RB = np.ones(4000, np.float32), np.zeros(4000, np.float32)
    out = np.empty((1024, 4000), np.float32)
    KD.scores_range(W, X, A, B, RS, RB, 0, 64, 64, out)  # compile outside the measurement
    windows = []
    done = threading.Event()

    def worker():
        while sum(b - a for a, b in windows) < 0.45:
            t0 = time.perf_counter()
            KD.scores_range(W, X, A, B, RS, RB, 0, X.shape[0], 512, out)
            windows.append((t0, time.perf_counter()))
        done.set()

    ticks = [0.0]
    thread = threading.Thread(target=worker)
    thread.start()
    while not done.is_set():
        now = time.perf_counter()
        if now - ticks[-1] > 1e-4:  # a stamp every 0.1 ms of this thread's progress
            ticks.append(now)
    thread.join()
    inside = sum(1 for t in ticks for a, b in windows if a + (b - a) / 4 < t < b - (b - a) / 4)
    assert inside > 100, f"{inside} stamps of this thread inside {len(windows)} kernel calls"


# --------------------------------------------------------------------------- same answers from many threads


def _workloads():
    """name -> a call on fixed shared inputs; each returns arrays (compared exactly)."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((6000, 96)).astype(np.float32)
    q = rng.standard_normal((9, 96)).astype(np.float32)
    codec = ql.ScalarCodec.fit(x, "int8")
    codes = codec.encode(x)
    bits = ql.quantize(x, "ubinary")
    flat = ql.FlatIndex("ubinary", 96, metric="cosine", rescore="float16")
    flat.add(x, ids=np.arange(6000) * 3)
    calibrated = ql.FlatIndex(codec, 96, metric="cosine")
    calibrated.add(x)
    docs = ql.MultiVectorBatch.from_arrays([rng.standard_normal((int(n), 32)).astype(np.float32)
                                            for n in rng.integers(1, 20, 400)])
    doc_bits = docs.quantize("ubinary")
    query_tokens = rng.standard_normal((6, 32)).astype(np.float32)
    vocab = 3000
    sparse_rows = [dict(zip(rng.choice(vocab, 30, replace=False).tolist(),
                            rng.random(30).astype(np.float32).tolist(), strict=True)) for _ in range(3000)]
    corpus = ql.SparseBatch.from_dicts(sparse_rows, vocab_size=vocab)
    sparse_index = ql.SparseIndex(corpus, metric="cosine")
    sparse_queries = ql.SparseBatch.from_dicts(sparse_rows[:7], vocab_size=vocab)
    text = ql.b64encode(x[:300])  # long enough for the base64 kernel (>= 16384 characters)
    half = x[:2000]
    batch = np.random.default_rng(12).standard_normal((20, 96)).astype(np.float32)  # >= WIDE_MIN_QUERIES
    return {
        "flat index, bits + float16 rescoring": lambda: flat.search(q, 10),
        "flat index, calibrated int8": lambda: calibrated.search(q, 10),
        "search float32, BLAS blocks": lambda: ql.search(q, x, 7, metric="dot"),
        "search float32, one query": lambda: ql.search(q[0], x, 7),
        "search int8 codes with codec": lambda: ql.search(q, codes, 5, codec=codec),
        "search hamming": lambda: ql.search(bits[:5], bits, 8, metric="hamming"),
        "search float vs bits": lambda: ql.search(q, bits, 8, metric="cosine", precision="ubinary"),
        "search float vs bits, int16 stage": lambda: ql.search(batch, bits, 8, metric="cosine", precision="ubinary"),
        "search float vs bits, plane stage": lambda: ql.search(q[:2], bits, 8, metric="cosine", precision="ubinary"),
        "pairwise int8 codes": lambda: ql.pairwise(codes[:4], codes, "dot", precision="int8"),
        "maxsim": lambda: ql.maxsim(query_tokens, docs),
        "maxsim_search bits + rescore": lambda: ql.maxsim_search(query_tokens, doc_bits, 5, rescore=docs),
        "sparse_search": lambda: sparse_index.search(sparse_queries, 6),
        "encode int8": lambda: codec.encode(half),
        "encode ubinary": lambda: ql.quantize(half, "ubinary"),
        "encode float16": lambda: ql.quantize(half, "float16"),
        "decode int8": lambda: codec.decode(codes[:2000]),
        "b64decode": lambda: ql.b64decode(text, "float32", dim=96),
        "truncate": lambda: ql.truncate(half, 64),
    }


def _as_arrays(result):
    return [np.asarray(r) for r in (result if isinstance(result, tuple) else (result,))]


def _same(a, b) -> bool:
    return all(x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
               for x, y in zip(_as_arrays(a), _as_arrays(b), strict=True))


def _hammer(workloads, rounds: int) -> list[str]:
    """Run every workload ``rounds`` times in each of THREADS threads, shuffled; the mismatches."""
    serial = {name: call() for name, call in workloads.items()}
    for name, call in workloads.items():  # the serial answer does not depend on the call either
        assert _same(call(), serial[name]), name
    barrier = threading.Barrier(THREADS)
    failures: list[str] = []

    def worker(seed: int) -> None:
        order = [name for name in workloads for _ in range(rounds)]
        random.Random(seed).shuffle(order)
        barrier.wait()
        for name in order:
            try:
                if not _same(workloads[name](), serial[name]):
                    failures.append(f"thread {seed}: {name} differs from the serial result")
            except Exception as exc:  # noqa: BLE001 - report every failure, from every thread
                failures.append(f"thread {seed}: {name} raised {exc!r}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return failures


def test_threads_get_the_serial_results():
    assert _hammer(_workloads(), rounds=3) == []


def test_threads_get_the_serial_results_on_the_parallel_kernels(monkeypatch):
    # every scan and codec above takes its parallel (prange) path, launched from 8 threads at once
    monkeypatch.setattr(C, "PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(C, "MIN_CHUNK_ROWS", 1)
    monkeypatch.setattr(_config, "PARALLEL_MIN_ELEMENTS", 0)
    before = numba.get_num_threads()
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    try:
        workloads = _workloads()
        assert _hammer(workloads, rounds=1) == []
    finally:
        numba.set_num_threads(before)
    # numba's workqueue layer aborts the process on concurrent parallel launches; had it been
    # chosen we would not be here (docs/guarantees.md says what to do there)
    assert numba.threading_layer() in ("omp", "tbb")


def test_index_searched_right_after_add_from_many_threads():
    # the first searches after add() join the pending rows: exactly once, whatever the interleaving
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3000, 24)).astype(np.float32)
    for trial in range(5):
        index = ql.FlatIndex("float32", 24, metric="dot")
        for part in np.array_split(x, 7):
            index.add(part)
        want = ql.search(x[:3], x, 4, metric="dot")
        results = [None] * THREADS
        barrier = threading.Barrier(THREADS)

        def worker(i, index=index, barrier=barrier, results=results):
            barrier.wait()
            results[i] = index.search(x[:3], 4)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(index) == 3000, trial
        assert all(_same(r, want) for r in results), trial


_FIRST_CALLS = """
import sys, threading
import numpy as np
import quantlib as ql

rng = np.random.default_rng(3)
x = rng.standard_normal((500, 40)).astype(np.float32)
codec = ql.ScalarCodec.fit(x, "int8")
calls = {
    "int8": lambda: codec.encode(x),
    "ubinary": lambda: ql.quantize(x, "ubinary"),
    "decode": lambda: codec.decode(np.arange(-128, 128, dtype=np.int8).reshape(8, 32)[:, :1].repeat(40, 1)),
}
barrier = threading.Barrier(8)
got, errors = {}, []

def worker(i):
    barrier.wait()
    try:
        for name in sorted(calls, key=lambda n: (hash(n) + i) % 7):
            got[(i, name)] = calls[name]()
    except Exception as exc:
        errors.append(repr(exc))

threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
for t in threads: t.start()
for t in threads: t.join()
assert not errors, errors
for (i, name), value in got.items():
    want = calls[name]()
    parts = value if isinstance(value, tuple) else (value,)
    wparts = want if isinstance(want, tuple) else (want,)
    assert all(np.array_equal(a, b) for a, b in zip(parts, wparts)), (i, name)
print(len(got))
"""


def test_concurrent_first_calls_compile_safely(tmp_path):
    # a fresh numba cache: the 8 threads' first calls all compile (or wait for the one that does)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    run = subprocess.run([sys.executable, "-c", _FIRST_CALLS], env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == str(8 * 3)
    assert any((tmp_path / "cache").rglob("*.nbi"))  # it did compile and cache, from the threads


def test_thread_setting_is_per_thread():
    # quantlib.set_num_threads is numba's per-thread setting: a worker's choice leaves the others alone,
    # which is how a server keeps each request thread on the serial kernels (benchmarks/bench_threads.py)
    before = ql.get_num_threads()
    seen = []

    def worker():
        ql.set_num_threads(1)
        seen.append(ql.get_num_threads())

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [1] and ql.get_num_threads() == before
