"""``quantlib eval``: recall, size and speed of every format, as a table, JSON or a plot, with a notice
while numba compiles.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from ._common import EXIT_OK, EXIT_USAGE, CliError, _positive, _rows, progress
from ._files import _has_key, _output, load_float_matrix


def cmd_eval(args: argparse.Namespace) -> int:
    from ..evaluation import evaluate, format_recommendations, format_table, recommend

    _positive(args.oversample, "--oversample")
    _positive(args.n_queries, "--n-queries")
    answers = None
    if args.embeddings is None:
        if args.queries:
            raise CliError("--queries: give EMBEDDINGS too (the bundled sample has its own queries)", EXIT_USAGE)
        from ..sample import load_sample

        sample = load_sample()
        docs, queries, answers = sample.documents, sample.queries, sample.query_answer
        source = f"bundled sample: {sample.meta['model'].split()[0]} on Python stdlib docstrings"
    else:
        paired = args.embeddings.endswith(".npz") and _has_key(args.embeddings, "documents")
        docs = _rows(load_float_matrix(args.embeddings, "EMBEDDINGS", "documents" if paired else None),
                     "EMBEDDINGS")
        if args.queries:
            queries = _rows(load_float_matrix(args.queries, "--queries"), "--queries")
        elif args.embeddings.endswith(".npz") and _has_key(args.embeddings, "queries"):
            queries = _rows(load_float_matrix(args.embeddings, "EMBEDDINGS", "queries"), "EMBEDDINGS",
                            why=" in 'queries'")
        else:
            _rows(docs, "EMBEDDINGS", 2, " to hold some out as queries (or give --queries)")
            n_q = min(args.n_queries, max(1, docs.shape[0] // 10))
            rng = np.random.default_rng(0)
            pick = rng.choice(docs.shape[0], size=n_q, replace=False)
            queries = docs[pick]
            keep = np.ones(docs.shape[0], bool)
            keep[pick] = False
            docs = docs[keep]
            source = f"{n_q} rows held out of {args.embeddings} as queries"
        source = locals().get("source") or args.embeddings
        if queries.shape[1] != docs.shape[1]:
            raise CliError(f"--queries: dimension {queries.shape[1]} differs from the documents' {docs.shape[1]}")
    if not 1 <= args.k <= docs.shape[0]:
        raise CliError(f"-k: expected 1 <= k <= {docs.shape[0]} (the number of documents), got {args.k}", EXIT_USAGE)
    if args.plot:
        _output(args.plot, "--plot")
        _matplotlib()
    candidates = min(args.k * args.oversample, docs.shape[0])
    t0 = time.perf_counter()
    with compile_notice("quantlib eval"):
        rows = evaluate(docs, queries, k=args.k, oversample=args.oversample, answers=answers, progress=progress,
                        precisions=args.precision)
    elapsed = time.perf_counter() - t0
    n, d, m = docs.shape[0], docs.shape[1], queries.shape[0]
    recommendations = recommend(rows)
    if args.json:
        print(json.dumps({"documents": int(n), "queries": int(m), "dim": int(d), "k": args.k,
                          "oversample": args.oversample, "source": source, "rows": [r.as_dict() for r in rows],
                          "recommendation": [rec.as_dict(d) for rec in recommendations]}, indent=2))
    else:
        print(f"{n} documents x {d} dims, {m} queries ({source}); recall@{args.k} against exact float32 search; "
              f"rescoring re-ranks {candidates} candidates with float32")
        print(format_table(rows, args.k))
        print("store: plain = a store that scores the stored codes as they are (the dot of the numbers, Hamming "
              "of the bits) gets this first stage; quantlib = it needs quantlib's scoring")
        print(f"({elapsed:.1f} s)")
        print(format_recommendations(recommendations, args.k, d))
    if args.plot:
        _plot(rows, args.plot, args.k, [
            f"Recall@{args.k} against exact float32 search, by bytes per vector",
            source,
            f"{n} documents x {d} dims, {m} queries, k = {args.k}; rescoring re-ranks {candidates} candidates "
            "with float32",
        ], f"after float32 rescoring of {candidates}")
        if not args.json:
            print(f"plot: {args.plot}")
    return EXIT_OK


@contextlib.contextmanager
def compile_notice(prefix: str, *, stream: Any = None) -> Iterator[None]:
    """Say once, on stderr, that numba is compiling kernels, when it starts to.

    A cold numba cache makes a first run take tens of seconds with nothing on
    screen (the progress bar shows only on a terminal).  Numba announces each
    compilation (not a load from its cache) as a ``numba:compile`` event; the
    first one inside the block prints one line.
    """
    stream = stream or sys.stderr
    said = False

    def say() -> None:
        nonlocal said
        if said:
            return
        said = True
        clear = "\r\033[K" if hasattr(stream, "isatty") and stream.isatty() else ""  # over a progress bar
        stream.write(f"{clear}{prefix}: compiling numba kernels once, 30 s or more "
                     "(numba caches them for later runs)\n")
        stream.flush()

    try:
        from numba.core import event
    except ImportError:  # pragma: no cover - numba without its event API: say it on first use
        say()
        yield
        return

    class _Listener(event.Listener):
        def on_start(self, ev: Any) -> None:
            say()

        def on_end(self, ev: Any) -> None:
            pass

    with event.install_listener("numba:compile", _Listener()):
        yield


#: The distribution quantlib is installed as (``quantlib`` on the package index is the QuantLib
#: finance library); the import name and the command are ``quantlib``.
DISTRIBUTION = "quantlib-embeddings"


def _matplotlib() -> Any:
    """matplotlib, or a CliError saying how to install it (the plot uses no pyplot, hence no GUI backend)."""
    try:
        import matplotlib
        import matplotlib.backends.backend_agg  # noqa: F401  (what the plot renders with)
    except ImportError:
        raise CliError(f"--plot: needs matplotlib, which quantlib does not install by itself; install it with "
                       f"pip install '{DISTRIBUTION}[plot]' (in a checkout: pip install -e '.[plot]')") from None
    return matplotlib


def _plot(rows: list[Any], path: str, k: int, title: list[str], rescore_label: str) -> None:
    import textwrap

    from ..evaluation import plot_figure

    title_text = "\n".join(textwrap.fill(line, 110) for line in title)
    fig = plot_figure(rows, k=k, title=title_text, rescore_label=rescore_label)
    fig.savefig(path)
