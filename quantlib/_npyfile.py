"""Reading ``.npy`` and ``.npz`` files from outside without trusting their headers.

``np.load`` believes a file's header: it reads as many header bytes as the
header-length field claims, and allocates the array its shape claims before it
reads a byte of data, so a 200-byte file can make it allocate gigabytes (a
fuzzer found both).  Its header parser also raises ``tokenize.TokenError``,
``SyntaxError`` or ``TypeError`` on damaged text.  :func:`load_npy` and
:class:`NpzArrays` check every claim against the bytes actually there before
anything is allocated, and turn every kind of damage into a ``ValueError``.
Nothing is ever unpickled.
"""

from __future__ import annotations

import io
import math
import os
import threading
import tokenize
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["READ_ERRORS", "NpzArrays", "load_npy"]

#: Held while a header is parsed.  numpy parses it with ``ast.literal_eval``, which CPython 3.11 and 3.12
#: do not make safe across threads (gh-106905: concurrent calls raise ``SystemError: AST constructor
#: recursion depth mismatch``; FlatIndex loads from several threads met it), and the parse runs under
#: ``warnings.catch_warnings``, which changes the process's warning filters for every thread meanwhile.
_HEADER_LOCK = threading.Lock()

#: The largest ``.npy`` header read (numpy writes a few hundred bytes; its own reader stops at 10000).
MAX_HEADER = 10000

#: What reading a damaged file can raise once the checks here have passed: the file system's errors, and
#: zipfile's for a truncated archive, a member whose CRC-32 does not match, or header bits that claim
#: encryption (RuntimeError) or an unsupported method (NotImplementedError).
READ_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, RuntimeError, NotImplementedError, zlib.error)

_MAGIC = b"\x93NUMPY"
# What numpy's header parser raises on damaged header text.
_HEADER_ERRORS = (ValueError, TypeError, SyntaxError, tokenize.TokenError, RecursionError, MemoryError)


def _header(f: IO[bytes], available: int) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """Shape, Fortran order, dtype and data size of the ``.npy`` at ``f``'s position (``available`` bytes).

    Raises ValueError when the header is damaged or claims more bytes than there are.
    """
    start = f.tell()
    lead = f.read(10)
    if len(lead) < 10 or lead[:6] != _MAGIC:
        raise ValueError("not a .npy array (no \\x93NUMPY magic)")
    major = lead[6]
    if major not in (1, 2):
        raise ValueError(f".npy format version {major}.{lead[7]} is not one this reads (1.0, 2.0)")
    width = 2 if major == 1 else 4
    head = lead[8:10] if major == 1 else lead[8:10] + f.read(2)
    length = int.from_bytes(head, "little")
    if length > min(MAX_HEADER, available - 8 - width):
        raise ValueError(f"the .npy header claims {length} bytes; the file has {available - 8 - width} after "
                         f"its magic (and headers stop at {MAX_HEADER})")
    f.seek(start + 8)
    try:
        with _HEADER_LOCK, warnings.catch_warnings():  # a deprecated dtype alias ('a') warns: damage
            warnings.simplefilter("error")
            if major == 1:
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=MAX_HEADER)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=MAX_HEADER)
    except (*_HEADER_ERRORS, Warning) as exc:
        raise ValueError(f"damaged .npy header ({type(exc).__name__}: {exc})") from None
    if dtype.hasobject:
        raise ValueError(f"Object arrays cannot be loaded when allow_pickle=False (the .npy holds dtype {dtype}); "
                         "quantlib never unpickles")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > available - (8 + width + length):
        raise ValueError(f"the .npy header claims shape {shape} of {dtype} ({nbytes} bytes); only "
                         f"{available - (8 + width + length)} bytes follow it")
    return shape, fortran, dtype, nbytes


def load_npy(path: str | os.PathLike, *, mmap: bool = False) -> np.ndarray:
    """``np.load`` of a ``.npy`` file whose header was first checked against the file's size.

    Raises
    ------
    ValueError
        A damaged or truncated file, or one whose header claims more than it holds.
    OSError
        The file cannot be read.
    """
    with open(path, "rb") as f:
        _header(f, os.fstat(f.fileno()).st_size)
    return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)


class NpzArrays:
    """The arrays of an ``.npz`` (a zip of ``.npy`` members), read one by one and checked first.

    A stand-in for ``np.load``'s ``NpzFile``: ``files`` lists the names, ``z[name]``
    reads one, and it is a context manager.  A member is read only up to the
    size its header claims, and that claim may not exceed the member's size in
    the archive's directory; a stored member's size may not exceed the archive.

    Raises
    ------
    ValueError
        Damage found in a header (``zipfile.BadZipFile`` and the others of
        :data:`READ_ERRORS` for damage in the archive itself).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self._size = Path(path).stat().st_size
        self._zip = zipfile.ZipFile(path)
        self.files = [n[:-4] for n in self._zip.namelist() if n.endswith(".npy")]

    def __enter__(self) -> NpzArrays:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    def __contains__(self, key: str) -> bool:
        return key in self.files

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self.files:
            raise KeyError(f"{key} is not a file in the archive")
        info = self._zip.getinfo(key + ".npy")
        if info.compress_size > self._size:
            raise ValueError(f"member {key!r} claims {info.compress_size} bytes; the archive has {self._size}")
        with self._zip.open(info) as member:
            lead = member.read(MAX_HEADER + 16)  # enough for any header this reads
            head = io.BytesIO(lead)
            shape, fortran, dtype, nbytes = _header(head, info.file_size)
            data = lead[head.tell():head.tell() + nbytes]
            if len(data) < nbytes:
                data += member.read(nbytes - len(data))  # grows with what is there, not to the claim at once
        if len(data) != nbytes:
            raise ValueError(f"member {key!r} is truncated: {len(data)} of {nbytes} data bytes")
        array = np.frombuffer(data, dtype=dtype).copy()
        return array.reshape(shape, order="F" if fortran else "C")
