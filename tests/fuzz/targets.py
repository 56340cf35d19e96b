"""Fuzz targets: one per parser of outside data, each a function of a byte string.

A target builds its input from the bytes (raw, or structured with
:class:`~provider.ByteSource`), calls the parser and, when the parser
succeeds, checks what came back (round trips, shapes, dtypes, finiteness).
:func:`run_target` is the contract every harness enforces: the call either
succeeds or raises a :class:`quantlib.QuantlibError`; any other exception or
a failed check is a finding.  ``tests/fuzz/fuzz.py`` adds the clock and the
memory bound; ``tests/test_fuzz_replay.py`` replays the corpus through
:func:`run_target`.

The harness names are the corpus directories under ``tests/fuzz/corpus/``.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import copy
import io
import json
import math
import shutil
import struct
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from provider import ByteSource

import quantlib
from quantlib import FlatIndex, MultiVectorBatch, QuantlibError, ScalarCodec, SparseBatch
from quantlib.codecs import codec_from_config, get_codec
from quantlib.encoding import b64decode
from quantlib.providers import PROVIDERS, decode_response

CORPUS = Path(__file__).parent / "corpus"

PRECISION_WORDS = ("float32", "float16", "int8", "uint8", "binary", "ubinary")

# ---------------------------------------------------------------------------- JSON values and mutations

#: Strings that parsers trip on: empty, padding, whitespace, non-ASCII, path tricks, number-like text.
ODD_STRINGS = (
    "", "=", "====", "AA==", "AAA=", "AAAA", "A===", "\n", " AAAA", "AAAA\n", "é", "\x00", "\ud800",
    "float", "base64", "int8", "binary", "ubinary", "uint8", "float16", "nan", "1e999", "-0", "0x10", "1_0",
    "²", "٣", "+-5", "../codes.npy", "codes.npy", "ids.npy", ".", "/dev/null", "quantlib-index.json",
)


def json_value(src: ByteSource, depth: int = 0) -> Any:
    """Any JSON-like value, biased to the ones decoders mishandle."""
    kind = src.int(0, 11)
    if kind == 0:
        return None
    if kind == 1:
        return src.bool()
    if kind == 2:
        return src.special_int()
    if kind == 3:
        return src.float()
    if kind == 4:
        return src.pick(ODD_STRINGS)
    if kind == 5:
        return src.text(12)
    if kind == 6 and depth < 3:
        return [json_value(src, depth + 1) for _ in range(src.int(0, 4))]
    if kind == 7 and depth < 3:
        return {src.pick(("index", "embedding", "embeddings", "data", "id", "value", "x")): json_value(src, depth + 1)
                for _ in range(src.int(0, 3))}
    if kind == 8:  # deep nesting: recursion limits of parsers and of numpy's array()
        value: Any = src.small_float()
        for _ in range(src.int(1, 3000)):
            value = [value]
        return value
    if kind == 9:  # integers far beyond 64 bits (and beyond int()'s default 4300-digit limit)
        return 10 ** src.int(1, 5000) - 1
    if kind == 10:
        return [src.small_float() for _ in range(src.int(0, 40))]
    return src.small_float()


def _paths(obj: Any, path: tuple = (), out: list | None = None) -> list[tuple]:
    out = [] if out is None else out
    if len(out) > 400:
        return out
    out.append(path)
    if isinstance(obj, dict):
        for k in list(obj):
            _paths(obj[k], (*path, k), out)
    elif isinstance(obj, list) and len(path) < 12:
        for i in range(len(obj)):
            _paths(obj[i], (*path, i), out)
    return out


def _tweak(value: Any, src: ByteSource) -> Any:
    """A nearby value of the same kind: a number moved, a string cut or spliced."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        wide = float(value) if value.bit_length() < 1000 else 1e308
        return src.pick((value + 1, value - 1, -value, value * 256, wide, 2**63 + value))
    if isinstance(value, float):
        return src.pick((value * 2, -value, math.nan, math.inf, value * 1e30, int(value) if math.isfinite(value)
                         else 0, value + 0.5))
    if isinstance(value, str):
        if not value:
            return src.pick(ODD_STRINGS)
        at = src.int(0, len(value))
        op = src.int(0, 4)
        if op == 0:
            return value[:at]
        if op == 1:
            return value[:at] + src.pick(ODD_STRINGS) + value[at:]
        if op == 2:
            return value[:at] + value[at + 1:]
        if op == 3:  # longer, boundedly: repeated edits must not grow a string without end
            return value * src.int(2, 300) if len(value) <= 64 else value + value[:64]
        return value[:at] + src.text(3) + value[at + 1:]
    if isinstance(value, list):
        return value[: src.int(0, len(value))] if value and (src.bool() or len(value) > 64) else value + value
    return json_value(src)


def mutate_json(root: Any, src: ByteSource, rounds: int) -> Any:
    """Apply up to ``rounds`` edits at places chosen by ``src``: replace, delete, duplicate, wrap, tweak."""
    for _ in range(src.int(0, rounds)):
        paths = _paths(root)
        path = src.pick(paths)
        op = src.int(0, 5)
        if not path:
            root = _tweak(root, src) if op < 3 else json_value(src)
            continue
        parent = root
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        if op == 0:
            parent[key] = json_value(src)
        elif op == 1:
            del parent[key]
        elif op == 2:
            if isinstance(parent, list):
                parent.insert(key, parent[key])
            else:
                parent[src.pick(("index", "embedding", "embeddings", "float", "int8", "extra"))] = parent[key]
        elif op == 3:
            parent[key] = [parent[key]]
        else:
            parent[key] = _tweak(parent[key], src)
    return root


