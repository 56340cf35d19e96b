"""The files the command line reads and writes: ``.npy``/``.npz`` arrays read without unpickling,
written only once complete, the codes file format (:func:`save_codes`, :func:`load_codes`) and the
output path rule (:func:`output_path`).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import _checksum
from .._npyfile import READ_ERRORS, NpzArrays, load_npy
from ..errors import short_repr
from ._common import EXIT_USAGE, CliError

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


def _has_key(path: str, key: str) -> bool:
    try:
        with _opened(Path(path), "", "") as z:
            return key in getattr(z, "files", ())
    except (CliError, OSError):
        return False
