"""The ``quantlib`` command line.

Subcommands::

    quantlib eval [EMBEDDINGS] [--queries Q] [--json] [--plot recall.png]
    quantlib decode RESPONSE [RESPONSE ...] [--output-dtype T] [--output-dimension D] [--provider P]
                    -o OUT.npy|OUT.npz
    quantlib quantize IN --precision P [--calibration C] [--key NAME] -o OUT.npz
    quantlib dequantize IN.npz -o OUT.npy|OUT.npz
    quantlib search CORPUS QUERIES -k 10 [--rescore FLOAT] [--key NAME] [-o OUT.npz]

Output paths (docs/cli.md): the suffix, in any case, chooses the format where a
command can write both (``.npy``: one array; ``.npz``: several); a suffix the
command cannot write is refused in one line; a path without a suffix gets the
command's default.  The path printed is the file written, and it is replaced
only once complete.

Codes (``quantize``, and ``decode`` of int8/uint8/binary/ubinary responses) go
to a codes file: an ``.npz`` with ``codes``, ``config`` (the codec config as
JSON; ``{"id": "int8", "raw": true}`` for a provider's uncalibrated codes),
``dim`` and ``format``.  ``search`` and ``dequantize`` read it.

``decode -o OUT.npz`` also keeps every other dense type of a multi-type response
(``embeddings_<type>``), sparse weights (CSR: ``sparse_indptr``,
``sparse_indices``, ``sparse_values``, ``sparse_tokens``) and multi-vectors
(``multivectors``, ``multivector_offsets``); a ``.npy`` holds the dense float
matrix only.

Exit status: 0 success, 1 bad data (one line on stderr), 2 bad usage.
Messages name the command's flags; warnings print as ``quantlib: warning: ...``.
``--debug`` shows the traceback instead of the one-line message.

Where things live (every public name is imported here, from ``quantlib.cli``): the parser and
:func:`main` here; ``_common.py`` (exit codes, :class:`CliError`, flag names in messages, the
progress bar); ``_files.py`` (reading and writing ``.npy``/``.npz`` and codes files, the output
path rule); ``_codes.py`` (``quantize``, ``dequantize``, ``search``); ``_decode.py`` (``decode``);
``_eval.py`` (``eval``, its plot and the numba compile notice).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from collections.abc import Iterable

from .. import __version__
from ..errors import QuantlibError, UnknownPrecisionError
from ._codes import cmd_dequantize, cmd_quantize, cmd_search
from ._common import _FLAGS, EXIT_DATA, EXIT_OK, EXIT_USAGE, CliError, _warn_line, cli_words, progress
from ._decode import cmd_decode
from ._eval import DISTRIBUTION, cmd_eval, compile_notice
from ._files import (
    CODES_FORMAT,
    CODES_VERSION,
    codes_checksum,
    load_array,
    load_codes,
    load_float_matrix,
    output_path,
    save_codes,
    write_npy,
    write_npz,
)

#: What ``quantlib.cli`` offers (the commands' helpers live in the private modules named above).
__all__ = [
    "CODES_FORMAT",
    "CODES_VERSION",
    "DISTRIBUTION",
    "EXIT_DATA",
    "EXIT_OK",
    "EXIT_USAGE",
    "CliError",
    "build_parser",
    "cli_words",
    "cmd_decode",
    "cmd_dequantize",
    "cmd_eval",
    "cmd_quantize",
    "cmd_search",
    "codes_checksum",
    "compile_notice",
    "load_array",
    "load_codes",
    "load_float_matrix",
    "main",
    "output_path",
    "progress",
    "save_codes",
    "write_npy",
    "write_npz",
]

# ---------------------------------------------------------------------------- parser


def _metric_choices() -> tuple[str, ...]:
    """Every metric name and alias :func:`quantlib.search` accepts, from the metric records."""
    from ..metrics import METRICS

    return tuple(name for m in METRICS for name in (m.name, *m.aliases))


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
    p.add_argument("--precision", "-p", action="append", metavar="NAME",
                   help="only this precision's rows (repeatable; any registered codec's name); default all")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("search", help="top-k search of QUERIES in CORPUS (floats, or codes from `quantize`)")
    p.add_argument("corpus", metavar="CORPUS",
                   help="float .npy/.npz, or a codes file written by `quantlib quantize` or `quantlib decode`")
    p.add_argument("queries", metavar="QUERIES",
                   help="float query embeddings .npy/.npz, or a codes file of the corpus's precision")
    p.add_argument("-k", type=int, default=10, help="results per query (default 10)")
    p.add_argument("--metric", choices=_metric_choices(),
                   help="default: hamming for bit codes, cosine otherwise; sqeuclidean (alias l2) is the "
                        "squared Euclidean distance, lowest first")
    p.add_argument("--rescore", metavar="FLOAT.npy", help="float32 corpus to re-rank the candidates with")
    p.add_argument("--oversample", type=int, default=4, help="candidates per result when rescoring (default 4)")
    p.add_argument("--key", metavar="NAME", help="the array of a float CORPUS .npz to search (default: its only "
                                                 "array, or 'embeddings')")
    p.add_argument("--queries-key", metavar="NAME", help="the array of a QUERIES .npz")
    p.add_argument("--rescore-key", metavar="NAME", help="the array of a --rescore .npz")
    p.add_argument("--output", "-o", metavar="OUT.npz",
                   help="save scores, indices and metric instead of printing them (.npz)")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("quantize", help="quantize float embeddings (.npy) to codes (.npz with the codec config)")
    p.add_argument("input", metavar="IN", help="float embeddings, .npy or .npz (n, d)")
    p.add_argument("--key", metavar="NAME", help="the array of an .npz IN (default: its only array, or "
                                                 "'embeddings')")
    p.add_argument("--precision", "-p", required=True,
                   help="float32, float16, int8, uint8, binary, ubinary, or quantlib's own rotated4, "
                        "rotated2 or rotated1 (fitted from --calibration, default IN)")
    p.add_argument("--calibration", metavar="C",
                   help="int8/uint8/rotated*: calibration embeddings (default: IN itself)")
    p.add_argument("--ranges", metavar="R", help="int8/uint8: a (2, d) .npy of per-dimension [min, max]")
    p.add_argument("--rounding", choices=("nearest", "floor", "truncate"), default="nearest",
                   help="int8/uint8 rounding (floor = sentence-transformers >= 5.7)")
    p.add_argument("--output", "-o", required=True, metavar="OUT.npz", help="the codes file (.npz)")
    p.set_defaults(func=cmd_quantize)

    p = sub.add_parser("dequantize", help="a codes file back to float32 (.npy, or .npz with 'embeddings')",
                       description="Calibrated codes are dequantized, bits become +1.0/-1.0; a provider's "
                                   "uncalibrated int8/uint8 codes (from `quantlib decode`) give their integer "
                                   "values as float32.")
    p.add_argument("input", metavar="IN", help="codes file written by `quantlib quantize` or `quantlib decode`")
    p.add_argument("--output", "-o", required=True, metavar="OUT.npy|OUT.npz")
    p.set_defaults(func=cmd_dequantize)

    p = sub.add_parser(
        "decode", help="provider JSON responses to arrays",
        description="Responses (files, JSON Lines with one response per line, or - for stdin) are decoded and "
                    "their rows concatenated in order. A .npy output holds the dense float embeddings. An .npz "
                    "output holds every array of the response: 'embeddings' (dense floats), or int8/uint8/"
                    "binary/ubinary codes as a codes file ('codes', 'config', 'dim', 'format': what `quantlib "
                    "search` and `dequantize` read); every other type of a multi-type response as "
                    "'embeddings_<type>'; sparse weights as CSR 'sparse_indptr', 'sparse_indices', "
                    "'sparse_values' (and 'sparse_tokens' when sent), for quantlib.SparseBatch(indptr, indices, "
                    "values, tokens=...) or scipy.sparse.csr_array((values, indices, indptr)); multi-vectors as "
                    "'multivectors' (all rows stacked) and 'multivector_offsets' (input i owns rows "
                    "offsets[i]:offsets[i + 1]). Without a suffix, .npy is used when it holds everything, .npz "
                    "otherwise.")
    p.add_argument("inputs", nargs="+", metavar="RESPONSE",
                   help="JSON response body of an embedding API, a JSON Lines file of them, or - for stdin")
    p.add_argument("--output-dtype", help="the output_dtype/embedding_type requested (needed for base64 and "
                                          "to tell int8 from binary; for Cohere, which type is the codes file)")
    p.add_argument("--output-dimension", type=int, metavar="D",
                   help="the output_dimension requested: the number of bits of binary/ubinary rows")
    p.add_argument("--provider", help="force the provider instead of detecting it from the payload's shape")
    p.add_argument("--output", "-o", required=True, metavar="OUT.npy|OUT.npz")
    p.set_defaults(func=cmd_decode)
    return parser


def main(argv: Iterable[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(None if argv is None else list(argv))
    _FLAGS.clear()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = _warn_line
            return int(args.func(args))
    except BrokenPipeError:  # `quantlib search ... | head`: the reader has all it wanted
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return EXIT_DATA
    except CliError as exc:
        if args.debug:
            raise
        print(f"quantlib {args.command}: error: {exc}", file=sys.stderr)
        return exc.status
    except (QuantlibError, OSError) as exc:
        if args.debug:
            raise
        print(f"quantlib {args.command}: error: {cli_words(str(exc))}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, UnknownPrecisionError) else EXIT_DATA
    finally:
        _FLAGS.clear()

