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
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import os
import re
import sys
import tempfile
import time
import warnings
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .. import __version__, _checksum
from .._npyfile import READ_ERRORS, NpzArrays, load_npy
from ..errors import QuantlibError, UnknownPrecisionError, short_repr

T = TypeVar("T")

EXIT_OK, EXIT_DATA, EXIT_USAGE = 0, 1, 2


class CliError(Exception):
    """A problem with the user's files or options, reported in one line."""

    def __init__(self, message: str, status: int = EXIT_DATA) -> None:
        super().__init__(message)
        self.status = status


#: The Python argument names the running command's flags stand for (set by each command), so that
#: messages and warnings from the library name ``--output-dtype``, not ``output_dtype=``.
_FLAGS: dict[str, str] = {}


def cli_words(message: str, flags: dict[str, str] | None = None) -> str:
    """``message`` with the Python argument names of ``flags`` (default: the running command's) as CLI flags.

    A name at the start (``output_dtype: ...``) becomes the flag (``--output-dtype: ...``); ``name='x'``
    (and ``name='x' or 'y' or ...``) becomes ``--flag x`` (``--flag x or --flag y ...``); a name with an underscore
    is replaced wherever it stands as a word.

    Examples
    --------
    >>> cli_words("metric: 'hamming' scores binary rows; use metric='dot' or 'cosine' for codes",
    ...           {"metric": "--metric"})
    "--metric: 'hamming' scores binary rows; use --metric dot or --metric cosine for codes"
    >>> cli_words("use metric='dot' or 'cosine' or 'sqeuclidean' for int8 rows", {"metric": "--metric"})
    'use --metric dot or --metric cosine or --metric sqeuclidean for int8 rows'
    >>> cli_words("output_dtype: expected one of float32, int8", {"output_dtype": "--output-dtype"})
    '--output-dtype: expected one of float32, int8'
    """
    flags = _FLAGS if flags is None else flags
    for name, flag in flags.items():
        if not flag.startswith("-"):  # a positional argument: only the leading "name:" is renamed
            message = re.sub(rf"^{re.escape(name)}:", f"{flag}:", message)
            continue
        message = re.sub(rf"^{re.escape(name)}:", f"{flag}:", message)
        message = re.sub(rf"\b{re.escape(name)}='([^']*)'((?: or '[^']*')*)",
                         lambda m, f=flag: f"{f} {m[1]}" + re.sub(r" or '([^']*)'", rf" or {f} \1", m[2]),
                         message)
        message = re.sub(rf"\b{re.escape(name)}=(?=[\w\[(-])", f"{flag} ", message)
        if "_" in name:
            message = re.sub(rf"\b{re.escape(name)}\b", flag, message)
    return message