def as_json_text(obj: Any) -> str | None:
    """``json.dumps`` with NaN/Infinity allowed, or None when the object is too deep to serialise."""
    try:
        return json.dumps(obj)
    except (RecursionError, ValueError, TypeError):
        return None


# ---------------------------------------------------------------------------- base64


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _splice(text: str, src: ByteSource) -> str:
    """Damage base64 text a little: a character changed, dropped or inserted, padding moved."""
    if not text or not src.chance(40):
        return text
    at = src.int(0, len(text) - 1)
    op = src.int(0, 4)
    if op == 0:
        return text[:at] + src.pick("A/+=-_ \n.\x00é\ud800") + text[at + 1:]
    if op == 1:
        return text[:at] + text[at + 1:]
    if op == 2:
        return text[:at] + src.pick(("=", "==", "A", "AAAA", "\r\n")) + text[at:]
    if op == 3:
        return text.rstrip("=")
    return text + src.pick(("=", "A", "AA==", "===="))


DTYPES: tuple[Any, ...] = (
    "float32", "float16", "int8", "uint8", "binary", "ubinary", "float", "f4", "half", "bit", " Float32 ",
    np.float32, np.dtype("<f4"), np.dtype(">f4"), np.dtype(">f2"), np.float16, np.int8, np.uint8,
    np.float64, np.int16, "bogus", None, 3, quantlib.precision_info("ubinary"),
)


