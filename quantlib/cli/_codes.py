"""``quantlib quantize``, ``dequantize`` and ``search``: the commands that make, read and search codes
files.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import short_repr
from ._common import _FLAGS, EXIT_OK, EXIT_USAGE, CliError, _positive
from ._files import _has_key, load_array, load_codes, load_float_matrix, output_path, save_codes, write_npy, write_npz

# ---------------------------------------------------------------------------- subcommands


def cmd_quantize(args: argparse.Namespace) -> int:
    from ..codecs import codec_class, get_codec
    from ..codecs.scalar import MIN_CALIBRATION_ROWS
    from ..errors import CalibrationWarning
    from ..precision import PRECISIONS, precision_info

    _FLAGS.update(precision="--precision", calibration_embeddings="--calibration" if args.calibration else "IN",
                  ranges="--ranges", rounding="--rounding", embeddings="IN", x="IN")
    out, _ = output_path(args.output, (".npz",), ".npz", "a codes file (codes, codec config and dimension)")
    info = precision_info(args.precision)
    x = load_float_matrix(args.input, "IN", args.key, "--key")
    if info.calibrated:
        cls = codec_class(info)
        takes = set(inspect.signature(cls.__init__).parameters) | set(inspect.signature(cls.fit).parameters)
        for flag, given in (("--ranges", args.ranges), ("--rounding", args.rounding != "nearest")):
            if given and flag[2:] not in takes:
                raise CliError(f"{flag}: {info.name} takes no {flag[2:]} (only int8 and uint8 do); it is fitted from "
                               "--calibration (default: IN itself)", EXIT_USAGE)
        options = {"rounding": args.rounding} if "rounding" in takes else {}
        if args.ranges:
            ranges = load_array(args.ranges, "--ranges")
            if ranges.ndim == 2 and ranges.shape[1] != x.shape[1]:
                raise CliError(f"--ranges: {args.ranges} holds ranges for dimension {ranges.shape[1]}; "
                               f"IN has dimension {x.shape[1]}")
            codec = get_codec(info.name, ranges=ranges, **options)
        else:
            calibration = load_float_matrix(args.calibration, "--calibration") if args.calibration else x
            if calibration.shape[1] != x.shape[1]:
                raise CliError(f"--calibration: {args.calibration} has dimension {calibration.shape[1]}; "
                               f"IN has dimension {x.shape[1]}")
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                codec = cls.fit(calibration, info.name, **options)  # type: ignore[attr-defined]
            for w in caught:  # say it in the command's words
                if issubclass(w.category, CalibrationWarning):
                    source = "--calibration" if args.calibration else "IN (the calibration without --calibration)"
                    warnings.warn(f"{source}: int8/uint8 ranges computed from {calibration.shape[0]} row(s); "
                                  f"quantization is more stable with --ranges or a --calibration file of at "
                                  f"least {MIN_CALIBRATION_ROWS} rows", CalibrationWarning, stacklevel=1)
                else:
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    elif args.ranges or args.calibration:
        calibrated = ", ".join(p.name for p in PRECISIONS if p.calibrated)
        raise CliError(f"--ranges/--calibration: only {calibrated} use calibration, got {info.name}", EXIT_USAGE)
    else:
        codec = get_codec(info.name)
    codes = codec.encode(x)
    save_codes(out, codes, codec.get_config(), x.shape[1])
    size = codec.code_size(x.shape[1])
    print(f"{out}: {codes.shape[0]} x {x.shape[1]} -> {info.name} "
          f"({size} bytes per vector, {4 * x.shape[1] / size:.1f}x smaller)")
    return EXIT_OK


def _codes_codec(config: dict[str, Any], name: str, path: str) -> Any:
    """The codec of a codes file's config, or None for uncalibrated int8/uint8 codes (``"raw": true``)."""
    from ..codecs import codec_from_config
    from ..precision import precision_info

    if config.get("raw") is True:
        info = precision_info(config.get("id"), name=f"{name} config 'id'")
        if not info.is_scalar:
            raise CliError(f"{name}: {path} marks {info.name} codes raw; only int8 and uint8 codes can be "
                           "uncalibrated")
        return None
    return codec_from_config(config)


def _native(codes: np.ndarray) -> np.ndarray:
    """Codes in native byte order (a big-endian ``>f4``/``>f2`` codes file decodes like a native one)."""
    return codes.astype(codes.dtype.newbyteorder("=")) if not codes.dtype.isnative else codes


def cmd_dequantize(args: argparse.Namespace) -> int:
    from ..precision import precision_info

    out, fmt = output_path(args.output, (".npy", ".npz"), ".npy", "float32 embeddings")
    codes, config, dim = load_codes(args.input, "IN")
    codec = _codes_codec(config, "IN", args.input)
    codes = _native(codes)
    if codec is None:  # a provider's int8/uint8: no ranges to dequantize with
        precision = precision_info(config["id"]).name
        values = _as_code_matrix(codes, precision, dim, "IN", args.input).astype(np.float32)
        how = (f"uncalibrated {precision} codes: their integer values as float32 (no calibration ranges "
               "were recorded; dot-product ranking is kept, distances are in code units)")
    else:
        values = codec.decode(codes, dim=dim if codec.info.packed else None)
        precision = codec.precision
        how = f"{precision}" + (" bits as +1.0/-1.0" if codec.family == "signs" else "")
    if fmt == ".npz":
        write_npz(out, {"embeddings": values})
    else:
        write_npy(out, values)
    print(f"{out}: {values.shape[0]} x {values.shape[1]} float32 from {how}")
    return EXIT_OK


