"""Time the same asv ``time_*`` benchmarks on two source trees, interleaved, in one run.

One long-lived worker process per tree (``PYTHONPATH`` = that tree, its own
``NUMBA_CACHE_DIR``) imports that tree's ``benchmarks.<module>``, so each side
runs its own benchmark code.  The parent sets a benchmark class up on both
sides (concurrently; nothing is timed then), makes one untimed warm-up call
per method per side, then asks the workers in turn (A, B, B, A, A, B, ...) to
time one call each, so both sides see the same machine load.  Reports medians
and the after/before ratio; benchmarks present on one side only are listed
and skipped.

    python benchmarks/compare_revisions.py BEFORE_TREE AFTER_TREE \
        [--modules bench_search bench_codecs ...] [--only Class.method] \
        [--rounds 7] [--json out.jsonl] [--max-params 4] [--skip time_numpy time_scipy]

Workers run under ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE``.
Not an asv benchmark itself (asv only collects ``bench_*`` modules).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import threading
import time

DEFAULT_MODULES = ["bench_search", "bench_codecs", "bench_encoding", "bench_multivector", "bench_sparse"]


# ----------------------------------------------------------------------------- worker side


def _param_combos(cls) -> list[tuple]:
    params = getattr(cls, "params", None)
    if params is None:
        return [()]
    params = list(params)
    if params and all(isinstance(p, (list, tuple)) for p in params):
        return [tuple(c) for c in itertools.product(*params)]
    return [(p,) for p in params]


def _worker() -> None:
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]
    tree = os.environ["COMPARE_TREE"]
    import quantlib

    assert os.path.abspath(quantlib.__file__).startswith(os.path.abspath(tree)), quantlib.__file__
    instance = None
    out = sys.stdout
    sys.stdout = sys.stderr  # benchmark prints must not corrupt the pipe
    for line in sys.stdin:
        req = json.loads(line)
        op = req["op"]
        try:
            if op == "list":
                mod = importlib.import_module(f"benchmarks.{req['module']}")
                found = []
                for name, cls in vars(mod).items():
                    if not isinstance(cls, type) or cls.__module__ != mod.__name__:
                        continue
                    methods = sorted(m for m in dir(cls) if m.startswith("time_"))
                    if methods:
                        found.append({"cls": name, "methods": methods,
                                      "combos": [list(c) for c in _param_combos(cls)]})
                reply = {"ok": True, "benchmarks": found}
            elif op == "setup":
                mod = importlib.import_module(f"benchmarks.{req['module']}")
                instance = None
                gc.collect()
                instance = getattr(mod, req["cls"])()
                args = tuple(req["params"])
                t0 = time.perf_counter()
                if hasattr(instance, "setup"):
                    instance.setup(*args)
                instance._compare_args = args
                reply = {"ok": True, "setup_s": time.perf_counter() - t0}
            elif op == "time":
                fn = getattr(instance, req["method"])
                args = instance._compare_args
                gc.collect()
                gc.disable()
                try:
                    t0 = time.perf_counter()
                    fn(*args)
                    dt = time.perf_counter() - t0
                finally:
                    gc.enable()
                reply = {"ok": True, "t": dt}
            elif op == "teardown":
                if instance is not None and hasattr(instance, "teardown"):
                    instance.teardown(*instance._compare_args)
                instance = None
                gc.collect()
                reply = {"ok": True}
            else:
                reply = {"ok": False, "error": f"unknown op {op}"}
        except Exception as exc:  # report, keep serving
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


# ----------------------------------------------------------------------------- parent side


class Worker:
    def __init__(self, label: str, tree: str, cache: str):
        self.label = label
        env = dict(os.environ)
        for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
            env.pop(k, None)
        env.update(PYTHONPATH=tree, NUMBA_CACHE_DIR=cache, COMPARE_TREE=tree)
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)

    def ask(self, **req) -> dict:
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.label} died")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def _both(a: Worker, b: Worker, **req) -> tuple[dict, dict]:
    """Send the same request to both workers concurrently (setup only: nothing is timed)."""
    res = {}
    threads = [threading.Thread(target=lambda w=w: res.__setitem__(w.label, w.ask(**req))) for w in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return res[a.label], res[b.label]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("--modules", nargs="*", default=DEFAULT_MODULES)
    p.add_argument("--only", nargs="*", default=None, help="Class or Class.method or Class.method[params]")
    p.add_argument("--skip", nargs="*", default=[], help="method name prefixes to leave out (e.g. time_numpy)")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--max-params", type=int, default=0, help="cap parameter combos per class (0: all)")
    p.add_argument("--cache-prefix", default="/work/numba-cache-perf")
    p.add_argument("--json", default=None)
    args = p.parse_args()

    before = Worker("before", args.before, args.cache_prefix + "-before")
    after = Worker("after", args.after, args.cache_prefix + "-after")
    log = open(args.json, "a") if args.json else None
    rows = []
    try:
        for module in args.modules:
            lb, la = _both(before, after, op="list", module=module)
            if not (lb["ok"] and la["ok"]):
                print(f"# {module}: list failed: {lb} {la}", flush=True)
                continue
            bmap = {(d["cls"], m): d for d in lb["benchmarks"] for m in d["methods"]}
            amap = {(d["cls"], m): d for d in la["benchmarks"] for m in d["methods"]}
            for key in sorted(set(bmap) ^ set(amap)):
                side = "after" if key in amap else "before"
                print(f"# SKIP {module}.{key[0]}.{key[1]}: only in {side}", flush=True)
            for d in la["benchmarks"]:
                cls = d["cls"]
                methods = [m for m in d["methods"] if (cls, m) in bmap and not m.startswith(tuple(args.skip))]
                combos = [c for c in d["combos"] if c in bmap[(cls, methods[0])]["combos"]] if methods else []
                if args.max_params and len(combos) > args.max_params:
                    print(f"# {cls}: {len(combos)} combos, capped to {combos[:args.max_params]}", flush=True)
                    combos = combos[:args.max_params]
                for combo in combos:
                    wanted = methods
                    if args.only is not None:
                        tag = f"[{','.join(map(str, combo))}]" if combo else ""
                        wanted = [m for m in methods if cls in args.only or f"{cls}.{m}" in args.only
                                  or f"{cls}.{m}{tag}" in args.only]
                    if not wanted:
                        continue
                    sb, sa = _both(before, after, op="setup", module=module, cls=cls, params=combo)
                    if not (sb["ok"] and sa["ok"]):
                        print(f"# {module}.{cls}{combo}: setup failed: {sb} {sa}", flush=True)
                        _both(before, after, op="teardown")
                        continue
                    for m in wanted:
                        warm = []
                        for w in (before, after):
                            r = w.ask(op="time", method=m)
                            if not r["ok"]:
                                warm = None
                                print(f"# {cls}.{m}{combo}: {w.label} failed: {r['error']}", flush=True)
                                break
                            warm.append(r["t"])
                        if warm is None:
                            continue
                        slow = max(warm)
                        rounds = args.rounds if slow < 2 else (5 if slow < 6 else 3)
                        tb, ta = [], []
                        for i in range(rounds):
                            order = (before, after) if i % 2 == 0 else (after, before)
                            for w in order:
                                r = w.ask(op="time", method=m)
                                (tb if w is before else ta).append(r["t"])
                        mb, ma = statistics.median(tb), statistics.median(ta)
                        row = {"module": module, "cls": cls, "method": m, "params": combo, "rounds": rounds,
                               "before": mb, "after": ma, "ratio": ma / mb, "tb": tb, "ta": ta,
                               "time": time.strftime("%H:%M:%S", time.gmtime())}
                        rows.append(row)
                        flag = "" if 0.9 <= row["ratio"] <= 1.1 else "  <-- outside 0.9-1.1"
                        print(f"{module}.{cls}.{m} {combo or ''}: before {mb*1e3:.3f} ms, after {ma*1e3:.3f} ms,"
                              f" ratio {row['ratio']:.3f} (n={rounds}){flag}", flush=True)
                        if log:
                            log.write(json.dumps(row) + "\n")
                            log.flush()
                    _both(before, after, op="teardown")
    finally:
        before.close()
        after.close()
        if log:
            log.close()


if __name__ == "__main__":
    if "--worker" in sys.argv:
        _worker()
    else:
        main()