def target_b64decode(data: bytes) -> None:
    """``b64decode`` on str, bytes and lists of them, every dtype, with and without ``dim``."""
    src = ByteSource(data)
    dtype = src.pick(DTYPES)
    dim = src.pick((None, None, None, 1, 2, 3, 7, 8, 9, 16, 0, -1, 2**31, 2**63, 10**30, True, 2.0, np.int64(4)))
    if src.bool():
        dim = src.int(1, 40)
    form = src.int(0, 7)
    itemsize = np.dtype(dtype).itemsize if isinstance(dtype, (type, np.dtype)) else 4 if dtype in (
        "float32", "float", "f4") else 2 if dtype in ("float16", "half") else 1
    if form <= 2:  # one string, sized in whole items most of the time
        unit = itemsize * (dim if isinstance(dim, int) and 0 < dim < 64 else 1)
        raw = src.bytes(96)
        if src.chance(70) and unit:
            raw = raw[: len(raw) // unit * unit]
        if src.chance(30):  # big enough for the compiled decoder
            raw *= src.int(1, 600)
        text = _splice(_b64(raw), src)
        value: Any = text if form == 0 else text.encode("utf-8", "surrogatepass") if form == 1 else bytearray(
            text.encode("utf-8", "surrogatepass"))
    elif form <= 5:  # one string per row
        n = src.int(0, 6)
        row = src.bytes(48)
        rows = [_splice(_b64(row if src.chance(80) else src.bytes(48)), src) for _ in range(n)]
        if src.chance(25):
            rows = rows * src.int(1, 400)
        if form == 4:
            rows = [r.encode("utf-8", "surrogatepass") for r in rows]
        elif form == 5 and rows:
            rows[src.int(0, len(rows) - 1)] = json_value(src)
        value = rows if src.chance(80) else tuple(rows)
    elif form == 6:  # the rest of the input, verbatim: seeds hold real provider strings
        value = src.rest().decode("latin-1")
    else:
        value = json_value(src)
    out = b64decode(value, dtype, dim=dim)
    _check_b64(value, dtype, dim, out)


def _check_b64(value: Any, dtype: Any, dim: Any, out: np.ndarray) -> None:
    """``out`` holds exactly the bytes binascii decodes, in the dtype asked for, in the shape promised."""
    assert isinstance(out, np.ndarray) and out.dtype.isnative and out.flags.writeable and out.flags.c_contiguous
    if isinstance(value, (str, bytes, bytearray)):
        raw = binascii.a2b_base64(value, strict_mode=True)
    else:
        raw = b"".join(binascii.a2b_base64(r, strict_mode=True) for r in value)
    # the wire is little-endian unless the dtype asked for states big-endian (honoured since issue 21)
    asked = np.dtype(dtype) if isinstance(dtype, (type, np.dtype)) else None
    big = (asked is not None and asked.byteorder == ">") or (isinstance(dtype, str) and dtype.strip()[:1] == ">")
    wire = np.dtype(out.dtype).newbyteorder(">" if big else "<")
    assert out.astype(wire).tobytes() == raw, "decoded bytes differ from binascii's"
    if dim is not None or not isinstance(value, (str, bytes, bytearray)):
        assert out.ndim == 2
    info = quantlib.precision_info(dtype) if isinstance(dtype, (str, quantlib.PrecisionInfo)) else None
    if dim is not None and out.size:
        width = (int(dim) + 7) // 8 if info is not None and info.packed else int(dim)
        assert out.shape[1] == width, f"rows of {out.shape[1]}, dim={dim!r}"


# ---------------------------------------------------------------------------- provider payloads


def _float_rows(src: ByteSource, n: int, d: int) -> list[list[float]]:
    return [[src.small_float() for _ in range(d)] for _ in range(n)]


def _int_rows(src: ByteSource, n: int, d: int, lo: int, hi: int) -> list[list[int]]:
    return [[src.int(lo, hi) for _ in range(d)] for _ in range(n)]


def _bits(rows: list[list[float]], d: int, signed: bool) -> list[list[int]]:
    packed = np.packbits(np.asarray(rows, np.float32).reshape(len(rows), d) > 0, axis=1).astype(np.int16)
    return (packed - 128 if signed else packed).tolist()


def _b64_rows(rows: list[list[Any]], dtype: str) -> list[str]:
    return [_b64(np.asarray(r, dtype=dtype).astype(np.dtype(dtype).newbyteorder("<")).tobytes()) for r in rows]


def _dense_rows(src: ByteSource, n: int, d: int, kind: str) -> list[Any]:
    """Rows of one provider encoding: float lists, code lists or base64 of the matching numpy bytes."""
    floats = _float_rows(src, n, d)
    if kind == "float":
        return floats
    if kind == "float_b64":
        return _b64_rows(floats, "float32")
    if kind in ("int8", "uint8"):
        rows = _int_rows(src, n, d, -128, 127) if kind == "int8" else _int_rows(src, n, d, 0, 255)
        return _b64_rows(rows, kind) if src.bool() else rows
    bits = _bits(floats, d, signed=kind == "binary")
    return _b64_rows(bits, "int8" if kind == "binary" else "uint8") if src.bool() else bits


#: Payload shapes the structured target builds ("verbatim" reads a JSON text from the input).
SHAPES = ("openai", "voyage", "jina_mv", "cohere_v2", "cohere_v1", "voyage_client", "dashscope", "error",
          "random", "verbatim")


def _payload(src: ByteSource) -> tuple[Any, dict[str, Any]]:
    """A plausible response of one provider shape, and the request options that go with it."""
    shape = src.pick(SHAPES)
    n, d = src.int(0, 4), src.int(1, 12)
    kind = src.pick(("float", "float_b64", "int8", "uint8", "binary", "ubinary"))
    opts: dict[str, Any] = {}
    dtype_word = "float" if kind == "float_b64" else kind
    if shape == "verbatim":  # a real payload (the seeds hold the golden ones), then mutated
        raw = src.bytes(65535)
        try:
            payload: Any = json.loads(raw)
        except (ValueError, RecursionError):
            payload = json_value(src)
        opts["output_dtype"] = src.pick((None, "float", "int8", "uint8", "binary", "ubinary", "base64"))
    elif shape in ("openai", "voyage"):
        rows = _dense_rows(src, n, d, kind)
        order = list(range(n))
        if src.bool():
            order.reverse()
        model = src.pick(("text-embedding-3-small", "voyage-3.5", "jina-embeddings-v3", "bge-m3", None))
        payload = {"object": "list", "data": [{"object": "embedding", "index": i, "embedding": rows[i]}
                                                   for i in order], "usage": {"total_tokens": n}}
        if model:
            payload["model"] = model
        opts["output_dtype"] = dtype_word
    elif shape == "voyage_client":
        payload = {"embeddings": _dense_rows(src, n, d, "float" if kind == "float_b64" else kind),
                   "total_tokens": n}
        opts["output_dtype"] = dtype_word
    elif shape == "jina_mv":
        docs = []
        for i in range(n):
            mat = _float_rows(src, src.int(0, 4), d)
            value: Any = mat if src.chance(70) else "".join(_b64_rows(mat, "float32"))
            docs.append({"object": "embeddings", "index": i, src.pick(("embeddings", "embedding")): value})
        payload = {"model": "jina-colbert-v2", "data": docs, "usage": {"total_tokens": 3}}
        opts["output_dimension"] = d
    elif shape == "cohere_v2":
        floats = _float_rows(src, n, d)
        by_type: dict[str, Any] = {}
        for name in ("float", "base64", "int8", "uint8", "binary", "ubinary"):
            if src.bool():
                continue
            if name == "float":
                by_type[src.pick(("float", "float_"))] = floats
            elif name == "base64":
                by_type[name] = _b64_rows(floats, "float32")
            elif name in ("int8", "uint8"):
                by_type[name] = _int_rows(src, n, d, -128 if name == "int8" else 0, 127 if name == "int8" else 255)
            else:
                by_type[name] = _bits(floats, d, signed=name == "binary")
        payload = {"id": "fuzz", "embeddings": by_type, "texts": ["a"] * n,
                   "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": n}}}
        if by_type and src.bool():
            opts["output_dtype"] = src.pick(list(by_type))
    elif shape == "cohere_v1":
        payload = {"id": "fuzz", "embeddings": _float_rows(src, n, d), "texts": ["a"] * n}
    elif shape == "dashscope":
        out_type = src.pick(("dense", "sparse", "dense&sparse"))
        rows = []
        for i in range(n):
            row: dict[str, Any] = {"text_index": i}
            if out_type != "sparse":
                row["embedding"] = [src.small_float() for _ in range(d)]
            if out_type != "dense":
                row["sparse_embedding"] = [{"index": src.int(0, 250001), "value": src.small_float(),
                                            "token": src.text(4)} for _ in range(src.int(0, 4))]
            rows.append(row)
        payload = {"status_code": 200, "request_id": "r", "code": "", "message": "",
                   "output": {"embeddings": rows}, "usage": {"total_tokens": n}}
    elif shape == "error":
        payload = src.pick(({"error": {"message": "bad", "type": "invalid_request_error", "code": None}},
                            {"detail": "Invalid API key"}, {"detail": [{"loc": ["body", "input"], "msg": "x"}]},
                            {"id": "x", "message": "invalid"}, {"code": "InvalidParameter", "message": "m",
                                                                  "request_id": "r"},
                            {"object": "error", "message": "m", "code": 400}))
        payload = copy.deepcopy(payload)
    else:
        payload = json_value(src)
    payload = mutate_json(payload, src, 4)
    # Request options: mostly the ones the payload was made for, sometimes anything.
    if src.chance(30):
        opts["output_dtype"] = src.pick((None, "float", "int8", "uint8", "binary", "ubinary", "base64",
                                         "float16", "bogus", 3))
    if src.chance(40):
        opts["output_dimension"] = src.pick((None, d, d + 1, 8 * ((d + 7) // 8), 0, -1, 2**40, 10**30, 1.5,
                                             True))
    elif "output_dimension" not in opts and src.chance(30):
        opts["output_dimension"] = d
    if src.chance(25):
        opts["provider"] = src.pick((*PROVIDERS, "ovh", "qwen", "bogus", None, 3))
    return payload, opts


def _deliver(payload: Any, src: ByteSource) -> Any:
    """The payload as a dict, JSON text, JSON bytes, a file or an SDK-like object."""
    form = src.int(0, 4)
    if form == 0 or not isinstance(payload, dict):
        text = as_json_text(payload) if form else None
        return payload if text is None else text
    text = as_json_text(payload)
    if text is None:
        return payload
    if form == 1:
        return text
    if form == 2:
        return text.encode("utf-8", "surrogatepass")
    if form == 3:
        return io.BytesIO(text.encode("utf-8", "surrogatepass"))
    return SimpleNamespace(**{str(k): v for k, v in payload.items()})


def _check_response(r: Any, opts: dict[str, Any]) -> None:
    """A decoded response is well formed: dtypes match the precision, floats are finite, shapes agree."""
    assert isinstance(r, quantlib.EmbeddingResponse)
    repr(r)
    info = quantlib.precision_info(r.precision) if r.precision is not None else None
    if r.embeddings is not None:
        e = r.embeddings
        assert info is not None and e.ndim == 2 and e.dtype == info.dtype.newbyteorder("="), (e.dtype, r.precision)
        if info.is_float:
            assert np.isfinite(e).all()
        if e.shape[0]:
            assert isinstance(r.dim, int) and r.dim >= 1
            assert e.shape[1] == ((r.dim + 7) // 8 if info.packed else r.dim), (e.shape, r.dim)
        dim = opts.get("output_dimension")
        if isinstance(dim, int) and not isinstance(dim, bool) and e.shape[0]:
            assert r.dim == dim
        assert any(v is e for v in r.embeddings_by_type.values())
        r.as_float32()
    if r.multivectors is not None:
        widths = {m.shape[1] for m in r.multivectors}
        assert len(widths) <= 1 and all(m.ndim == 2 for m in r.multivectors)
        if info is not None and info.is_float:
            assert all(np.isfinite(m).all() for m in r.multivectors)
        if r.multivectors and all(m.shape[0] for m in r.multivectors):
            MultiVectorBatch.from_response(r)
    if r.sparse is not None:
        r.sparse_batch()


def target_decode_response_json(data: bytes) -> None:
    """``decode_response`` on plausible payloads of every provider shape, mutated, in every delivery form."""
    src = ByteSource(data)
    payload, opts = _payload(src)
    r = decode_response(_deliver(payload, src), **opts)
    _check_response(r, opts)


#: Request options the raw-bytes target cycles through (chosen by the input length, not its content).
_BYTES_OPTIONS: tuple[dict[str, Any], ...] = (
    {}, {}, {}, {}, {"output_dtype": "int8"}, {"output_dtype": "ubinary", "output_dimension": 12},
    {"provider": "cohere"},
    {"provider": "jina", "output_dimension": 2}, {"output_dtype": "uint8"}, {"provider": "dashscope"},
    {"output_dtype": "base64"}, {"output_dtype": "binary", "provider": "voyage"},
)


def target_decode_response_bytes(data: bytes) -> None:
    """``decode_response`` on arbitrary bytes as the body of an HTTP response."""
    opts = _BYTES_OPTIONS[len(data) % len(_BYTES_OPTIONS)]
    form = (len(data) // len(_BYTES_OPTIONS)) % 3
    payload: Any = data if form == 0 else io.BytesIO(data) if form == 1 else data.decode("utf-8", "replace")
    r = decode_response(payload, **opts)
    _check_response(r, opts)


# ---------------------------------------------------------------------------- sparse


def _pg_number(src: ByteSource) -> str:
    kind = src.int(0, 6)
    if kind == 0:
        return repr(src.small_float())
    if kind == 1:
        return src.pick(("nan", "inf", "-Infinity", "1e999", "-0", "0", "1e-50", "3.5e38", "+.5", "5.", "1e",
                         "0x10", "1_0", " 2 ", "١", "²", "--1", "", "1e-400"))
    if kind == 2:
        return "9" * src.int(1, 5000)
    if kind == 3:
        return repr(src.float())
    return str(src.int(-3, 3))


def _pg_text(src: ByteSource) -> Any:
    if src.chance(5):
        return json_value(src)
    dim = src.int(1, 40)
    elems = []
    for _ in range(src.int(0, 6)):
        index = str(src.int(-1, dim + 1)) if src.chance(80) else _pg_number(src)
        sep = src.pick((":", ":", ":", " : ", "::", ",", ""))
        elems.append(f"{index}{sep}{_pg_number(src) if src.chance(50) else repr(src.small_float())}")
    body = src.pick((",", ",", ", ", ",,", ";")).join(elems)
    tail = str(dim) if src.chance(80) else _pg_number(src)
    text = src.pick(("{%s}/%s", " {%s} / %s ", "{%s}/%s\n", "{%s}%s", "[%s]/%s", "{%s}/%s}")) % (body, tail)
    return _splice(text, src) if src.chance(20) else text


def target_sparse_pgvector(data: bytes) -> None:
    """``SparseBatch.from_pgvector`` on raw text and on sparsevec-like text; a result reads back equal."""
    src = ByteSource(data)
    mode = src.int(0, 3)
    if mode == 0:
        texts: Any = src.rest().decode("utf-8", "replace")
    elif mode == 1:
        texts = src.rest().decode("latin-1").split("\n")
    else:
        texts = [_pg_text(src) for _ in range(src.int(0, 4))]
        if len(texts) == 1 and src.bool():
            texts = texts[0]
    b = SparseBatch.from_pgvector(texts)
    _check_sparse(b)
    assert b.vocab_size is not None or len(b) == 0
    if len(b):
        assert SparseBatch.from_pgvector(b.to_pgvector()) == b, "pgvector text does not read back equal"


def _check_sparse(b: SparseBatch) -> None:
    """CSR invariants: pointers, sorted unique ids below vocab_size, finite float32 weights."""
    ptr, ids, vals = b.indptr, b.indices, b.values
    assert ptr.dtype == np.int64 and ptr[0] == 0 and ptr[-1] == ids.shape[0] == vals.shape[0]
    assert (np.diff(ptr) >= 0).all() and vals.dtype == np.float32 and np.isfinite(vals).all()
    assert ids.dtype in (np.int32, np.int64) and (ids.size == 0 or ids.min() >= 0)
    if b.vocab_size is not None and ids.size:
        assert ids.max() < b.vocab_size
    for i in range(len(b)):
        row = ids[ptr[i]:ptr[i + 1]]
        assert (np.diff(row) > 0).all(), f"row {i} ids not strictly increasing"
    if b.tokens is not None:
        assert len(b.tokens) == b.nnz
    assert SparseBatch.from_bytes(b.to_bytes()) == b


def _random_batch(src: ByteSource) -> SparseBatch:
    vocab = src.pick((None, 16, 250002, 2**31 + 5))
    rows = []
    for _ in range(src.int(0, 4)):
        hi = (vocab or 2**33) - 1
        rows.append({src.int(0, min(hi, 40) if src.chance(70) else hi): abs(src.small_float())
                     for _ in range(src.int(0, 5))})
    b = SparseBatch.from_dicts(rows, vocab_size=vocab)
    if src.bool() and b.nnz:
        b = SparseBatch(b.indptr, b.indices, b.values, vocab_size=vocab, tokens=[src.text(3) for _ in range(b.nnz)])
    return b


#: Header fields of SparseBatch.to_bytes: (offset, struct format), "<4sHBBIQQQI".
_SPARSE_FIELDS = ((4, "<H"), (6, "<B"), (7, "<B"), (8, "<I"), (12, "<Q"), (20, "<Q"), (28, "<Q"), (36, "<I"))


def target_sparse_bytes(data: bytes) -> None:
    """``SparseBatch.from_bytes``/``from_base64`` on raw bytes and on damaged ``to_bytes`` output."""
    src = ByteSource(data)
    mode = src.int(0, 5)
    if mode == 0:
        b = SparseBatch.from_bytes(src.rest())
    elif mode == 1:
        raw = src.rest()
        b = SparseBatch.from_base64(raw if src.bool() else raw.decode("latin-1"))
    else:
        original = _random_batch(src)
        weights = src.pick(("float32", "float16", "uint8"))
        blob = bytearray(original.to_bytes(weights=weights))
        edits = src.int(0, 3)
        for _ in range(edits):
            op = src.int(0, 3)
            if op == 0 and blob:
                blob[src.int(0, len(blob) - 1)] ^= src.int(1, 255)
            elif op == 1:
                del blob[src.int(0, len(blob)):]
            elif op == 2:
                blob += src.bytes(16)
            else:
                offset, fmt = src.pick(_SPARSE_FIELDS)
                size = struct.calcsize(fmt)
                if len(blob) >= offset + size:
                    struct.pack_into(fmt, blob, offset, src.special_int() % (1 << (8 * size)))
        if edits and src.bool() and len(blob) >= 40:  # re-seal: a valid checksum over damaged content
            struct.pack_into("<I", blob, 36, zlib.crc32(bytes(blob[40:]), zlib.crc32(bytes(blob[:36]))))
        if mode == 2:
            b = SparseBatch.from_base64(_b64(bytes(blob)))
        else:
            b = SparseBatch.from_bytes(bytes(blob) if mode == 3 else memoryview(blob))
        if edits == 0 and weights == "float32":
            assert b == original, "an undamaged blob must read back equal"
    _check_sparse(b)


def _sparse_key(src: ByteSource) -> Any:
    return src.pick((src.int(0, 50), src.int(0, 50), str(src.int(0, 50)), "+5", "-3", " 7 ", "²", "٣", "0x1",
                     True, 1.5, None, "9" * src.int(1, 5000), 2**70, -1, np.int64(3), np.uint64(2**64 - 1),
                     b"4", "5\n"))


def _sparse_weight(src: ByteSource) -> Any:
    return src.pick((src.small_float(), src.small_float(), src.float(), 10**400, -(10**400), "1.0", None, True,
                     np.float16(65504), np.float64(1e39), 3, np.int64(-2), [1.0], float("nan")))


def _array_of(src: ByteSource, values: list[Any]) -> Any:
    """``values`` as a list, a tuple or an array of some dtype (a failed cast keeps the list)."""
    form = src.int(0, 3)
    if form == 0:
        return values
    if form == 1:
        return tuple(values)
    dtype = src.pick((np.int64, np.int32, np.int8, np.uint64, np.uint8, np.float16, np.float32, np.float64,
                      np.bool_, np.complex64, object, ">i8", ">f4"))
    try:
        with np.errstate(all="ignore"):
            arr = np.array(values, dtype=dtype)
    except (ValueError, TypeError, OverflowError):
        return values
    if form == 3 and arr.ndim == 1 and arr.size:
        arr = np.repeat(arr, 2)[::2]  # a strided view
    return arr


def target_sparse_constructors(data: bytes) -> None:
    """``SparseBatch`` from dicts, pairs, DashScope records, CSR arrays and scipy matrices."""
    import scipy.sparse as sp

    src = ByteSource(data)
    mode = src.int(0, 4)
    vocab = src.pick((None, None, 8, 51, 2**31, 2**63, 0, -1, True, 3.0, "8"))
    n = src.int(0, 4)
    if mode == 0:
        rows: Any = [{_sparse_key(src): _sparse_weight(src) for _ in range(src.int(0, 4))} for _ in range(n)]
        if src.chance(10):
            rows = json_value(src)
        b = SparseBatch.from_dicts(rows, vocab_size=vocab)
    elif mode == 1:
        pairs: list[Any] = []
        for _ in range(n):
            k = src.int(0, 4)
            ids = [src.int(0, 50) if src.chance(80) else _sparse_key(src) for _ in range(k)]
            vals = [src.small_float() if src.chance(80) else _sparse_weight(src) for _ in range(k + (src.chance(10)))]
            ii, vv = _array_of(src, ids), _array_of(src, vals)
            pairs.append(src.pick(((ii, vv), [ii, vv], {"indices": ii, "values": vv}, {"indices": ii},
                                   SimpleNamespace(indices=ii, values=vv), (ii, vv, vv), ii)))
        b = SparseBatch.from_pairs(pairs, vocab_size=vocab)
    elif mode == 2:
        records: list[Any] = []
        for _ in range(n):
            row = [{"index": src.int(0, 50) if src.chance(80) else _sparse_key(src),
                    "value": src.small_float() if src.chance(80) else _sparse_weight(src),
                    "token": src.pick(("a", "b", None, 3, ""))} for _ in range(src.int(0, 4))]
            for entry in row:
                if entry["token"] is None and src.bool():
                    del entry["token"]
            records.append(mutate_json({"sparse_embedding": row} if src.bool() else row, src, 2))
        b = SparseBatch.from_dashscope(records, vocab_size=vocab)
    elif mode == 3:
        indptr = [0] + sorted(src.int(0, 8) for _ in range(n))
        if src.chance(30):
            indptr[src.int(0, len(indptr) - 1)] = src.special_int()
        nnz = indptr[-1] if src.chance(80) and 0 <= indptr[-1] < 64 else src.int(0, 8)
        indices = [src.int(0, 20) if src.chance(85) else src.special_int() for _ in range(nnz)]
        values = [src.small_float() if src.chance(85) else src.float() for _ in range(nnz + src.chance(5))]
        tokens = None if src.chance(70) else [src.pick(("a", "b", 3)) for _ in range(nnz + src.chance(10))]
        b = SparseBatch(_array_of(src, indptr), _array_of(src, indices), _array_of(src, values),
                        vocab_size=vocab, tokens=tokens)
    else:
        shape = (n, src.int(1, 20))
        k = src.int(0, 8)
        rows_i = np.array([src.int(0, shape[0] - 1) if shape[0] else 0 for _ in range(k)], np.int64)
        cols_i = np.array([src.int(0, shape[1] - 1) for _ in range(k)], np.int64)
        vals_f = np.array([src.small_float() for _ in range(k)], np.float64)
        fmt = src.pick(("csr", "csc", "coo", "lil", "dok"))
        try:
            m = sp.coo_array((vals_f, (rows_i, cols_i)), shape=shape).asformat(fmt)
        except (ValueError, IndexError):
            return  # scipy refused the matrix: nothing reaches quantlib
        if fmt in ("csr", "csc") and src.chance(40) and m.indices.size:  # scipy does not re-check later edits
            m.indices[src.int(0, m.indices.size - 1)] = src.special_int() % 2**31 * src.pick((1, -1))
        elif fmt == "coo" and src.chance(40) and m.row.size:
            m.row[src.int(0, m.row.size - 1)] = src.pick((-1, shape[0], 2**40))
        if fmt in ("csr", "csc", "coo") and src.chance(20):
            m.data[...] = src.float()
        b = SparseBatch.from_scipy(m)
    _check_sparse(b)
    assert SparseBatch.from_dicts(b.to_dicts(), vocab_size=b.vocab_size) == SparseBatch(
        b.indptr, b.indices, b.values, vocab_size=b.vocab_size)


# ---------------------------------------------------------------------------- multi-vector


def _token_value(src: ByteSource) -> Any:
    return src.pick((src.small_float(), src.int(-128, 255), src.float(), True, None, "1", 10**400, [1.0], 2**70))


def target_multivector(data: bytes) -> None:
    """``MultiVectorBatch`` from nested lists, from arrays, from flat tokens + offsets and from base64."""
    src = ByteSource(data)
    mode = src.int(0, 3)
    precision = src.pick((None, None, "float32", "float16", "int8", "uint8", "binary", "ubinary", "bogus", 3))
    d = src.int(1, 10)
    dim = src.pick((None, None, d, 8 * d, d - 1, 0, -1, 2**70, 1.5))
    codec = src.pick((None, None, None, {"id": "int8", "ranges": [[-1.0] * d, [1.0] * d]}, {"id": "uint8"},
                      {"id": "float32"}, ScalarCodec("uint8", [[0.0] * d, [1.0] * d]), "int8", {"id": "int8",
                      "ranges": [[0.0], [1.0]]}))
    if mode == 0:
        docs: Any = []
        for _ in range(src.int(0, 4)):
            width = d if src.chance(90) else src.int(0, 10)
            docs.append([[src.small_float() if src.chance(90) else _token_value(src) for _ in range(width)]
                         for _ in range(src.int(0 if src.chance(10) else 1, 4))])
        if src.chance(10):
            docs = mutate_json(docs, src, 2)
        b = MultiVectorBatch.from_lists(docs, precision=precision, dim=dim, codec=codec)
    elif mode == 1:
        dtype = src.pick((np.float32, np.float64, np.float16, np.int8, np.uint8, np.int64, np.bool_, object))
        mats: Any = []
        for _ in range(src.int(0, 4)):
            shape = (src.int(0, 4), d if src.chance(90) else src.int(0, 10))
            values = [src.int(-128, 255) if np.dtype(dtype).kind in "iu" else src.small_float()
                      for _ in range(shape[0] * shape[1])]
            with np.errstate(all="ignore"):
                mat = np.array(values, dtype=np.float64).astype(dtype).reshape(shape)
            mats.append(mat if src.chance(90) else mat.ravel())
        b = MultiVectorBatch.from_arrays(mats, precision=precision, dim=dim, codec=codec)
    elif mode == 2:
        rows = src.int(0, 8)
        tokens = np.array([[src.small_float() for _ in range(d)] for _ in range(rows)], np.float32)
        if precision in ("int8", "uint8", "binary", "ubinary"):
            tokens = np.array([[src.int(0, 127) for _ in range(d)] for _ in range(rows)],
                              np.int8 if precision in ("int8", "binary") else np.uint8)
        cuts = sorted(src.int(0, rows) for _ in range(src.int(0, 3)))
        offsets = [0, *cuts, rows] if src.chance(80) else [src.special_int() for _ in range(src.int(0, 4))]
        b = MultiVectorBatch(tokens, _array_of(src, offsets), precision=precision, dim=dim, codec=codec)
    else:
        docs = [[[src.small_float() for _ in range(d)] for _ in range(src.int(1, 3))] for _ in range(src.int(1, 3))]
        good = MultiVectorBatch.from_lists(docs)
        if src.bool():
            target = src.pick(("int8", "uint8", "binary", "ubinary", "float16"))
            good = good.quantize(target, **({"ranges": [[-4.0] * d, [4.0] * d]} if target in ("int8", "uint8")
                                            else {}))
        payload = good.to_base64()
        if src.bool():  # the version-1 dict has no checksum, so edits reach the fields behind it
            payload = _unsealed(payload)
        b = MultiVectorBatch.from_base64(mutate_json(payload, src, 4))
    _check_multivector(b)


def _unsealed(record: dict[str, Any]) -> dict[str, Any]:
    """A version-2 record (``to_base64()``, ``get_config()``) as version 1: no checksum, nested ones too."""
    out = {k: _unsealed(v) if isinstance(v, dict) else v for k, v in record.items() if k != "checksum"}
    if "version" in out:
        out["version"] = 1
    return out


def _check_multivector(b: MultiVectorBatch) -> None:
    offs = b.offsets
    assert offs[0] == 0 and offs[-1] == b.tokens.shape[0] and (np.diff(offs) > 0).all()
    assert b.tokens.dtype == b.info.dtype.newbyteorder("=")
    assert b.width == ((b.dim + 7) // 8 if b.info.packed else b.dim) == b.tokens.shape[1]
    if b.info.is_float:
        assert np.isfinite(b.tokens).all()
    assert MultiVectorBatch.from_base64(json.loads(json.dumps(b.to_base64()))) == b


# ---------------------------------------------------------------------------- codec configs


def target_codec_config(data: bytes) -> None:
    """``codec_from_config`` on mutated configs of every codec, and on any JSON value."""
    src = ByteSource(data)
    name = src.pick(PRECISION_WORDS)
    if name in ("int8", "uint8"):
        d = src.int(1, 6)
        lo = [src.small_float() for _ in range(d)]
        config: Any = ScalarCodec(name, [lo, [v + abs(src.small_float()) for v in lo]],
                                  rounding=src.pick(("nearest", "floor", "truncate"))).get_config()
    else:
        config = get_codec(name).get_config()
    if src.bool():  # a version-1 config has no checksum, so edits reach the fields behind it
        config = _unsealed(config)
    config = mutate_json(config, src, 4) if src.chance(90) else json_value(src)
    if src.bool():
        text = as_json_text(config)
        config = json.loads(text) if text is not None else config
    codec = codec_from_config(config)
    again = codec_from_config(json.loads(json.dumps(codec.get_config())))
    assert again == codec, "get_config() does not rebuild an equal codec"
    d = codec.dim if codec.dim is not None else 9  # the base class says None for codecs of any dimension
    codes = codec.encode(np.zeros((2, d), np.float32))
    assert codec.decode(codes, dim=d).shape == (2, d)


# ---------------------------------------------------------------------------- saved indexes

_TEMPLATES: dict[str, Path] = {}
_SCRATCH: list[Path] = []


def _workdir() -> Path:
    if not _SCRATCH:
        root = Path(tempfile.mkdtemp(prefix="quantlib-fuzz-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        _SCRATCH.append(root)
    return _SCRATCH[0]


def index_templates() -> dict[str, Path]:
    """Saved indexes of three kinds (float, calibrated int8 with rescoring, bits with rescoring), made once."""
    if not _TEMPLATES:
        rng = np.random.default_rng(8)
        x = rng.standard_normal((12, 16)).astype(np.float32)
        kinds = {
            "float32": FlatIndex("float32", 16, metric="cosine"),
            "int8": FlatIndex(ScalarCodec("int8", [[-3.0] * 16, [3.0] * 16]), 16, metric="dot", rescore="float16"),
            "ubinary": FlatIndex("ubinary", 16, metric="hamming", rescore="float32"),
        }
        for kind, index in kinds.items():
            index.add(x, ids=np.arange(12) * 7)
            path = _workdir() / f"template-{kind}"
            index.save(path)
            _TEMPLATES[kind] = path
    return _TEMPLATES


def target_index_load(data: bytes) -> None:
    """``FlatIndex.load`` on saved index directories with bytes flipped, files cut and the header edited."""
    src = ByteSource(data)
    kind = src.pick(("float32", "int8", "ubinary"))
    template = index_templates()[kind]
    path = _workdir() / "case"
    shutil.rmtree(path, ignore_errors=True)
    shutil.copytree(template, path)
    files = sorted(p.name for p in path.iterdir())
    edits = src.int(0, 3)
    for _ in range(edits):
        file = path / src.pick(files)
        blob = bytearray(file.read_bytes())
        op = src.int(0, 4)
        if op == 0 and blob:
            blob[src.int(0, len(blob) - 1)] ^= src.int(1, 255)
        elif op == 1:
            del blob[src.int(0, len(blob)):]
        elif op == 2:
            blob += src.bytes(32)
        elif op == 3 and file.suffix == ".json":
            try:
                header = json.loads(blob)
            except ValueError:
                continue
            if src.bool() and isinstance(header, dict):  # a version-1 header has no checksum: edits reach fields
                header = _unsealed(header)
            text = as_json_text(mutate_json(header, src, 4))
            blob = bytearray((text or "").encode("utf-8", "surrogatepass"))
        elif blob:
            at = src.int(0, len(blob) - 1)
            blob[at:at + src.int(0, 8)] = src.bytes(8)
        file.write_bytes(bytes(blob))
    index = FlatIndex.load(path, mmap=src.bool(), verify=src.chance(70))
    query = np.linspace(-1.0, 1.0, index.dim, dtype=np.float32)
    scores, ids = index.search(query[None, :], k=min(3, max(len(index), 1))) if len(index) else (None, None)
    if edits == 0 and len(index):
        want = FlatIndex.load(template, mmap=False).search(query[None, :], k=min(3, len(index)))
        assert np.array_equal(ids, want[1]) and np.array_equal(scores, want[0])


# ---------------------------------------------------------------------------- command-line files


def _cli_templates() -> dict[str, bytes]:
    """The files the command line reads, made once: a .npy, a .npz of embeddings and a codes .npz."""
    if "npy" not in _CLI_FILES:
        from quantlib import cli

        x = np.linspace(-1.0, 1.0, 24, dtype=np.float32).reshape(3, 8)
        folder = _workdir()
        np.save(folder / "x.npy", x, allow_pickle=False)
        cli.write_npz(str(folder / "x.npz"), {"embeddings": x})
        cli.save_codes(str(folder / "codes.npz"), np.packbits(x > 0, axis=1), get_codec("ubinary").get_config(), 8)
        for key in ("x.npy", "x.npz", "codes.npz"):
            _CLI_FILES[key.replace(".", "_").replace("x_", "")] = (folder / key).read_bytes()
    return _CLI_FILES


_CLI_FILES: dict[str, bytes] = {}


def target_cli_files(data: bytes) -> None:
    """The command line's loaders (``load_array``, ``load_float_matrix``, ``load_codes``) on damaged files.

    Besides a quantlib error, the command line's own ``CliError`` (a one-line message, exit status 1)
    is an allowed outcome here.
    """
    from quantlib import cli

    src = ByteSource(data)
    kind = src.pick(("npy", "npz", "codes_npz", "raw"))
    blob = bytearray(src.bytes(4096)) if kind == "raw" else bytearray(_cli_templates()[kind])
    for _ in range(src.int(0, 3) if kind != "raw" else 0):
        op = src.int(0, 3)
        if op == 0 and blob:
            blob[src.int(0, len(blob) - 1)] ^= src.int(1, 255)
        elif op == 1:
            del blob[src.int(0, len(blob)):]
        elif op == 2:
            blob += src.bytes(32)
        elif blob:
            at = src.int(0, len(blob) - 1)
            blob[at:at + src.int(0, 8)] = src.bytes(8)
    path = _workdir() / src.pick(("case.npy", "case.npz"))
    path.write_bytes(bytes(blob))
    loader = src.pick(("array", "float", "codes"))
    if loader == "array":
        arr = cli.load_array(str(path), "FILE", key=src.pick((None, "embeddings", "codes")))
        assert isinstance(arr, np.ndarray)
    elif loader == "float":
        arr = cli.load_float_matrix(str(path), "FILE")
        assert arr.dtype == np.float32 and arr.ndim == 2
    else:
        codes, config, dim = cli.load_codes(str(path), "FILE")
        assert isinstance(codes, np.ndarray) and isinstance(config, dict) and isinstance(dim, int)


# ---------------------------------------------------------------------------- registry

#: Harness name -> target.  Corpus files live in ``corpus/<name>/``.
TARGETS: dict[str, Callable[[bytes], None]] = {
    "b64decode": target_b64decode,
    "decode_response_bytes": target_decode_response_bytes,
    "decode_response_json": target_decode_response_json,
    "sparse_pgvector": target_sparse_pgvector,
    "sparse_bytes": target_sparse_bytes,
    "sparse_constructors": target_sparse_constructors,
    "multivector": target_multivector,
    "index_load": target_index_load,
    "codec_config": target_codec_config,
    "cli_files": target_cli_files,
}


def run_target(name: str, data: bytes) -> bool:
    """Run one input; True if the parser accepted it, False if it raised a quantlib error.

    Any other exception (and any failed check) propagates: that is a finding.
    """
    try:
        TARGETS[name](data)
    except allowed_errors(name):
        return False
    return True


def allowed_errors(name: str) -> tuple[type[Exception], ...]:
    """The exceptions a harness's parser may raise: quantlib's, and for the command line its CliError."""
    if name == "cli_files":
        from quantlib.cli import CliError

        return (QuantlibError, CliError)
    return (QuantlibError,)


def corpus_files(name: str) -> list[Path]:
    """The committed corpus of one harness, sorted."""
    folder = CORPUS / name
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
