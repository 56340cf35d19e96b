"""What each stored format costs and loses: the engine behind ``quantlib eval``.

For every precision (and Matryoshka truncation where the vectors allow it)
:func:`evaluate` encodes the documents, runs the first-stage search that
format supports, and measures recall@k against exact float32 search, without
and with float32 rescoring of ``k * oversample`` candidates, plus the search
time per query.  Embeddings are L2-normalised first, so ``dot`` is cosine.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ._validation import as_float_matrix, check_finite
from .codecs import BitCodec, FloatCodec, ScalarCodec, codec_class
from .errors import ShapeError
from .matryoshka import MATRYOSHKA_DIMS, truncate
from .precision import PRECISIONS, precision_info
from .quantization import quantize
from .search import check_k, search

__all__ = ["EvalRow", "Recommendation", "evaluate", "format_recommendations", "format_table", "plot_figure",
           "recommend", "row_label"]


@dataclass(frozen=True)
class EvalRow:
    """One line of the evaluation: a stored format and how search over it does.

    Attributes
    ----------
    precision : str
        The stored precision.
    scoring : str
        How the first stage scores (``"exact"``, ``"dequantized"``, ``"raw codes"``,
        ``"hamming"``, ``"float vs bits"``, ``"float vs codes"``: float queries
        scored by a codec's own kernels, such as the rotated codes').
    dim : int
        Dimensions kept (Matryoshka truncation when below the full dimension).
    bytes_per_vector : int
    compression : float
        float32 bytes at full dimension over ``bytes_per_vector``.
    recall : float
        Mean fraction of the exact float32 top-k found by this format alone.
    recall_rescored : float or None
        The same after rescoring ``k * oversample`` candidates with float32.
    ms_per_query : float
        First-stage search time per query (batched, median of repeats).
    ms_per_query_rescored : float or None
    answer_hits : float or None
        Fraction of queries whose known answer is in the top-k (first stage),
        when answers are known (the bundled sample).
    plain_store : bool
        Whether a store that only scores the stored codes as they are (the dot
        of the stored numbers, or the Hamming distance of stored bits, with the
        query encoded the same way) ranks like this row's first stage.  False
        when the first stage needs quantlib's scoring: the codec's calibration
        (``"dequantized"``), float queries against bits (``"float vs bits"``) or
        a codec's own kernels (``"float vs codes"``).
    """

    precision: str
    scoring: str
    dim: int
    bytes_per_vector: int
    compression: float
    recall: float
    recall_rescored: float | None
    ms_per_query: float
    ms_per_query_rescored: float | None
    answer_hits: float | None = None
    plain_store: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Method:
    precision: str
    scoring: str
    dim: int
    bytes_per_vector: int
    #: EvalRow.plain_store: a store that only scores the stored codes as they are gets this first stage
    plain_store: bool
    run: Callable[[np.ndarray, int, Any], tuple[np.ndarray, np.ndarray]]


def _normalize(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms > 0, norms, 1)).astype(np.float32)


def _methods(docs: np.ndarray, dims: Iterable[int], oversample: int) -> Iterator[_Method]:
    d = docs.shape[1]
    o = oversample
    f16 = docs.astype(np.float16)
    yield _Method("float32", "exact", d, 4 * d, True, lambda q, k, r: search(q, docs, k, metric="dot"))
    yield _Method("float16", "exact", d, 2 * d, True,
                  lambda q, k, r: search(q, f16, k, metric="dot", rescore=r, oversample=o))
    for prec in ("int8", "uint8"):
        codec = ScalarCodec.fit(docs, prec)
        codes = codec.encode(docs)
        yield _Method(prec, "dequantized", d, d, False,
                      lambda q, k, r, codes=codes, codec=codec: search(q, codes, k, metric="dot", codec=codec,
                                                                       rescore=r, oversample=o))
        yield _Method(prec, "raw codes", d, d, True,
                      lambda q, k, r, codes=codes, codec=codec, p=prec: _raw_codes(q, codes, codec, p, k, r, o))
    for info in PRECISIONS:  # every other registered codec: the rotated codes, a store's or a user's own
        cls = codec_class(info)
        if cls in (FloatCodec, ScalarCodec, BitCodec):
            continue
        own = cls.fit(docs, info.name) if info.calibrated else cls(info.name)  # type: ignore[attr-defined]
        own_codes = own.encode(docs)
        yield _Method(info.name, "float vs codes", d, own.code_size(d), False,
                      lambda q, k, r, codes=own_codes, codec=own: search(q, codes, k, metric="dot", codec=codec,
                                                                         rescore=r, oversample=o))
    for dim in (d, *dims):
        bits = quantize(docs if dim == d else truncate(docs, dim), "ubinary")
        nbytes = bits.shape[1]
        yield _Method("ubinary", "hamming", dim, nbytes, True,
                      lambda q, k, r, bits=bits, dim=dim: _funnel(q, dim, r, k, o, lambda qq, kk, rr: search(
                          qq, bits, kk, metric="hamming", dim=dim, rescore=rr, oversample=o)))
        yield _Method("ubinary", "float vs bits", dim, nbytes, False,
                      lambda q, k, r, bits=bits, dim=dim: _funnel(q, dim, r, k, o, lambda qq, kk, rr: search(
                          qq, bits, kk, metric="dot", precision="ubinary", dim=dim, rescore=rr, oversample=o)))
    for dim in dims:
        short = truncate(docs, dim)
        yield _Method("float32", "exact", dim, 4 * dim, True,
                      lambda q, k, r, short=short, dim=dim: _funnel(q, dim, r, k, o, lambda qq, kk, rr: search(
                          qq, short, kk, metric="dot", rescore=rr, oversample=o)))


def _funnel(q: np.ndarray, dim: int, rescore: Any, k: int, oversample: int,
            first: Callable) -> tuple[Any, np.ndarray]:
    """Search at ``dim`` dimensions; rescoring (if any) uses the full float32 query and documents.

    At full dimension this is quantlib's own ``search(..., rescore=, oversample=)``; a
    truncated first stage hands its ``k * oversample`` candidates to a full-dimension
    re-rank (a funnel).
    """
    if dim == q.shape[1]:
        return first(q, k, rescore)
    short = truncate(q, dim)
    if rescore is None:
        return first(short, k, None)
    _, ids = first(short, min(len(rescore), k * oversample), None)
    return _rerank(q, rescore, ids, k)


def _raw_codes(q: np.ndarray, codes: np.ndarray, codec: ScalarCodec, prec: str, k: int, rescore: Any,
               oversample: int):
    # What sentence-transformers + usearch/faiss do: quantize the queries and rank by the dot of codes.
    first_k = k if rescore is None else min(len(codes), k * oversample)
    _, ids = search(codec.encode(q), codes, first_k, metric="dot", precision=prec)
    return (None, ids) if rescore is None else _rerank(q, rescore, ids, k)


def _rerank(q: np.ndarray, docs: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = np.einsum("qd,qkd->qk", q, docs[ids])
    order = np.lexsort((ids, -scores), axis=-1)[:, :k]
    return np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    hits = sum(len(np.intersect1d(f[:k], t, assume_unique=True)) for f, t in zip(found, truth, strict=True))
    return hits / truth.size


def _timed(fn: Callable[[], Any], repeats: int) -> tuple[Any, float]:
    times = []
    result = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return result, float(np.median(times))


def evaluate(
    documents: Any,
    queries: Any,
    *,
    k: int = 10,
    dims: Iterable[int] | None = None,
    oversample: int = 4,
    answers: Any = None,
    repeats: int = 3,
    progress: Callable[[list[_Method], str], Iterable[_Method]] | None = None,
    precisions: Iterable[str] | None = None,
) -> list[EvalRow]:
    """Recall, size and speed of every stored format on ``documents`` and ``queries``.

    Parameters
    ----------
    documents : array_like, shape (n, d)
        Float embeddings of the corpus (normalised here).
    queries : array_like, shape (m, d)
    k : int
        Neighbours per query; recall@k is measured against exact float32 search.
    dims : iterable of int, optional
        Matryoshka truncations to try; default: the standard ladder below ``d``
        (at most three of them, largest first).
    oversample : int
        Rescoring re-ranks ``min(n, k * oversample)`` first-stage candidates with
        float32; a positive integer.
    answers : array_like of int, shape (m,), optional
        The known relevant document of each query; adds ``answer_hits``.
    repeats : int
        Timed runs per method (after a warm-up run); the median is reported.
    precisions : iterable of str, optional
        Only the rows of these precisions (any registered one, a plug-in
        codec's included); default all.

    Returns
    -------
    list of EvalRow

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> docs, qs = rng.standard_normal((500, 64)), rng.standard_normal((20, 64))
    >>> rows = evaluate(docs, qs, k=5, dims=[32], repeats=1)
    >>> rows[0].precision, rows[0].recall
    ('float32', 1.0)
    >>> [r.scoring for r in rows if r.precision == "int8"]
    ['dequantized', 'raw codes']
    """
    docs, _ = as_float_matrix(documents, "documents")
    qs, _ = as_float_matrix(queries, "queries")
    check_finite(docs, "documents")
    check_finite(qs, "queries")
    if qs.shape[0] == 0:
        raise ShapeError(f"queries: expected at least one query row, got shape {qs.shape}")
    if docs.shape[1] != qs.shape[1]:
        raise ShapeError(f"queries: expected dimension {docs.shape[1]} like the documents, got {qs.shape[1]}")
    if not 1 <= k <= docs.shape[0]:
        raise ShapeError(f"k: expected 1 <= k <= {docs.shape[0]} (the number of documents), got {k}")
    oversample = check_k(oversample, "oversample")
    docs, qs = _normalize(docs), _normalize(qs)
    d = docs.shape[1]
    if dims is None:
        dims = [m for m in reversed(MATRYOSHKA_DIMS) if m < d][:3]
    dims = [int(m) for m in dims if int(m) < d]
    answer_ids = None if answers is None else np.asarray(answers).reshape(-1, 1)

    _, truth = search(qs, docs, k, metric="dot")
    methods = list(_methods(docs, dims, oversample))
    if precisions is not None:
        names = [precisions] if isinstance(precisions, str) else list(precisions)  # one name is not its letters
        wanted = {precision_info(p, name="precisions").name for p in names}
        methods = [m for m in methods if m.precision in wanted]
    rows = []
    for method in (progress(methods, "eval") if progress else methods):
        run = method.run
        run(qs[:2], k, None)  # compile and warm up outside the timing
        (_, found), t_first = _timed(lambda run=run: run(qs, k, None), repeats)
        recall_rescored = t_rescored = None
        if not (method.precision == "float32" and method.dim == d):
            run(qs[:2], k, docs)
            (_, rescored), t_rescored = _timed(lambda run=run: run(qs, k, docs), repeats)
            recall_rescored = _recall(rescored, truth)
        hits = None if answer_ids is None else float((found == answer_ids).any(axis=1).mean())
        rows.append(EvalRow(
            precision=method.precision, scoring=method.scoring, dim=method.dim,
            bytes_per_vector=method.bytes_per_vector, compression=4 * d / method.bytes_per_vector,
            recall=_recall(found, truth), recall_rescored=recall_rescored,
            ms_per_query=1e3 * t_first / len(qs),
            ms_per_query_rescored=None if t_rescored is None else 1e3 * t_rescored / len(qs),
            answer_hits=hits, plain_store=method.plain_store,
        ))
    return rows


def row_label(row: EvalRow, full_dim: int) -> str:
    """A short name of the row's format: precision, scoring unless exact, dimensions when truncated.

    >>> row_label(EvalRow("ubinary", "hamming", 64, 8, 192.0, 0.1, 0.3, 0.01, 0.02), 384)
    'ubinary hamming, 64 dims'
    """
    name = row.precision if row.scoring == "exact" else f"{row.precision} {row.scoring}"
    return name if row.dim == full_dim else f"{name}, {row.dim} dims"


def format_table(rows: list[EvalRow], k: int = 10) -> str:
    """The rows as an aligned text table.

    The last column, ``store``, says which first stages a store that only
    scores the stored codes as they are reaches (``plain``) and which need
    quantlib's scoring (``quantlib``); see :attr:`EvalRow.plain_store`.
    """
    has_hits = any(r.answer_hits is not None for r in rows)
    head = ["format", "scoring", "dims", "bytes", "ratio", f"recall@{k}", "+rescore", "ms/query", "+rescore"]
    if has_hits:
        head.append(f"answer@{k}")
    head.append("store")
    lines = [head]
    for r in rows:
        line = [r.precision, r.scoring, str(r.dim), str(r.bytes_per_vector), f"{r.compression:.1f}x",
                f"{r.recall:.3f}", "-" if r.recall_rescored is None else f"{r.recall_rescored:.3f}",
                f"{r.ms_per_query:.3f}", "-" if r.ms_per_query_rescored is None else f"{r.ms_per_query_rescored:.3f}"]
        if has_hits:
            line.append("-" if r.answer_hits is None else f"{r.answer_hits:.3f}")
        line.append("plain" if r.plain_store else "quantlib")
        lines.append(line)
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    left = {0, 1, len(head) - 1}
    out = []
    for row in lines:
        cells = enumerate(zip(row, widths, strict=True))
        out.append("  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in cells).rstrip())
    return "\n".join(out)


#: What ``quantlib eval`` recommends for: the recall@k a format must reach.
RECALL_LEVELS = (0.95, 0.99)


@dataclass(frozen=True)
class Recommendation:
    """The smallest format reaching ``min_recall``, by its first stage alone or after rescoring.

    Attributes
    ----------
    min_recall : float
    rescored : bool
        Whether the recall counted is the one after float32 rescoring (the
        float32 vectors are then kept too, wherever the rescoring reads them).
    row : EvalRow or None
        None when no format reaches ``min_recall``.
    """

    min_recall: float
    rescored: bool
    row: EvalRow | None

    @property
    def recall(self) -> float | None:
        return None if self.row is None else _recall_of(self.row, self.rescored)

    def as_dict(self, full_dim: int | None = None) -> dict[str, Any]:
        r = self.row
        return {"min_recall": self.min_recall, "rescored": self.rescored,
                "format": None if r is None else row_label(r, r.dim if full_dim is None else full_dim),
                "precision": None if r is None else r.precision, "scoring": None if r is None else r.scoring,
                "dim": None if r is None else r.dim, "bytes_per_vector": None if r is None else r.bytes_per_vector,
                "recall": self.recall, "plain_store": None if r is None else r.plain_store}


def _recall_of(row: EvalRow, rescored: bool) -> float:
    # full-dimension float32 is exact already: rescoring it changes nothing
    return row.recall_rescored if rescored and row.recall_rescored is not None else row.recall


def recommend(rows: list[EvalRow], levels: Iterable[float] = RECALL_LEVELS) -> list[Recommendation]:
    """The smallest format reaching each recall level, first without then with rescoring.

    Smallest is fewest bytes per vector; among equal sizes the higher recall
    wins, then a row a plain store reaches, then the earlier row.

    Examples
    --------
    >>> rows = [EvalRow("float32", "exact", 8, 32, 1.0, 1.0, None, 0.1, None),
    ...         EvalRow("int8", "raw codes", 8, 8, 4.0, 0.90, 0.99, 0.1, 0.1, plain_store=True),
    ...         EvalRow("ubinary", "hamming", 8, 1, 32.0, 0.5, 0.96, 0.1, 0.1, plain_store=True)]
    >>> [(r.min_recall, r.rescored, r.row.precision) for r in recommend(rows)]
    [(0.95, False, 'float32'), (0.95, True, 'ubinary'), (0.99, False, 'float32'), (0.99, True, 'int8')]
    """
    out = []
    for level in levels:
        for rescored in (False, True):
            ok = [(r.bytes_per_vector, -_recall_of(r, rescored), not r.plain_store, i)
                  for i, r in enumerate(rows) if _recall_of(r, rescored) >= level - 1e-9]
            out.append(Recommendation(float(level), rescored, rows[min(ok)[3]] if ok else None))
    return out


def format_recommendations(recommendations: list[Recommendation], k: int = 10, full_dim: int | None = None) -> str:
    """One line per recall level: the smallest format alone, and the smallest with rescoring.

    >>> rows = [EvalRow("float32", "exact", 8, 32, 1.0, 1.0, None, 0.1, None),
    ...         EvalRow("ubinary", "hamming", 8, 1, 32.0, 0.5, 0.96, 0.1, 0.1, plain_store=True)]
    >>> print(format_recommendations(recommend(rows, [0.95]), k=10))
    smallest for recall@10 >= 0.95: float32 (32 bytes, 1.000);
    with rescoring: ubinary hamming (1 byte + float32 to rescore from, 0.960)
    """
    def say(rec: Recommendation) -> str:
        r = rec.row
        if r is None:
            return "none reaches it"
        size = f"{r.bytes_per_vector} byte{'s' if r.bytes_per_vector != 1 else ''}"
        if rec.rescored and r.recall_rescored is not None:
            size += " + float32 to rescore from"
        return f"{row_label(r, r.dim if full_dim is None else full_dim)} ({size}, {rec.recall:.3f})"

    by_level: dict[float, dict[bool, Recommendation]] = {}
    for rec in recommendations:
        by_level.setdefault(rec.min_recall, {})[rec.rescored] = rec
    lines = []
    for level, recs in by_level.items():
        parts = []
        if False in recs:
            parts.append(say(recs[False]))
        if True in recs:
            parts.append(f"with rescoring: {say(recs[True])}")
        lines.append(f"smallest for recall@{k} >= {level:g}: " + "; ".join(parts))
    return "\n".join(lines)


# ---------------------------------------------------------------------------- the plot (quantlib eval --plot)

#: Label font size of the plot, in points.
PLOT_FONT_SIZE = 9.0


def plot_figure(rows: list[EvalRow], *, k: int, title: str, rescore_label: str = "after float32 rescoring") -> Any:
    """Recall against bytes per vector as a matplotlib ``Figure`` (needs matplotlib, the extra ``plot``).

    One circle per row's first stage and a triangle for it after rescoring,
    joined by a line (gid ``"rescore-link"``); rows of equal size are spread
    a little sideways.  Filled markers are rows a plain store reaches
    (:attr:`EvalRow.plain_store`), hollow ones need quantlib's scoring.  Each
    row gets one label (gid ``"row-label"``), placed where it overlaps no other
    label, marker or line and stays inside the axes, with a leader line
    (gid ``"leader"``) when it had to move away from its point.  The figure
    uses no pyplot state: save it with ``fig.savefig(path)``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FixedLocator, NullLocator

    full_dim = max(r.dim for r in rows)
    fig = Figure(figsize=(11, 7.2), dpi=120)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.07, right=0.98, top=0.86, bottom=0.13)
    ax = fig.add_subplot()
    ax.set_xscale("log", base=2)

    # rows of the same size side by side, 0.1 octave apart
    by_size: dict[int, list[int]] = {}
    for i, r in enumerate(rows):
        by_size.setdefault(r.bytes_per_vector, []).append(i)
    xs = np.empty(len(rows))
    for size, idx in by_size.items():
        for j, i in enumerate(idx):
            xs[i] = size * 2.0 ** (0.1 * (j - (len(idx) - 1) / 2))
    colors: dict[str, Any] = {}
    cycle = [f"C{i}" for i in range(10)]
    for r in rows:
        colors.setdefault(r.precision, cycle[len(colors) % len(cycle)])

    marker_pt = 7.0
    for x, r in zip(xs, rows, strict=True):
        c = colors[r.precision]
        face = c if r.plain_store else "white"
        if r.recall_rescored is not None:
            (link,) = ax.plot([x, x], [r.recall, r.recall_rescored], color=c, lw=1.2, alpha=0.6, zorder=1)
            link.set_gid("rescore-link")
            ax.plot([x], [r.recall_rescored], marker="^", ms=marker_pt, mfc=face, mec=c, mew=1.4, ls="none",
                    zorder=3)
        ax.plot([x], [r.recall], marker="o", ms=marker_pt, mfc=face, mec=c, mew=1.4, ls="none", zorder=3)

    recalls = [r.recall for r in rows] + [r.recall_rescored for r in rows if r.recall_rescored is not None]
    ax.set_ylim(max(0.0, min(recalls) - 0.08), 1.07)
    ax.set_xlim(xs.min() / 1.6, xs.max() * 1.6)
    sizes = sorted(by_size)
    ax.xaxis.set_major_locator(FixedLocator(sizes))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticks(sizes, [str(b) for b in sizes])
    ax.tick_params(labelsize=PLOT_FONT_SIZE)
    ax.set_xlabel("bytes per vector (log scale; rows of one size are spread a little sideways)", fontsize=10)
    ax.set_ylabel(f"recall@{k} against exact float32 search", fontsize=10)
    ax.axhline(1.0, color="0.6", lw=0.6, zorder=0)
    ax.grid(alpha=0.25)
    ax.set_title(title, fontsize=11, loc="left")

    grey = "0.35"
    handles = [
        Line2D([], [], marker="o", ms=marker_pt, color=grey, ls="none", label="first stage"),
        Line2D([], [], marker="^", ms=marker_pt, color=grey, ls="-", lw=1.2, label=rescore_label),
        Line2D([], [], marker="s", ms=marker_pt, color=grey, ls="none", label="filled: a plain store gets it"),
        Line2D([], [], marker="s", ms=marker_pt, mfc="white", mec=grey, ls="none",
               label="hollow: needs quantlib's scoring"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=PLOT_FONT_SIZE, frameon=False,
               bbox_to_anchor=(0.5, 0.005))

    _place_labels(fig, ax, xs, rows, full_dim, marker_pt)
    return fig


def _candidates(px: float, width: float, height: float) -> list[tuple[float, float]]:
    """Anchor offsets (pixels) to try for a label, nearest first: rings round the point, then a grid over
    the whole axes (``width`` x ``height`` pixels), so that a free place is found if there is one."""
    angles = np.radians([0, 180, 25, -25, 155, -155, 55, -55, 125, -125, 90, -90])
    near = [(r * px * np.cos(a), r * px * np.sin(a)) for r in (6, 12, 20, 30, 42, 56, 72, 90) for a in angles]
    step = 6 * px
    gx, gy = np.meshgrid(np.arange(-width, width + step, step), np.arange(-height, height + step, step))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    grid = grid[np.argsort(np.hypot(grid[:, 0], grid[:, 1]), kind="stable")]
    return near + [(float(x), float(y)) for x, y in grid if np.hypot(x, y) > 90 * px]


def _place_labels(fig: Any, ax: Any, xs: np.ndarray, rows: list[EvalRow], full_dim: int, marker_pt: float) -> None:
    """Label each first-stage point where the text hits no other label, marker, link or leader line.

    Greedy, crowded points first, nearest free place first; everything is
    measured in display pixels (text extents once, by the renderer).
    """
    from matplotlib.transforms import offset_copy

    renderer = fig.canvas.get_renderer()
    px = fig.dpi / 72.0
    frame = ax.bbox.padded(-3)
    half = marker_pt * px / 2 + 1
    points = ax.transData.transform(np.column_stack([xs, [r.recall for r in rows]]))
    obstacles = []  # x0, y0, x1, y1
    for (x, y), r in zip(points, rows, strict=True):
        y2 = y if r.recall_rescored is None else ax.transData.transform((1.0, r.recall_rescored))[1]
        obstacles.append((x - half, min(y, y2) - half, x + half, max(y, y2) + half))  # markers and the link
    placed = np.empty((0, 4))
    crowd = [int((np.hypot(*(points - p).T) < 60 * px).sum()) for p in points]
    candidates = _candidates(px, frame.width, frame.height)

    def hits(boxes: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> bool:
        return bool(np.any((boxes[:, 0] < x1) & (boxes[:, 2] > x0) & (boxes[:, 1] < y1) & (boxes[:, 3] > y0)))

    for i in sorted(range(len(rows)), key=lambda i: (-crowd[i], i)):
        text = ax.text(xs[i], rows[i].recall, row_label(rows[i], full_dim), fontsize=PLOT_FONT_SIZE, zorder=4,
                       ha="left", va="bottom")
        text.set_gid("row-label")
        ext = text.get_window_extent(renderer)
        w, h = ext.width + 4, ext.height + 4  # 2 pixels of air on each side
        x, y = points[i]
        blocked = np.array(obstacles)
        for dx, dy in candidates:
            ha = "left" if dx > 0.3 * np.hypot(dx, dy) else "right" if dx < -0.3 * np.hypot(dx, dy) else "center"
            va = "bottom" if dy > 0.3 * np.hypot(dx, dy) else "top" if dy < -0.3 * np.hypot(dx, dy) else "center"
            x0 = x + dx - {"left": 2, "right": w - 2, "center": w / 2}[ha]
            y0 = y + dy - {"bottom": 2, "top": h - 2, "center": h / 2}[va]
            x1, y1 = x0 + w, y0 + h
            if not (frame.x0 <= x0 and x1 <= frame.x1 and frame.y0 <= y0 and y1 <= frame.y1):
                continue
            if hits(placed, x0, y0, x1, y1) or hits(blocked, x0, y0, x1, y1):
                continue
            leader = None
            if np.hypot(dx, dy) > 7 * px:  # moved away: a leader from the marker's edge to the text
                t = np.linspace(half / np.hypot(dx, dy), 1, 24)[:, None]
                leader = np.array([x, y]) + t * np.array([dx, dy])
                lx, ly = leader[:, 0:1], leader[:, 1:2]
                if placed.size and np.any((lx > placed[:, 0]) & (lx < placed[:, 2]) & (ly > placed[:, 1])
                                          & (ly < placed[:, 3])):
                    continue
            break
        else:  # no free place at all: leave it at the point (the plot's tests would catch this)
            dx = dy = 0.0
            ha, va, leader = "left", "bottom", None
            x0, y0, x1, y1 = x - 2, y - 2, x - 2 + w, y - 2 + h
        text.set_transform(offset_copy(ax.transData, fig, x=dx / px, y=dy / px, units="points"))
        text.set_horizontalalignment(ha)
        text.set_verticalalignment(va)
        placed = np.vstack([placed, [x0, y0, x1, y1]])
        if leader is not None:
            xy = ax.transData.inverted().transform(leader[[0, -1]])
            (line,) = ax.plot(xy[:, 0], xy[:, 1], color="0.45", lw=0.7, zorder=2)
            line.set_gid("leader")
            obstacles.extend((px_ - 1.5, py_ - 1.5, px_ + 1.5, py_ + 1.5) for px_, py_ in leader[::2])
