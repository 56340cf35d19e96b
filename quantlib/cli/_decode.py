"""``quantlib decode``: provider JSON responses (files, JSON Lines, stdin) to arrays and codes files.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import QuantlibError, short_repr
from ._common import _FLAGS, EXIT_OK, EXIT_USAGE, CliError, cli_words
from ._files import _input_file, output_path, save_codes, write_npy, write_npz


def _read_responses(inputs: Sequence[str]) -> list[tuple[str, bytes]]:
    """``(label, JSON text)`` of every response, in order: each file (``-`` is stdin; pipes such as
    ``/dev/stdin`` are read too), and each line of a JSON Lines file."""
    docs: list[tuple[str, bytes]] = []
    stdin_read = False
    for item in inputs:
        if item == "-":
            if stdin_read:
                raise CliError("RESPONSE: '-' (stdin) is given twice; it can be read once", EXIT_USAGE)
            stdin_read = True
            buffer = getattr(sys.stdin, "buffer", None)  # None: a text stream put in its place
            data = buffer.read() if buffer is not None else sys.stdin.read().encode("utf-8")
            label = "stdin"
        else:
            data, label = _input_file(item, "RESPONSE").read_bytes(), item
        docs.extend(_documents(data, label))
    return docs


def _documents(data: bytes, label: str) -> list[tuple[str, bytes]]:
    """One JSON document, or JSON Lines: several non-blank lines of which the first is a whole document."""
    lines = [(i, line) for i, line in enumerate(data.splitlines(), 1) if line.strip()]
    if not lines:
        raise CliError(f"RESPONSE {label}: empty; expected a JSON response (or JSON Lines, one per line)")
    if len(lines) > 1:
        try:
            json.loads(lines[0][1])
        except (ValueError, RecursionError):
            pass  # a JSON document spread over lines (pretty-printed)
        else:
            return [(f"{label} line {i}", line) for i, line in lines]
    return [(label, data)]


def _primary_key(r: Any) -> str | None:
    """The key of ``r.embeddings`` in ``r.embeddings_by_type``."""
    return next((k for k, v in r.embeddings_by_type.items() if v is r.embeddings), None)


def _shape_of(r: Any) -> dict[str, Any]:
    """What responses concatenated into one file must agree on."""
    return {"provider": r.provider, "model": r.model, "precision": r.precision, "dim": r.dim,
            "primary": _primary_key(r),
            "types": {k: f"{v.dtype} x {v.shape[1]}" for k, v in r.embeddings_by_type.items()},
            "sparse": r.sparse is not None, "multivectors": r.multivectors is not None}


def _concatenate(results: list[Any], labels: list[str]) -> Any:
    """One response holding the rows of ``results`` in order; refused when they differ in kind."""
    from ..providers import EmbeddingResponse

    first = results[0]
    if len(results) == 1:
        return first
    want = _shape_of(first)
    for r, label in zip(results[1:], labels[1:], strict=True):
        got = _shape_of(r)
        if got != want:
            diff = ", ".join(f"{key} {short_repr(got[key])} (not {short_repr(want[key])})"
                             for key in want if got[key] != want[key])
            raise CliError(f"RESPONSE {label}: differs from {labels[0]} in {diff}; only responses of one "
                           "kind are concatenated")
    by_type = {k: np.concatenate([r.embeddings_by_type[k] for r in results]) for k in first.embeddings_by_type}
    if first.embeddings is None:
        dense = None
    elif want["primary"] is not None:
        dense = by_type[want["primary"]]
    else:
        dense = np.concatenate([r.embeddings for r in results])
    return EmbeddingResponse(
        embeddings=dense, precision=first.precision, dim=first.dim, model=first.model, provider=first.provider,
        embeddings_by_type=by_type,
        sparse=None if first.sparse is None else [row for r in results for row in r.sparse],
        multivectors=None if first.multivectors is None else [m for r in results for m in r.multivectors],
    )


def cmd_decode(args: argparse.Namespace) -> int:
    from ..codecs import get_codec
    from ..precision import precision_info
    from ..providers import _provider_name, decode_response
    from ..providers._common import check_output_dimension, wire_precision

    _FLAGS.update(output_dtype="--output-dtype", output_dimension="--output-dimension", provider="--provider")
    if args.output_dtype is not None:  # the options first, so their errors are not blamed on a file
        wire_precision(args.output_dtype)
    check_output_dimension(args.output_dimension)
    _provider_name(args.provider)
    out, fmt = output_path(args.output, (".npy", ".npz"), None, "the decoded response")
    docs = _read_responses(args.inputs)
    results = []
    for label, text in docs:
        try:
            results.append(decode_response(text, output_dtype=args.output_dtype,
                                           output_dimension=args.output_dimension, provider=args.provider))
        except QuantlibError as exc:
            if args.debug:
                raise
            raise CliError(f"RESPONSE {label}: {cli_words(str(exc))}") from None
    result = _concatenate(results, [label for label, _ in docs])

    dense = result.embeddings
    info = precision_info(result.precision) if dense is not None else None
    codes = info is not None and not info.is_float
    primary = _primary_key(result)
    others = {k: v for k, v in result.embeddings_by_type.items() if k != primary}
    held = ["also " + ", ".join(f"embeddings_{k}" for k in others)] if others else []  # beside the dense matrix
    arrays = {f"embeddings_{k}": v for k, v in others.items()}
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
        # what the rows are: bits or codes cannot be told from their dtype, nor bits' dimension from their width
        arrays["multivector_precision"] = np.array(result.precision)
        arrays["multivector_dim"] = np.array(result.dim if result.dim is not None else -1)
    if not fmt:  # no suffix: .npy when it holds everything, else .npz
        fmt = ".npy" if dense is not None and not codes and not held else ".npz"
        out += fmt
    if fmt == ".npy" and dense is None:
        raise CliError(f"RESPONSE: the payload holds no dense embeddings to save as .npy, only "
                       f"{' and '.join(held) or 'nothing'}; use an .npz output")
    if fmt == ".npy" and codes:
        raise CliError(f"--output: {out}: {result.precision} codes are written as a codes file, an .npz that "
                       "records their precision and dimension (which `quantlib search` and `dequantize` read); "
                       "use an .npz output")
    if dense is None and not arrays:
        raise CliError("RESPONSE: the payload holds no embeddings to save")
    if fmt == ".npz" and codes:
        assert info is not None and result.dim is not None
        config = {"id": info.name, "raw": True} if info.is_scalar else get_codec(info.name).get_config()
        save_codes(out, dense, config, result.dim, extra=arrays)
    elif fmt == ".npz":
        write_npz(out, ({"embeddings": dense} if dense is not None else {}) | arrays)
    else:
        write_npy(out, dense)
    if dense is None:
        parts = ["no dense embeddings"]
    elif codes:
        parts = [f"{'x'.join(map(str, dense.shape))} {result.precision} codes of dimension {result.dim}"
                 + (" (uncalibrated)" if info is not None and info.is_scalar else "") + " in a codes file"]
    else:
        parts = [f"{'x'.join(map(str, dense.shape))} {result.precision} embeddings"]
    if held:
        parts.append(" and ".join(held) + ("" if fmt == ".npz" else " not saved (a .npy holds only the dense "
                                                                    "matrix; use an .npz output to keep them)"))
    source = f" from {len(docs)} responses" if len(docs) > 1 else ""
    print(f"{out}: {', '.join(parts)}, provider {result.provider}{source}")
    return EXIT_OK
