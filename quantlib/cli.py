"""The ``quantlib`` command line.

Subcommands::

    quantlib eval [EMBEDDINGS] [--queries Q] [--json] [--plot recall.png]
    quantlib decode RESPONSE.json [--output-dtype T] [--provider P] -o OUT.npy|OUT.npz
    quantlib quantize IN.npy --precision P [--calibration C.npy] -o OUT.npz
    quantlib dequantize IN.npz -o OUT.npy
    quantlib search CORPUS QUERIES -k 10 [--precision P] [--rescore] [-o OUT.npz]

``decode -o OUT.npz`` also keeps sparse weights (CSR: ``sparse_indptr``,
``sparse_indices``, ``sparse_values``, ``sparse_tokens``) and multi-vectors
(``multivectors``, ``multivector_offsets``); a ``.npy`` holds the dense matrix only.
Output paths get ``.npy``/``.npz`` appended when they lack it (as numpy does), and
the path printed is the file written.

Exit status: 0 success, 1 bad data (one line on stderr), 2 bad usage.
``--debug`` shows the traceback instead of the one-line message.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from . import __version__, _checksum
from ._npyfile import READ_ERRORS, NpzArrays, load_npy
from .errors import QuantlibError, UnknownPrecisionError, short_repr

T = TypeVar("T")

EXIT_OK, EXIT_DATA, EXIT_USAGE = 0, 1, 2


class CliError(Exception):
    """A problem with the user's files or options, reported in one line."""

    def __init__(self, message: str, status: int = EXIT_DATA) -> None:
        super().__init__(message)
        self.status = status


def progress(items: Sequence[T], label: str, *, stream: Any = None) -> Iterator[T]:
    """Yield ``items`` while drawing a progress bar on a terminal's stderr.

    Nothing is drawn when stderr is not a terminal (pipes, CI logs).
    """
    stream = stream or sys.stderr
    show = hasattr(stream, "isatty") and stream.isatty()
    total = len(items)
    start = time.perf_counter()
    for i, item in enumerate(items):
        if show:
            done = int(24 * i / max(total, 1))
            stream.write(f"\r{label} [{'#' * done}{'.' * (24 - done)}] {i}/{total} {time.perf_counter() - start:5.1f}s")
            stream.flush()
        yield item
    if show:
        stream.write(f"\r{label} [{'#' * 24}] {total}/{total} {time.perf_counter() - start:5.1f}s\n")
        stream.flush()


# ---------------------------------------------------------------------------- file helpers


#: The codes file ``quantlib quantize`` writes: an ``.npz`` with ``codes``, ``config``
#: (the codec config as JSON text) and ``dim``.  Version 1 (quantlib 0.1) had only
#: those; version 2 adds ``format``: JSON text with the format name, the version
#: and a SHA-256 of the other three (:func:`codes_checksum`).  Both are read.
CODES_FORMAT = "quantlib.codes"
CODES_VERSION = 2

#: What reading a damaged .npy/.npz can raise (see quantlib._npyfile).
_READ_ERRORS = READ_ERRORS


@contextlib.contextmanager
def _opened(path: Path, name: str, what: str) -> Iterator[Any]:
    """The array of a ``.npy`` or the arrays of an ``.npz`` (:class:`~quantlib._npyfile.NpzArrays`), closed on
    the way out; read errors become CliError.

    quantlib's own readers check each header's claims before numpy allocates
    anything (``np.load`` believes them: a 200-byte file could make it allocate
    gigabytes), and never unpickle.
    """
    try:
        with open(path, "rb") as f:
            zipped = f.read(4) in (b"PK\x03\x04", b"PK\x05\x06")  # np.load's test for an .npz
        if zipped:
            with NpzArrays(path) as loaded:
                yield loaded
        else:
            yield load_npy(path)
    except _READ_ERRORS as exc:
        raise CliError(f"{name}: {path} is not a readable {what} ({exc})") from None


