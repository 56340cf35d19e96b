"""Scale-out on Dask: sharded exact search and blockwise quantization, 1 worker process against 2.

Not an asv suite (it starts clusters of worker processes): run it by hand, it prints medians and ratios::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_dask.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_dask.py --search-rows 200000

Fair comparison: every worker process runs one task at a time on one numba thread
(``threads_per_worker=1``, ``NUMBA_NUM_THREADS=1`` inherited by the workers), and the
in-process baseline calls :func:`quantlib.set_num_threads` (1) first, so "2 workers" is
two cores against one.

- search: 100 queries, top-10, Hamming, over ``--search-rows`` x 1024-bit codes held in 2
  FlatIndex shards (:class:`quantlib.dask.ShardedIndex`, each memory-mapped by its worker);
  also the same codes as a persisted Dask array of 2 blocks (:func:`quantlib.dask.search`).
  Baseline: ``quantlib.search`` of the whole array in this process.
- quantize: ``--quantize-rows`` x 1024 float32 (generated on the workers and persisted there)
  to int8 with a Dask calibration pass (:func:`quantlib.dask.quantize`), the codes persisted
  on the workers (not gathered).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _median(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--search-rows", type=int, default=2_000_000)
    parser.add_argument("--quantize-rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--skip-quantize", action="store_true")
    parser.add_argument("--skip-search", action="store_true")
    args = parser.parse_args(argv)

    os.environ["NUMBA_NUM_THREADS"] = "1"  # the workers inherit it: one numba thread each
    import dask.array as da
    import distributed

    import quantlib
    import quantlib.dask as qd

    quantlib.set_num_threads(1)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}", flush=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
        if not args.skip_search:
            n, width = args.search_rows, 128
            rng = np.random.default_rng(20261207)
            codes = np.frombuffer(rng.bytes(n * width), np.uint8).reshape(n, width)
            queries = np.frombuffer(rng.bytes(100 * width), np.uint8).reshape(100, width)
            half = n // 2
            paths = []
            for i, part in enumerate((codes[:half], codes[half:])):
                index = quantlib.FlatIndex("ubinary", 8 * width, metric="hamming")
                index.add(part, ids=np.arange(i * half, i * half + len(part)))
                paths.append(f"{tmp}/shard-{i}")
                index.save(paths[-1])
                del index
            want = quantlib.search(queries, codes, 10, metric="hamming")
            base, _ = _median(lambda: quantlib.search(queries, codes, 10, metric="hamming"), args.repeat)
            results["search in-process (1 thread)"] = base
            print(f"search, in process, 1 thread: {base:.3f} s", flush=True)
            for workers in (1, 2):
                with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                              dashboard_address=None, silence_logs=40) as cluster, \
                        distributed.Client(cluster) as client:
                    sharded = qd.ShardedIndex(paths, client)
                    got = sharded.search(queries, 10)
                    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
                    t, _ = _median(lambda: sharded.search(queries, 10), args.repeat)  # noqa: B023
                    results[f"search ShardedIndex, {workers} worker(s)"] = t
                    x = client.persist(da.from_array(codes, chunks=(half, width)))
                    distributed.wait(x)
                    got = qd.search(queries, x, 10, metric="hamming")
                    assert np.array_equal(got[1], want[1])
                    # new queries each time: Dask would otherwise reuse the results of identical tasks
                    fresh = iter([np.frombuffer(rng.bytes(100 * width), np.uint8).reshape(100, width)
                                  for _ in range(args.repeat)])
                    ta, _ = _median(lambda: qd.search(next(fresh), x, 10, metric="hamming"), args.repeat)  # noqa: B023
                    results[f"search Dask array, {workers} worker(s)"] = ta
                    print(f"search, {workers} worker(s): ShardedIndex {t:.3f} s, Dask array {ta:.3f} s", flush=True)
                    del x
            del codes
        if not args.skip_quantize:
            n, d = args.quantize_rows, 1024
            chunk = 100_000
            for workers in (1, 2):
                with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                              dashboard_address=None, silence_logs=40) as cluster, \
                        distributed.Client(cluster) as client:
                    rng = da.random.default_rng(20261208)
                    x = client.persist(rng.standard_normal((n, d), chunks=(chunk, d), dtype=np.float32))
                    distributed.wait(x)

                    def run(x=x, client=client):
                        codes = client.persist(qd.quantize(x, "int8"))
                        distributed.wait(codes)
                        del codes

                    run()
                    t, _ = _median(run, max(3, args.repeat // 2))
                    results[f"quantize int8, {workers} worker(s)"] = t
                    print(f"quantize int8 with calibration, {workers} worker(s): {t:.3f} s", flush=True)
                    del x
    print()
    for key, value in results.items():
        print(f"{key:45s} {value:8.3f} s")
    if not args.skip_search:
        one = results["search ShardedIndex, 1 worker(s)"]
        print(f"search ShardedIndex: 2 workers over 1: {one / results['search ShardedIndex, 2 worker(s)']:.2f}x; "
              f"1 worker over in-process: {one / results['search in-process (1 thread)']:.2f}x the time")
        one_a = results["search Dask array, 1 worker(s)"]
        print(f"search Dask array: 2 workers over 1: {one_a / results['search Dask array, 2 worker(s)']:.2f}x; "
              f"1 worker over in-process: {one_a / results['search in-process (1 thread)']:.2f}x the time")
    if not args.skip_quantize:
        print(f"quantize: 2 workers over 1: "
              f"{results['quantize int8, 1 worker(s)'] / results['quantize int8, 2 worker(s)']:.2f}x")


if __name__ == "__main__":
    main()