def _warn_line(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    """``warnings.showwarning`` for the command line: one line, flags named, no source line."""
    stream = file or sys.stderr
    stream.write(f"quantlib: warning: {cli_words(str(message))}\n")


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


def load_array(path: str, name: str, key: str | None = None, option: str | None = None) -> np.ndarray:
    """An array from ``.npy`` or ``.npz``, never unpickled.

    From an ``.npz``: the member ``key``; without it, the only member, or ``embeddings`` (what
    ``quantlib decode`` writes).  Any other ``.npz`` is ambiguous and refused with its members listed
    (``option`` is the flag that picks one).
    """
    p = _input_file(path, name)
    with _opened(p, name, ".npy/.npz file") as loaded:
        if isinstance(loaded, np.ndarray):
            if key is not None:
                raise CliError(f"{option or name}: {path} is a .npy file (one array); {key!r} picks an .npz "
                               "member", EXIT_USAGE)
            return loaded
        keys = list(loaded.files)
        if key is not None and key not in keys:
            raise CliError(f"{option or name}: {path} has no array {key!r} (it has {', '.join(keys) or 'none'})")
        if not keys:
            raise CliError(f"{name}: {path} holds no arrays")
        if key is None:
            if len(keys) == 1:
                key = keys[0]
            elif "embeddings" in keys:
                key = "embeddings"
            elif {"codes", "config"} <= set(keys):
                raise CliError(f"{name}: {path} is a quantlib codes file, not float embeddings; "
                               "`quantlib dequantize` it first")
            else:
                pick = f"pick one with {option} NAME" if option else "expected one array, or one named 'embeddings'"
                raise CliError(f"{name}: {path} holds several arrays ({', '.join(keys)}); {pick}", EXIT_USAGE)
        return loaded[key]


def load_float_matrix(path: str, name: str, key: str | None = None, option: str | None = None) -> np.ndarray:
    arr = load_array(path, name, key, option)
    if arr.dtype.kind != "f":
        raise CliError(f"{name}: {path} must hold float embeddings, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise CliError(f"{name}: {path} must hold an (n, d) matrix, got shape {arr.shape}")
    return arr.astype(np.float32, copy=False)


def _input_file(path: str, name: str) -> Path:
    """An existing file to read (a pipe such as ``/dev/stdin`` counts; a directory does not)."""
    p = Path(path)
    if not p.exists():
        raise CliError(f"{name}: no such file: {path}")
    if p.is_dir():
        raise CliError(f"{name}: {path} is a directory, not a file")
    return p


@contextlib.contextmanager
def _replacing(path: str) -> Iterator[str]:
    """A temporary file beside ``path`` to write, moved over ``path`` only when the block succeeds, so an
    interrupted write never leaves a half-written file or destroys the one that was there."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.resolve().parent)
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # as open() would create it, not mkstemp's 0600
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` without pickle: every member written with ``allow_pickle=False``.

    As ``np.savez`` does, ``.npz`` is appended to a path that lacks it (in any case).
    The file appears only once complete.
    """
    if not path.lower().endswith(".npz"):
        path += ".npz"
    with _replacing(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED,
                                                   allowZip64=True) as zf:
        for key, arr in arrays.items():
            with zf.open(key + ".npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(arr), allow_pickle=False)


def write_npy(path: str, array: np.ndarray) -> None:
    """One array to ``path`` exactly (``np.save`` would append ``.npy`` to ``OUT.NPY``), once complete."""
    with _replacing(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array, allow_pickle=False)


def codes_checksum(codes: np.ndarray, config_text: str, dim: int) -> str:
    """``"sha256:..."`` of the codes' dtype, shape and bytes, the config text and the dimension."""
    codes = np.ascontiguousarray(codes)
    head = json.dumps({"config": config_text, "dim": dim, "dtype": codes.dtype.str, "shape": list(codes.shape)},
                      sort_keys=True, separators=(",", ":")).encode("utf-8")
    return _checksum.sha256([head, codes.reshape(-1).view(np.uint8)])


def save_codes(path: str, codes: np.ndarray, config: dict[str, Any], dim: int,
               extra: dict[str, np.ndarray] | None = None) -> None:
    """Codes with their codec config (JSON) and logical dimension, in one ``.npz`` (format version 2).

    ``extra`` members (what ``decode`` keeps besides the codes) ride along; the checksum covers the
    codes, the config and the dimension.
    """
    config_text = json.dumps(config)
    meta = {"format": CODES_FORMAT, "version": CODES_VERSION,
            "checksum": codes_checksum(codes, config_text, int(dim))}
    clash = {"codes", "config", "dim", "format"} & set(extra or ())
    if clash:
        raise ValueError(f"extra: member names {sorted(clash)} are the codes file's own")
    write_npz(path, {"codes": codes, "config": np.array(config_text), "dim": np.array(dim),
                     "format": np.array(json.dumps(meta)), **(extra or {})})


def load_codes(path: str, name: str) -> tuple[np.ndarray, dict[str, Any], int]:
    """Read :func:`save_codes` output (version 2, or version 1 without ``format``)."""
    p = _input_file(path, name)
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


#: What each suffix means for an output file.
_FORMATS = {".npy": ".npy (one array)", ".npz": ".npz (several arrays)"}


def _output(path: str | None, name: str = "--output", suffix: str = "") -> str:
    """The file that will be written: ``path``, with ``suffix`` appended when it lacks it."""
    if not path:
        raise CliError(f"{name}: an output file is required", EXIT_USAGE)
    if suffix and not path.lower().endswith(suffix):
        path += suffix
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise CliError(f"{name}: directory {parent} does not exist")
    return path


def output_path(path: str | None, writes: Sequence[str], default: str | None, what: str,
                name: str = "--output") -> tuple[str, str]:
    """The file to write and its format (``".npy"`` or ``".npz"``): the one output rule.

    The suffix, in any case, chooses the format among ``writes`` (what the command can write); a
    path without a suffix gets ``default`` appended (None: the caller decides, and the format is
    ``""``); any other suffix is refused, so no file ever gets a second suffix.
    """
    if not path:
        raise CliError(f"{name}: an output file is required", EXIT_USAGE)
    suffix = Path(path).suffix.lower()
    if suffix in writes:
        fmt = suffix
    elif suffix:
        can = " or ".join(_FORMATS[w] for w in writes)
        raise CliError(f"{name}: {path} ends in {Path(path).suffix}; {what} can be written as {can} only",
                       EXIT_USAGE)
    else:
        fmt = default or ""
        path += fmt
    _output(path, name)
    return path, fmt


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

    from ..evaluation import plot_figure

    title_text = "\n".join(textwrap.fill(line, 110) for line in title)
    fig = plot_figure(rows, k=k, title=title_text, rescore_label=rescore_label)
    fig.savefig(path)


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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
