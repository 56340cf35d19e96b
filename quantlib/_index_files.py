"""The files of a saved :class:`~quantlib.FlatIndex`: names, the save lock, writing, and reading the header.

:mod:`quantlib.index` describes the on-disk layout (version 3) and holds the
index itself, whose :meth:`~quantlib.FlatIndex.save` and
:meth:`~quantlib.FlatIndex.load` use what is here: the file names a save
writes or may clean up, the per-directory save lock (threads of one process
and ``flock`` across processes), ``.npy`` writes flushed to disk and hashed on
the way, the directory ``fsync`` that makes the commit durable, and the header
checks of every version this quantlib reads.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: saves are then serialized within one process only
    fcntl = None  # type: ignore[assignment]

import numpy as np

from . import _checksum
from .errors import ConfigError, short_repr

#: Name of the header file and the format written into it.
HEADER = "quantlib-index.json"
FORMAT = "quantlib.FlatIndex"
VERSION = 3
#: Versions :meth:`FlatIndex.load` reads (tests/golden/formats holds one index of each).
_READS = (1, 2, 3)
#: The fixed array file names of versions 1 and 2.
_FILES = {"codes": "codes.npy", "ids": "ids.npy", "rescore": "rescore.npy"}
#: Array files of version 3: ``<key>-<save>.npy``, ``<save>`` 16 hex digits new for each save.
_V3_FILE = re.compile(r"(codes|ids|rescore)-[0-9a-f]{16}\.npy")
#: Every name a save writes or a crashed save may leave: what a later save may delete when no header names it.
_OWNED = re.compile(r"(codes|ids|rescore)(-[0-9a-f]{16}\.npy|\.npy|\.npy\.tmp)"
                    r"|quantlib-index\.json(\.[0-9a-f]{16})?\.tmp")
#: How many times :meth:`FlatIndex.load` starts again when saves replace the index under it.
_LOAD_ATTEMPTS = 8

# Directories being saved to by this process (the file lock below covers other processes).
_saving: set[str] = set()
_saving_guard = threading.Lock()


class _Vanished(Exception):
    """An array file named by the header is not there (internal: load reads the header again)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@contextlib.contextmanager
def _save_lock(root: Path) -> Iterator[None]:
    """Hold the save lock of directory ``root``, or raise ConfigError at once if a save holds it.

    Threads of this process are kept apart by a set of the directories being saved to;
    processes by ``flock`` on the directory itself (released by the kernel when a process
    dies, so a killed save leaves no stale lock).  Where there is no ``flock``, or the file
    system refuses it, only the threads of one process are kept apart.
    """
    key = os.path.realpath(root)
    busy = ConfigError(f"path: another save to {root} is under way (in this or another process); "
                       "this save wrote nothing")
    with _saving_guard:
        if key in _saving:
            raise busy
        _saving.add(key)
    fd = None
    try:
        if fcntl is not None:
            fd = os.open(root, os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise busy from None
            except OSError:  # a file system without flock: threads of this process only
                pass
        yield
    finally:
        if fd is not None:
            os.close(fd)  # releases the flock
        with _saving_guard:
            _saving.discard(key)


class _HashingWriter:
    """A write-only file wrapper that hashes what passes through (numpy writes .npy headers and data to it)."""

    def __init__(self, f: Any) -> None:
        self._f = f
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self._f.write(data)


def _write_npy(file: Path, arr: np.ndarray) -> str:
    """Write ``arr`` as a new ``.npy`` file, flushed to disk; the SHA-256 of the bytes written."""
    with open(file, "xb") as f:
        writer = _HashingWriter(f)
        np.lib.format.write_array(writer, np.ascontiguousarray(arr), allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())
    return writer.digest.hexdigest()


def _fsync_directory(root: Path) -> None:
    """Make the renames in ``root`` durable (where directories can be opened: not on Windows)."""
    try:
        fd = os.open(root, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _read_header(header_path: Path, text: bytes) -> dict[str, Any]:
    """The header (``text``, read from ``header_path``), checked for everything :meth:`FlatIndex.load` reads."""
    try:
        header = json.loads(text.decode("utf-8"))
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer too long to parse
        raise ConfigError(f"path: {header_path} is not valid JSON ({exc})") from None
    except RecursionError:
        raise ConfigError(f"path: {header_path} nests too deeply to be an index header") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ConfigError(f"path: {header_path} is not a {FORMAT} header")
    version = header.get("version")
    if isinstance(version, bool) or version not in _READS:
        raise ConfigError(
            f"path: index format version {short_repr(version)} is not one this quantlib reads "
            f"({', '.join(map(str, _READS))})"
        )
    if version >= 2:
        problem = _checksum.record_mismatch(header)
        if problem:
            raise ConfigError(f"path: {header_path.name}: {problem}; the index is corrupt")

    def bad(key: str, expected: str) -> ConfigError:
        return ConfigError(f"path: {header_path}: expected {key!r} to be {expected}, "
                           f"got {short_repr(header.get(key, '(missing)'))}")

    count = header.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise bad("count", "a row count (an integer >= 0)")
    for key in ("codec", "dim", "metric"):
        if key not in header:
            raise bad(key, "present")
    header.setdefault("rescore_codec", None)
    arrays = header.get("arrays")
    if not isinstance(arrays, dict):
        raise bad("arrays", "a dict of array entries")
    for key, entry in arrays.items():
        if key not in _FILES:
            raise ConfigError(f"path: unknown array {short_repr(key)} in {header_path}")
        file = entry.get("file") if isinstance(entry, dict) else None
        if version >= 3:
            # a name of this form only: never a path out of the directory
            good_file = isinstance(file, str) and _V3_FILE.fullmatch(file) and file.startswith(key + "-")
            wanted = f"{key}-<16 hex digits>.npy"
        else:
            good_file = file == _FILES[key]
            wanted = _FILES[key]
        if (not good_file or not isinstance(entry.get("dtype"), str) or not isinstance(entry.get("shape"), list)
                or not isinstance(entry.get("sha256"), str)):
            raise ConfigError(f"path: {header_path}: array {key!r} needs file {wanted!r}, a dtype, "
                              f"a shape and a sha256, got {short_repr(entry, 120)}")
    return header


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()
