"""What every ``quantlib`` command shares: exit codes, :class:`CliError`, the flag names that
library messages are rewritten with (:func:`cli_words`), the progress bar and small option checks.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import numpy as np

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