def _as_code_matrix(codes: np.ndarray, precision: str, dim: int, name: str, path: str) -> np.ndarray:
    """Uncalibrated codes checked against their precision and dimension."""
    from ..precision import precision_info

    info = precision_info(precision)
    if codes.ndim != 2 or codes.dtype != info.dtype or codes.shape[1] != dim:
        raise CliError(f"{name}: {path} should hold (n, {dim}) {info.dtype} {precision} codes, got "
                       f"shape {codes.shape} dtype {codes.dtype}")
    return codes


def _is_codes_file(path: str) -> bool:
    return Path(path).suffix.lower() == ".npz" and _has_key(path, "config") and _has_key(path, "codes")


def _load_codes_input(path: str, name: str) -> tuple[np.ndarray, Any, str, int, dict[str, Any]]:
    """Codes, codec (None when uncalibrated), precision, dimension and codec config of a codes file."""
    from ..precision import precision_info

    codes, config, dim = load_codes(path, name)
    codec = _codes_codec(config, name, path)
    if codec is None:
        precision = precision_info(config["id"]).name
        codes = _as_code_matrix(codes, precision, dim, name, path)
    else:
        precision = codec.precision
    return _native(codes), codec, precision, dim, config


def cmd_search(args: argparse.Namespace) -> int:
    from ..search import search

    _FLAGS.update(metric="--metric", k="-k", oversample="--oversample", rescore="--rescore",
                  queries="QUERIES", corpus="CORPUS")
    out = output_path(args.output, (".npz",), ".npz", "scores and indices")[0] if args.output else None
    codec = dim = precision = config = None
    if _is_codes_file(args.corpus) and not args.key:  # --key: a float member beside the codes
        corpus, codec, precision, dim, config = _load_codes_input(args.corpus, "CORPUS")
    else:
        corpus = load_float_matrix(args.corpus, "CORPUS", args.key, "--key")
    if _is_codes_file(args.queries) and not args.queries_key:
        queries, _, q_precision, q_dim, q_config = _load_codes_input(args.queries, "QUERIES")
        if (q_precision, q_dim) != (precision, dim):
            corpus_is = f"{precision} codes of dimension {dim}" if precision else "float embeddings"
            raise CliError(f"QUERIES: {args.queries} holds {q_precision} codes of dimension {q_dim}; code "
                           f"queries must match the corpus, which holds {corpus_is} (or give float queries)")
        if q_config != config:  # e.g. int8 calibrated on other ranges: the same integers mean other values
            raise CliError(f"QUERIES: {args.queries} holds codes of another codec than CORPUS's (its config "
                           f"{short_repr(q_config)}, not {short_repr(config)}); give float queries")
    else:
        queries = load_float_matrix(args.queries, "QUERIES", args.queries_key, "--queries-key")
    if not 1 <= args.k <= corpus.shape[0]:
        raise CliError(f"-k: expected 1 <= k <= {corpus.shape[0]} (the corpus size), got {args.k}", EXIT_USAGE)
    _positive(args.oversample, "--oversample")
    rescore = (load_float_matrix(args.rescore, "--rescore", args.rescore_key, "--rescore-key")
               if args.rescore else None)
    packed = codec is not None and codec.info.packed
    from ..metrics import metric_info
    from ..search import _rescore_metric

    m = metric_info(args.metric or ("hamming" if packed and codec.family == "signs" else "cosine"))
    kwargs: dict[str, Any] = {"metric": m.name, "rescore": rescore, "oversample": args.oversample}
    if codec is not None and codec.info.calibrated:  # the codes mean nothing without their codec
        kwargs["codec"] = codec
    elif precision is not None:
        kwargs["precision"] = precision
    if packed:
        kwargs["dim"] = dim
    scores, ids = search(queries, corpus, args.k, **kwargs)
    # a Hamming first stage is rescored by cosine (quantlib.search): the record says by what
    scored_by = _rescore_metric(m) if rescore is not None else m
    meaning = f"{scored_by.describes}: {'higher' if scored_by.higher_is_better else 'lower'} is better"
    if out is not None:
        write_npz(out, {"scores": scores, "indices": ids, "metric": np.array(scored_by.name)})
        print(f"{out}: scores and indices, {ids.shape[0]} queries x {ids.shape[1]}; scores are {meaning}")
    else:
        column = "score" if scored_by.higher_is_better else f"{scored_by.name}_distance"
        if not scored_by.higher_is_better:
            print(f"quantlib search: the last column holds {scored_by.describes}, lowest first: "
                  "lower is better", file=sys.stderr)
        print(f"query\trank\tindex\t{column}")
        for qi in range(ids.shape[0]):
            for rank in range(ids.shape[1]):
                print(f"{qi}\t{rank + 1}\t{ids[qi, rank]}\t{scores[qi, rank]:.6g}")
    return EXIT_OK