def load_array(path: str, name: str, key: str | None = None) -> np.ndarray:
    """An array from ``.npy`` or ``.npz`` (first array, or ``key``), never unpickled."""
    p = Path(path)
    if not p.is_file():
        raise CliError(f"{name}: no such file: {path}")
    with _opened(p, name, ".npy/.npz file") as loaded:
        if isinstance(loaded, np.ndarray):
            return loaded
        keys = list(loaded.files)
        if key is not None and key not in keys:
            raise CliError(f"{name}: {path} has no array {key!r} (it has {', '.join(keys) or 'none'})")
        if not keys:
            raise CliError(f"{name}: {path} holds no arrays")
        return loaded[key if key is not None else keys[0]]


def load_float_matrix(path: str, name: str, key: str | None = None) -> np.ndarray:
    arr = load_array(path, name, key)
    if arr.dtype.kind != "f":
        raise CliError(f"{name}: {path} must hold float embeddings, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise CliError(f"{name}: {path} must hold an (n, d) matrix, got shape {arr.shape}")
    return arr.astype(np.float32, copy=False)


def write_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` without pickle: every member written with ``allow_pickle=False``.

    As ``np.savez`` does, ``.npz`` is appended to a path that lacks it.
    """
    if not path.endswith(".npz"):
        path += ".npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, arr in arrays.items():
            with zf.open(key + ".npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(arr), allow_pickle=False)


def codes_checksum(codes: np.ndarray, config_text: str, dim: int) -> str:
    """``"sha256:..."`` of the codes' dtype, shape and bytes, the config text and the dimension."""
    codes = np.ascontiguousarray(codes)
    head = json.dumps({"config": config_text, "dim": dim, "dtype": codes.dtype.str, "shape": list(codes.shape)},
                      sort_keys=True, separators=(",", ":")).encode("utf-8")
    return _checksum.sha256([head, codes.reshape(-1).view(np.uint8)])


def save_codes(path: str, codes: np.ndarray, config: dict[str, Any], dim: int) -> None:
    """Codes with their codec config (JSON) and logical dimension, in one ``.npz`` (format version 2)."""
    config_text = json.dumps(config)
    meta = {"format": CODES_FORMAT, "version": CODES_VERSION,
            "checksum": codes_checksum(codes, config_text, int(dim))}
    write_npz(path, {"codes": codes, "config": np.array(config_text), "dim": np.array(dim),
                     "format": np.array(json.dumps(meta))})


def load_codes(path: str, name: str) -> tuple[np.ndarray, dict[str, Any], int]:
    """Read :func:`save_codes` output (version 2, or version 1 without ``format``)."""
    p = Path(path)
    if not p.is_file():
        raise CliError(f"{name}: no such file: {path}")
    with _opened(p, name, "quantlib codes file") as z:
        if not isinstance(z, NpzArrays) or {"codes", "config"} - set(z.files):
            raise CliError(f"{name}: {path} is not a quantlib codes file (.npz with 'codes' and 'config')")
        try:
            codes, config_text = z["codes"], str(z["config"])
            dim = int(z["dim"]) if "dim" in z.files else None
            meta = json.loads(str(z["format"])) if "format" in z.files else None
            config = json.loads(config_text)
        except (TypeError, RecursionError, json.JSONDecodeError) as exc:
            raise CliError(f"{name}: {path} is not a readable quantlib codes file ({exc})") from None
    if meta is not None:
        if not isinstance(meta, dict) or meta.get("format") != CODES_FORMAT:
            raise CliError(f"{name}: {path} is not a {CODES_FORMAT} file "
                           f"(its 'format' says {short_repr(meta)})")
        if meta.get("version") != CODES_VERSION or dim is None:
            raise CliError(f"{name}: {path} is codes file version {short_repr(meta.get('version'))}; "
                           f"this quantlib reads 1 and {CODES_VERSION}")
        if meta.get("checksum") != codes_checksum(codes, config_text, dim):
            raise CliError(f"{name}: {path} does not match its checksum; the file is corrupt")
    if not isinstance(config, dict):
        raise CliError(f"{name}: {path} holds a codec config that is not a JSON object")
    return codes, config, dim if dim is not None else codes.shape[-1]


def _output(path: str | None, name: str = "--output", suffix: str = "") -> str:
    """The file that will be written: ``path``, with ``suffix`` appended when it lacks it
    (as ``np.save`` and ``np.savez`` do), so the path printed is the file written."""
    if not path:
        raise CliError(f"{name}: an output file is required", EXIT_USAGE)
    if suffix and not path.endswith(suffix):
        path += suffix
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise CliError(f"{name}: directory {parent} does not exist")
    return path


def _positive(value: int, name: str) -> int:
    """A CLI integer option that must be at least 1 (as :func:`quantlib.search` checks ``oversample``)."""
    if value < 1:
        raise CliError(f"{name}: expected a positive integer, got {value}", EXIT_USAGE)
    return value


def _rows(arr: np.ndarray, name: str, at_least: int = 1, why: str = "") -> np.ndarray:
    if arr.shape[0] < at_least:
        count = "one row" if at_least == 1 else f"{at_least} rows"
        raise CliError(f"{name}: expected at least {count}{why}, got shape {arr.shape}")
    return arr


# ---------------------------------------------------------------------------- subcommands


def cmd_quantize(args: argparse.Namespace) -> int:
    from .codecs import ScalarCodec, get_codec
    from .precision import precision_info

    x = load_float_matrix(args.input, "IN")
    info = precision_info(args.precision)
    if info.is_scalar:
        if args.ranges:
            codec = ScalarCodec(info.name, load_array(args.ranges, "--ranges"), rounding=args.rounding)
        else:
            calibration = load_float_matrix(args.calibration, "--calibration") if args.calibration else x
            codec = ScalarCodec.fit(calibration, info.name, rounding=args.rounding)
    elif args.ranges or args.calibration:
        raise CliError(f"--ranges/--calibration: only int8 and uint8 use calibration, got {info.name}", EXIT_USAGE)
    else:
        codec = get_codec(info.name)
    codes = codec.encode(x)
    out = _output(args.output, suffix=".npz")
    save_codes(out, codes, codec.get_config(), x.shape[1])
    size = codec.code_size(x.shape[1])
    print(f"{out}: {codes.shape[0]} x {x.shape[1]} -> {info.name} "
          f"({size} bytes per vector, {4 * x.shape[1] / size:.1f}x smaller)")
    return EXIT_OK


def cmd_dequantize(args: argparse.Namespace) -> int:
    from .codecs import codec_from_config

    codes, config, dim = load_codes(args.input, "IN")
    codec = codec_from_config(config)
    values = codec.decode(codes, dim=dim if codec.info.packed else None)
    out = _output(args.output, suffix=".npy")
    np.save(out, values, allow_pickle=False)
    print(f"{out}: {values.shape[0]} x {values.shape[1]} float32 from {codec.precision}")
    return EXIT_OK


def cmd_decode(args: argparse.Namespace) -> int:
    from .providers import decode_response

    path = Path(args.input)
    if not path.is_file():
        raise CliError(f"RESPONSE: no such file: {args.input}")
    result = decode_response(path.read_bytes(), output_dtype=args.output_dtype, provider=args.provider)
    npz = bool(args.output) and args.output.endswith(".npz")
    out = _output(args.output, suffix="" if npz else ".npy")
    dense = result.embeddings
    held = []  # what the response holds besides the dense matrix
    arrays = {"embeddings": dense} if dense is not None else {}
    if result.sparse is not None:
        batch = result.sparse_batch()
        held.append(f"{len(batch)} sparse rows ({batch.nnz} weights)")
        arrays.update(sparse_indptr=batch.indptr, sparse_indices=batch.indices, sparse_values=batch.values)
        if batch.tokens is not None:
            arrays["sparse_tokens"] = np.array(batch.tokens, dtype=str)
    if result.multivectors is not None:
        mvs = result.multivectors
        held.append(f"{len(mvs)} multi-vector inputs ({sum(len(m) for m in mvs)} vectors)")
        arrays["multivector_offsets"] = np.cumsum([0, *(len(m) for m in mvs)], dtype=np.int64)
        arrays["multivectors"] = np.concatenate(mvs) if mvs else np.zeros((0, 0), np.float32)
    if not npz and dense is None:
        raise CliError(f"RESPONSE: the payload holds no dense embeddings to save as .npy, only "
                       f"{' and '.join(held) or 'nothing'}; use an .npz output")
    if not arrays:
        raise CliError("RESPONSE: the payload holds no embeddings to save")
    if npz:
        write_npz(out, arrays)
    else:
        np.save(out, dense, allow_pickle=False)
    parts = ["no dense embeddings" if dense is None else
             f"{'x'.join(map(str, dense.shape))} {result.precision} embeddings"]
    if held:
        parts.append(" and ".join(held) + ("" if npz else " not saved (a .npy holds only the dense matrix; "
                                                          "use an .npz output to keep them)"))
    print(f"{out}: {', '.join(parts)}, provider {result.provider}")
    return EXIT_OK

def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluation import evaluate, format_recommendations, format_table, recommend

    _positive(args.oversample, "--oversample")
    _positive(args.n_queries, "--n-queries")
    answers = None
    if args.embeddings is None:
        if args.queries:
            raise CliError("--queries: give EMBEDDINGS too (the bundled sample has its own queries)", EXIT_USAGE)
        from .sample import load_sample

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
        rows = evaluate(docs, queries, k=args.k, oversample=args.oversample, answers=answers, progress=progress)
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


def _has_key(path: str, key: str) -> bool:
    try:
        with _opened(Path(path), "", "") as z:
            return key in getattr(z, "files", ())
    except (CliError, OSError):
        return False


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

    from .evaluation import plot_figure

    title_text = "\n".join(textwrap.fill(line, 110) for line in title)
    fig = plot_figure(rows, k=k, title=title_text, rescore_label=rescore_label)
    fig.savefig(path)


def cmd_search(args: argparse.Namespace) -> int:
    from .codecs import codec_from_config
    from .search import search

    codec = dim = None
    if args.corpus.endswith(".npz") and _has_key(args.corpus, "config"):
        corpus, config, dim = load_codes(args.corpus, "CORPUS")
        codec = codec_from_config(config)
    else:
        corpus = load_float_matrix(args.corpus, "CORPUS")
    queries = load_float_matrix(args.queries, "QUERIES")
    if not 1 <= args.k <= corpus.shape[0]:
        raise CliError(f"-k: expected 1 <= k <= {corpus.shape[0]} (the corpus size), got {args.k}", EXIT_USAGE)
    _positive(args.oversample, "--oversample")
    rescore = load_float_matrix(args.rescore, "--rescore") if args.rescore else None
    metric = args.metric or ("hamming" if codec is not None and codec.info.packed else "cosine")
    kwargs: dict[str, Any] = {"metric": metric, "rescore": rescore, "oversample": args.oversample}
    if codec is not None:
        if codec.info.is_scalar:
            kwargs["codec"] = codec
        else:
            kwargs["precision"] = codec.precision
        if codec.info.packed:
            kwargs["dim"] = dim
    scores, ids = search(queries, corpus, args.k, **kwargs)
    if args.output:
        out = _output(args.output, suffix=".npz")
        write_npz(out, {"scores": scores, "indices": ids})
        print(f"{out}: scores and indices, {ids.shape[0]} queries x {ids.shape[1]}")
    else:
        print("query\trank\tindex\tscore")
        for qi in range(ids.shape[0]):
            for rank in range(ids.shape[1]):
                print(f"{qi}\t{rank + 1}\t{ids[qi, rank]}\t{scores[qi, rank]:.6g}")
    return EXIT_OK


# ---------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quantlib",
        description="Embedding quantization: evaluate formats, decode provider responses, quantize, search.",
    )
    parser.add_argument("--version", action="version", version=f"quantlib {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("eval", help="recall, size and speed of every format on real embeddings (the main job)")
    p.add_argument("embeddings", nargs="?", metavar="EMBEDDINGS",
                   help=".npy/.npz float embeddings (default: the bundled sample); an .npz may hold "
                        "'documents' and 'queries'")
    p.add_argument("--queries", "-q", metavar="Q", help="query embeddings (default: hold out rows of EMBEDDINGS)")
    p.add_argument("-k", type=int, default=10, help="neighbours per query (default 10)")
    p.add_argument("--oversample", type=int, default=4, help="rescoring candidates per neighbour (default 4)")
    p.add_argument("--n-queries", type=int, default=200, help="rows held out as queries when none are given")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.add_argument("--plot", metavar="PNG", help="also draw recall against bytes per vector (needs matplotlib)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("search", help="top-k search of QUERIES in CORPUS (floats, or codes from `quantize`)")
    p.add_argument("corpus", metavar="CORPUS", help="float .npy, or .npz codes written by `quantlib quantize`")
    p.add_argument("queries", metavar="QUERIES", help="float query embeddings .npy")
    p.add_argument("-k", type=int, default=10, help="results per query (default 10)")
    p.add_argument("--metric", choices=("cosine", "dot", "hamming"),
                   help="default: hamming for bit codes, cosine otherwise")
    p.add_argument("--rescore", metavar="FLOAT.npy", help="float32 corpus to re-rank the candidates with")
    p.add_argument("--oversample", type=int, default=4, help="candidates per result when rescoring (default 4)")
    p.add_argument("--output", "-o", metavar="OUT.npz", help="save scores and indices instead of printing them")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("quantize", help="quantize float embeddings (.npy) to codes (.npz with the codec config)")
    p.add_argument("input", metavar="IN", help="float embeddings, .npy or .npz (n, d)")
    p.add_argument("--precision", "-p", required=True,
                   help="float32, float16, int8, uint8, binary or ubinary")
    p.add_argument("--calibration", metavar="C", help="int8/uint8: calibration embeddings (default: IN itself)")
    p.add_argument("--ranges", metavar="R", help="int8/uint8: a (2, d) .npy of per-dimension [min, max]")
    p.add_argument("--rounding", choices=("nearest", "floor", "truncate"), default="nearest",
                   help="int8/uint8 rounding (floor = sentence-transformers >= 5.7)")
    p.add_argument("--output", "-o", required=True, metavar="OUT.npz")
    p.set_defaults(func=cmd_quantize)

    p = sub.add_parser("dequantize", help="codes (.npz from `quantlib quantize`) back to float32 (.npy)")
    p.add_argument("input", metavar="IN", help=".npz written by `quantlib quantize`")
    p.add_argument("--output", "-o", required=True, metavar="OUT.npy")
    p.set_defaults(func=cmd_dequantize)

    p = sub.add_parser(
        "decode", help="a provider's JSON response to arrays",
        description="A .npy output holds the dense embeddings. An .npz output holds every array of the response: "
                    "'embeddings' (dense); sparse weights as CSR 'sparse_indptr', 'sparse_indices', "
                    "'sparse_values' (and 'sparse_tokens' when sent), for quantlib.SparseBatch(indptr, indices, "
                    "values, tokens=...) or scipy.sparse.csr_array((values, indices, indptr)); multi-vectors as "
                    "'multivectors' (all rows stacked) and 'multivector_offsets' (input i owns rows "
                    "offsets[i]:offsets[i + 1]). A missing .npy suffix is appended, as numpy does.")
    p.add_argument("input", metavar="RESPONSE", help="JSON response body of an embedding API")
    p.add_argument("--output-dtype", help="the output_dtype/embedding_type requested (needed for base64 and "
                                          "to tell int8 from binary)")
    p.add_argument("--provider", help="force the provider instead of detecting it from the payload's shape")
    p.add_argument("--output", "-o", required=True, metavar="OUT.npy|OUT.npz")
    p.set_defaults(func=cmd_decode)
    return parser


def main(argv: Iterable[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(None if argv is None else list(argv))
    try:
        return int(args.func(args))
    except CliError as exc:
        if args.debug:
            raise
        print(f"quantlib {args.command}: error: {exc}", file=sys.stderr)
        return exc.status
    except (QuantlibError, OSError) as exc:
        if args.debug:
            raise
        print(f"quantlib {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, UnknownPrecisionError) else EXIT_DATA


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
