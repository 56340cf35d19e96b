"""Provider payloads: goldens, round trips, shuffled rows, every bad input, property tests."""

from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import batch_sizes, dims, float_matrices

import quantlib
from quantlib import (
    Base64DecodeError,
    ConfigError,
    EmbeddingResponse,
    NonFiniteError,
    OutOfRangeError,
    PayloadError,
    ProviderError,
    ShapeError,
    build_response,
    build_response_json,
    decode_response,
)
from quantlib.providers import PROVIDERS, SparseRow, _common
from quantlib.providers.errors import raise_for_error

GOLDEN = Path(__file__).parent / "golden" / "providers"
WIRE = {"float32": "<f4", "float16": "<f2", "int8": "i1", "uint8": "u1", "binary": "i1", "ubinary": "u1"}
PRECISIONS = tuple(WIRE)


def load(name: str) -> dict:
    return json.loads((GOLDEN / name).read_text())


def reference_rows(payload: dict, precision: str, key: str = "data", index: str = "index") -> np.ndarray:
    """Slow twin: sort rows by index, read lists with numpy or base64 with the stdlib."""
    items = sorted(payload[key], key=lambda item: item[index])
    wire = np.dtype(WIRE[precision])
    rows = []
    for item in items:
        value = item["embedding"]
        if isinstance(value, str):
            rows.append(np.frombuffer(base64.b64decode(value), wire))
        else:
            rows.append(np.array(value, dtype=np.float64).astype(wire))
    return np.array(rows).astype(wire.newbyteorder("="))


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit-exact equality: same dtype, shape and bytes."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def all_forms(payload: dict) -> list:
    """The same payload as a dict, JSON str, JSON bytes and two file-like objects."""
    text = json.dumps(payload)
    return [payload, text, text.encode(), io.StringIO(text), io.BytesIO(text.encode())]


# ---------------------------------------------------------------- goldens

OPENAI_SHAPED = [
    # file, decode kwargs, provider, precision, shape, dim, model
    ("openai_float.json", {}, "openai", "float32", (1, 3), 3, "text-embedding-ada-002"),
    ("openai_base64.json", {}, "openai", "float32", (2, 4), 4, "text-embedding-3-small"),
    ("ovh_float.json", {}, "openai", "float32", (3, 4), 4, "bge-multilingual-gemma2"),
    (
        "aimlapi_voyage_multilingual_2_float.json",
        {},
        "voyage",
        "float32",
        (1, 1024),
        1024,
        "voyage-multilingual-2",
    ),
    ("voyage_int8.json", {"output_dtype": "int8"}, "voyage", "int8", (2, 12), 12, "voyage-3.5"),
    (
        "voyage_ubinary.json",
        {"output_dtype": "ubinary", "output_dimension": 12},
        "voyage",
        "ubinary",
        (2, 2),
        12,
        "voyage-3.5",
    ),
    (
        "voyage_binary_base64.json",
        {"output_dtype": "binary", "output_dimension": 12},
        "voyage",
        "binary",
        (2, 2),
        12,
        "voyage-3-large",
    ),
    ("voyage_uint8_base64.json", {"output_dtype": "uint8"}, "voyage", "uint8", (2, 12), 12, "voyage-code-3"),
    (
        "voyage_float_base64.json",
        {"output_dtype": "float", "output_dimension": 12},
        "voyage",
        "float32",
        (2, 12),
        12,
        "voyage-3.5-lite",
    ),
    ("jina_float.json", {}, "jina", "float32", (1, 2), 2, "jina-embeddings-v3"),
    ("jina_base64.json", {}, "jina", "float32", (1, 4), 4, "jina-embeddings-v3"),
    ("jina_binary.json", {"output_dtype": "binary"}, "jina", "binary", (1, 8), 64, "jina-embeddings-v3"),
    ("dashscope_compatible_float.json", {}, "openai", "float32", (2, 4), 4, "text-embedding-v4"),
]


@pytest.mark.parametrize(("name", "kwargs", "provider", "precision", "shape", "dim", "model"), OPENAI_SHAPED)
def test_openai_shaped_goldens(name, kwargs, provider, precision, shape, dim, model):
    payload = load(name)
    expected = reference_rows(payload, precision)
    for form in all_forms(payload):
        r = decode_response(form, **kwargs)
        assert isinstance(r, EmbeddingResponse)
        assert (r.provider, r.precision, r.embeddings.shape, r.dim, r.model) == (
            provider,
            precision,
            shape,
            dim,
            model,
        )
        assert same(r.embeddings, expected)
        assert r.embeddings_by_type == {precision: r.embeddings}
        assert r.usage == payload["usage"]
        assert r.sparse is None and r.multivectors is None


def test_seed_voyage_multilingual_2_values():
    """The real response: 1024 float32 values, first and last as printed, usage kept."""
    r = decode_response(load("aimlapi_voyage_multilingual_2_float.json"))
    assert r.embeddings.dtype == np.float32
    assert r.embeddings[0, 0] == np.float32(0.057845164090394974)
    assert r.embeddings[0, -1] == np.float32(0.0015937023563310504)
    assert r.usage == {"prompt_tokens": None, "total_tokens": 7}
    assert abs(float(np.linalg.norm(r.embeddings[0])) - 1.0) < 1e-3  # Voyage vectors are unit length
    assert same(r.as_float32(), r.embeddings)


def test_voyage_bits_goldens_agree_with_their_floats():
    floats = decode_response(load("voyage_float_base64.json"), output_dtype="float").embeddings
    signs = np.where(floats > 0, 1.0, -1.0).astype(np.float32)
    ub = decode_response(load("voyage_ubinary.json"), output_dtype="ubinary", output_dimension=12)
    b = decode_response(load("voyage_binary_base64.json"), output_dtype="binary", output_dimension=12)
    assert same(ub.as_float32(), signs) and same(b.as_float32(), signs)
    assert same(quantlib.convert_codes(ub.embeddings, "ubinary", "binary"), b.embeddings)
    # without output_dimension the bytes give 16 bits, the last four always clear
    assert decode_response(load("voyage_ubinary.json"), output_dtype="ubinary").dim == 16


def test_jina_binary_unpacks_to_signs():
    r = decode_response(load("jina_binary.json"), output_dtype="binary")
    bits = np.unpackbits((r.embeddings.astype(np.int16) + 128).astype(np.uint8), axis=-1)
    assert same(r.as_float32(), np.where(bits == 1, 1.0, -1.0).astype(np.float32))
    assert r.embeddings[0, 0] == -55


def test_cohere_v2_every_type():
    payload = load("cohere_v2_by_type.json")
    for form in all_forms(payload):
        r = decode_response(form)
        assert (r.provider, r.precision, r.dim, r.id) == ("cohere", "float32", 10, payload["id"])
        assert sorted(r.embeddings_by_type) == ["base64", "binary", "float32", "int8", "ubinary", "uint8"]
        floats = np.array(payload["embeddings"]["float"]).astype(np.float32)
        assert same(r.embeddings, floats)
        assert same(r.embeddings_by_type["base64"], floats)
        assert same(r.embeddings_by_type["int8"], np.array(payload["embeddings"]["int8"], np.int8))
        assert same(r.embeddings_by_type["uint8"], np.array(payload["embeddings"]["uint8"], np.uint8))
        assert same(r.embeddings_by_type["ubinary"], np.packbits(floats > 0, axis=-1))
        assert same(r.embeddings_by_type["binary"], quantlib.quantize(floats, "binary"))
        assert r.usage == {"input_tokens": 2}
    for word, precision in [
        ("int8", "int8"),
        ("uint8", "uint8"),
        ("binary", "binary"),
        ("ubinary", "ubinary"),
        ("base64", "float32"),
        ("float", "float32"),
    ]:
        r = decode_response(payload, output_dtype=word, output_dimension=10)
        assert r.precision == precision and r.dim == 10
        assert r.embeddings is r.embeddings_by_type["base64" if word == "base64" else precision]
    signs = decode_response(payload, output_dtype="ubinary", output_dimension=10).as_float32()
    assert same(signs, np.where(floats > 0, 1.0, -1.0).astype(np.float32))


def test_cohere_sdk_model_dump_and_v1():
    r = decode_response(load("cohere_v2_sdk_model_dump.json"))
    assert (r.provider, r.precision, r.embeddings.shape) == ("cohere", "float32", (1, 4))
    assert r.embeddings[0, 0] == np.float32(-0.025604248)
    assert r.usage == {"images": 1}
    v1 = decode_response(load("cohere_v1_floats.json"))
    assert (v1.provider, v1.embeddings.shape, v1.id) == ("cohere", (1, 4), "embed-v1-0001")
    assert same(v1.embeddings, np.array([[0.1, 0.2, 0.3, 0.4]], np.float32))


def test_jina_multivector_golden():
    payload = load("jina_multivector.json")
    for form in all_forms(payload):
        r = decode_response(form)
        assert (r.provider, r.precision, r.dim, r.model, r.embeddings) == (
            "jina",
            "float32",
            4,
            "jina-colbert-v2",
            None,
        )
        assert [m.shape for m in r.multivectors] == [(3, 4), (2, 4)]  # index 0 comes second in the payload
        assert same(r.multivectors[0], np.array(payload["data"][1]["embeddings"], np.float32))
        assert same(r.multivectors[1], np.array(payload["data"][0]["embeddings"], np.float32))
    with pytest.raises(PayloadError, match="multi-vectors only"):
        r.as_float32()


def test_dashscope_dense_and_sparse_golden():
    payload = load("dashscope_dense_sparse.json")
    for form in all_forms(payload):
        r = decode_response(form)
        assert (r.provider, r.precision, r.dim, r.id, r.model) == (
            "dashscope",
            "float32",
            4,
            payload["request_id"],
            None,
        )
        assert same(r.embeddings, reference_rows(payload["output"], "float32", "embeddings", "text_index"))
        assert len(r.sparse) == 4 and all(isinstance(row, SparseRow) for row in r.sparse)
        assert r.sparse[1].indices.tolist() == [246351, 2490]
        assert same(r.sparse[1].values, np.array([1.0483, 0.8579], np.float32))
        assert r.sparse[1].tokens == ("islet", "back")
        assert r.usage == {"total_tokens": 27}


def test_dashscope_sparse_only_is_put_in_text_index_order():
    r = decode_response(load("dashscope_sparse.json"))
    assert r.embeddings is None and r.precision is None and r.dim is None and r.embeddings_by_type == {}
    assert [row.tokens for row in r.sparse] == [("swift",), ("in", "endless")]
    assert r.sparse[1].indices.dtype == np.int64 and r.sparse[1].values.dtype == np.float32
    with pytest.raises(PayloadError, match="sparse embeddings only"):
        r.as_float32()


@pytest.mark.parametrize(
    ("name", "provider", "code", "message"),
    [
        ("openai_error.json", "openai", "invalid_api_key", "Incorrect API key provided"),
        ("voyage_error.json", "voyage", None, "Provided API key is invalid"),
        ("cohere_error.json", "cohere", None, "invalid api token"),
        ("dashscope_error.json", "dashscope", "InvalidApiKey", "Invalid API-key provided"),
    ],
)
def test_error_goldens(name, provider, code, message):
    for form in all_forms(load(name)):
        with pytest.raises(ProviderError, match=message) as info:
            decode_response(form)
        assert (info.value.provider, info.value.code) == (provider, code)
        assert message in info.value.message


def test_other_error_shapes():
    with pytest.raises(
        ProviderError, match=r"jina provider returned an error: body\.input: Field required"
    ) as info:
        decode_response(
            {"detail": [{"loc": ["body", "input"], "msg": "Field required", "type": "missing"}]},
            provider="jina",
        )
    assert info.value.provider == "jina"
    with pytest.raises(ProviderError, match=r"openai provider returned an error \(code 400\): bad input"):
        decode_response({"object": "error", "message": "bad input", "type": "BadRequestError", "code": 400})
    with pytest.raises(ProviderError, match=r"\(code 'Validation'\): Input validation error"):
        decode_response({"error": "Input validation error", "error_type": "Validation"})
    with pytest.raises(ProviderError, match="InvalidParameter"):  # the dashscope SDK's failed response
        decode_response(
            {
                "status_code": 400,
                "request_id": "r",
                "code": "InvalidParameter",
                "message": "bad",
                "output": None,
                "usage": None,
            }
        )
    # a successful DashScope response carries empty code and message: no error
    assert raise_for_error({"code": "", "message": "", "output": {"embeddings": []}}) is None


# ---------------------------------------------------------------- round trips


def sample_codes(precision: str, n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    if precision in ("int8", "uint8"):
        return quantlib.quantize(x, precision, ranges=[[-3.0] * d, [3.0] * d])
    return quantlib.quantize(x, precision)


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("encoding_format", ["float", "base64"])
@pytest.mark.parametrize("d", [1, 7, 8, 9, 64, 65])
def test_round_trip_every_precision(precision, encoding_format, d):
    codes = sample_codes(precision, 5, d)
    built = build_response(
        codes,
        precision=precision,
        encoding_format=encoding_format,
        model="m",
        usage={"total_tokens": 3},
        dim=d,
    )
    text = build_response_json(
        codes,
        precision=precision,
        encoding_format=encoding_format,
        model="m",
        usage={"total_tokens": 3},
        dim=d,
    )
    assert json.loads(text) == built
    for form in (built, text):
        r = decode_response(form, output_dtype=precision, output_dimension=d)
        assert same(r.embeddings, codes)
        assert (r.precision, r.dim, r.model, r.usage) == (precision, d, "m", {"total_tokens": 3})


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("encoding_format", ["float", "base64"])
def test_shuffled_index_order(precision, encoding_format):
    codes = sample_codes(precision, 9, 20, seed=1)
    built = build_response(codes, precision=precision, encoding_format=encoding_format)
    rng = np.random.default_rng(2)
    for _ in range(3):
        shuffled = dict(built, data=[built["data"][i] for i in rng.permutation(9)])
        r = decode_response(shuffled, output_dtype=precision, output_dimension=20)
        assert same(r.embeddings, codes)


def test_float_round_trip_is_bit_exact_at_the_edges():
    x = np.array(
        [
            [
                np.float32(0.1),
                -0.0,
                1e-45,
                np.finfo(np.float32).max,
                -np.finfo(np.float32).tiny,
                np.nextafter(np.float32(1), np.float32(2)),
            ]
        ],
        np.float32,
    )
    for fmt in ("float", "base64"):
        r = decode_response(build_response_json(x, encoding_format=fmt), provider="openai")
        assert same(r.embeddings, x)


def test_float64_input_is_rounded_to_float32_and_empty_batches_work():
    x = np.array([[0.1, 0.2]])
    assert same(decode_response(build_response(x)).embeddings, x.astype(np.float32))
    empty = decode_response(build_response(np.empty((0, 4), np.float32)), output_dimension=4)
    assert empty.embeddings.shape == (0, 4) and empty.dim == 4
    one = decode_response(build_response(np.array([0.5, 1.0], np.float32)))
    assert one.embeddings.shape == (1, 2)


def test_orjson_and_stdlib_json_agree(monkeypatch):
    codes = sample_codes("float32", 3, 5)
    text = build_response_json(codes)
    with_fast = decode_response(text).embeddings
    monkeypatch.setattr(_common, "_orjson", None)
    assert json.loads(build_response_json(codes)) == json.loads(text)
    assert same(decode_response(text).embeddings, with_fast)
    assert same(decode_response(build_response_json(codes)).embeddings, codes)
    with pytest.raises(NonFiniteError, match=r"data\[0\]\.embedding\[1\]: expected a finite number, got nan"):
        decode_response('{"data": [{"index": 0, "embedding": [0.5, NaN]}]}')


def test_as_float32_for_every_precision():
    x = np.array([[0.25, -1.5, 2.0, 0.0, -0.125, 1.0, 0.5, -2.0, 3.0]], np.float32)
    ranges = [[-3.0] * 9, [3.0] * 9]
    for precision in PRECISIONS:
        codes = (
            quantlib.quantize(x, precision, ranges=ranges)
            if precision in ("int8", "uint8")
            else quantlib.quantize(x, precision)
        )
        r = decode_response(
            build_response(codes, precision=precision), output_dtype=precision, output_dimension=9
        )
        out = r.as_float32()
        assert out.dtype == np.float32 and out.shape == (1, 9)
        if precision in ("int8", "uint8"):
            assert same(out, codes.astype(np.float32))
            assert same(r.as_float32(ranges=ranges), quantlib.dequantize(codes, precision, ranges=ranges))
        elif precision in ("binary", "ubinary"):
            assert same(out, np.where(x > 0, 1.0, -1.0).astype(np.float32))
        else:
            assert same(out, codes.astype(np.float32))


# ---------------------------------------------------------------- property tests


@st.composite
def openai_payloads(draw):
    """An OpenAI-shaped payload, its codes, precision and dimension: any precision, format and row order."""
    precision = draw(st.sampled_from(PRECISIONS))
    n = draw(batch_sizes(6))
    d = draw(dims(70))
    if precision in ("float32", "float16"):
        dtype = np.float32 if precision == "float32" else np.float16
        codes = draw(float_matrices(dtypes=(dtype,), rows=st.just(n), dim=d))
    else:
        seed = draw(st.integers(0, 2**32 - 1))
        codes = sample_codes(precision, n, d, seed)
    encoding = draw(st.sampled_from(["float", "base64"]))
    order = draw(st.permutations(range(n)))
    wire = np.dtype(WIRE[precision])
    data = []
    for i in order:
        row = codes[i]
        value = (
            base64.b64encode(row.astype(wire).tobytes()).decode() if encoding == "base64" else row.tolist()
        )
        data.append({"object": "embedding", "index": i, "embedding": value})
    payload = {
        "object": "list",
        "data": data,
        "model": draw(st.sampled_from(["m", "voyage-3.5"])),
        "usage": {"total_tokens": n},
    }
    return payload, codes, precision, d


@given(openai_payloads(), st.booleans())
def test_property_openai_shaped_payloads(case, as_text):
    payload, codes, precision, d = case
    form = json.dumps(payload) if as_text else payload
    r = decode_response(form, output_dtype=precision, output_dimension=d)
    assert same(r.embeddings, codes)
    assert (r.precision, r.dim) == (precision, d)


@given(float_matrices(dtypes=(np.float32,), rows=st.integers(1, 5)), st.permutations(range(5)))
def test_property_float_lists_need_no_hint(x, perm):
    perm = [p for p in perm if p < x.shape[0]]
    payload = {"data": [{"index": i, "embedding": [float(v) for v in x[i]]} for i in perm]}
    assert same(decode_response(json.dumps(payload)).embeddings, x)  # Python writes 1.0, never 1
    assert same(decode_response(payload, output_dtype="float").embeddings, x)
    # a server that writes integral floats without decimals (JavaScript does) needs the hint
    if x.size and np.all(x == np.round(x)) and np.all(np.abs(x) < 2**53):
        ints = {"data": [{"index": i, "embedding": [int(v) for v in x[i]]} for i in perm]}
        with pytest.raises(PayloadError, match="pass output_dtype="):
            decode_response(ints)
        got = decode_response(ints, output_dtype="float").embeddings
        assert got.dtype == np.float32 and np.array_equal(got, x)  # -0.0 written as 0 loses its sign


# ---------------------------------------------------------------- SDK-like objects (no SDK needed)


class _Row:
    def __init__(self, embedding, index):
        self.embedding, self.index, self.object = embedding, index, "embedding"


class _Response:
    def __init__(self, rows, model):
        self.data, self.model, self.object = rows, model, "list"
        self.usage = type("Usage", (), {})()
        self.usage.prompt_tokens = self.usage.total_tokens = 2
        self._private = "ignored"


class _HttpResponse:
    """What requests hands back: the body in ``content``, a ``json()`` method, no ``read()``."""

    def __init__(self, body: bytes):
        self.content, self.status_code = body, 200

    def json(self):
        return json.loads(self.content)


def test_http_response_objects_are_read_from_their_body():
    body = build_response_json(np.array([[0.5, -1.0]], np.float32), model="m").encode()
    assert same(decode_response(_HttpResponse(body)).embeddings, np.array([[0.5, -1.0]], np.float32))


def test_attribute_objects_are_read_without_dumping():
    r = decode_response(_Response([_Row("AAAAPw==", 1), _Row("AACAPw==", 0)], "text-embedding-3-large"))
    assert same(r.embeddings, np.array([[1.0], [0.5]], np.float32))
    assert r.usage == {"prompt_tokens": 2, "total_tokens": 2}


# ---------------------------------------------------------------- bad input

BAD = [
    # payload, kwargs, error, match
    ({"object": "list"}, {}, PayloadError, r"unknown shape, an object with keys \['object'\]; tried OpenAI"),
    ({"data": {"embedding": [1.0]}}, {}, PayloadError, r"data: expected a list, got an object"),
    ({"data": [[0.5]]}, {}, PayloadError, r"data\[0\]: expected an object, got a list"),
    ({"data": [{"index": 0}]}, {}, PayloadError, r"data\[0\]\.embedding: missing"),
    (
        {"data": [{"index": 0, "embedding": 5}]},
        {},
        PayloadError,
        r"data\[0\]\.embedding: expected a list of "
        r"numbers, got a number \(5\)",
    ),
    (
        {"data": [{"index": 0, "embedding": [0.5, "x"]}]},
        {},
        PayloadError,
        r"data\[0\]\.embedding\[1\]: expected a number, got a string \('x'\)",
    ),
    (
        {"data": [{"index": 0, "embedding": [0.5, None]}]},
        {},
        PayloadError,
        r"data\[0\]\.embedding\[1\]: expected a number, got null",
    ),
    (
        {"data": [{"index": 0, "embedding": [True, False]}]},
        {},
        PayloadError,
        r"data\[0\]\.embedding\[0\]: expected a number, got a boolean",
    ),
    (
        {"data": [{"index": 0, "embedding": []}]},
        {},
        ShapeError,
        r"data\[0\]\.embedding: expected at least one",
    ),
    (
        {"data": [{"index": "0", "embedding": [0.5]}]},
        {},
        PayloadError,
        r"data\[0\]\.index: expected an integer, got a string",
    ),
    (
        {"data": [{"index": True, "embedding": [0.5]}]},
        {},
        PayloadError,
        r"data\[0\]\.index: expected an integer, got a boolean",
    ),
    (
        {"data": [{"index": 0, "embedding": [0.5]}, {"embedding": [0.5]}]},
        {},
        PayloadError,
        r"data\[1\]\.index: missing, while other rows have one",
    ),
    (
        {"data": [{"index": 1, "embedding": [0.5]}, {"index": 1, "embedding": [0.25]}]},
        {},
        PayloadError,
        r"data\[1\]\.index: duplicate index 1 \(also at data\[0\]\)",
    ),
    (
        {"data": [{"index": 0, "embedding": [0.5]}, {"index": 2, "embedding": [0.25]}]},
        {},
        PayloadError,
        r"data\[1\]\.index: 2 is outside 0\.\.1; .* \(missing: \[1\]\)",
    ),
    (
        {"data": [{"index": 1, "embedding": [0.5, 1.0]}, {"index": 0, "embedding": [0.25]}]},
        {},
        ShapeError,
        r"data\[0\]\.embedding: rows must all have the same length; data\[1\]\.embedding has 1 values, "
        r"data\[0\]\.embedding has 2",
    ),
    (
        {"data": [{"index": 0, "embedding": "AACAPw=="}, {"index": 1, "embedding": "AACAPwAAgD8="}]},
        {"provider": "openai"},
        Base64DecodeError,
        r"data\[1\]\.embedding: rows must all have the same length; data\[0\]\.embedding decodes to 4 bytes, "
        r"data\[1\]\.embedding to 8",
    ),
    (
        {"data": [{"index": 0, "embedding": "AACAPw=="}, {"index": 1, "embedding": [1.0]}]},
        {"provider": "openai"},
        PayloadError,
        r"data\[1\]\.embedding: rows mix base64 strings and lists",
    ),
    (
        {"data": [{"index": 0, "embedding": "AAAAAAA="}]},
        {"provider": "openai"},
        Base64DecodeError,
        r"data\[0\]\.embedding: 5 decoded bytes are not a whole number of float32 items \(4 bytes each\)",
    ),
    (
        {"data": [{"index": 0, "embedding": "AACAPw=="}]},
        {"provider": "openai", "output_dimension": 2},
        Base64DecodeError,
        r"output_dimension=2 but the row decodes to 1 float32 values",
    ),
    (
        {"data": [{"index": 0, "embedding": "AACAP!=="}]},
        {"provider": "openai"},
        Base64DecodeError,
        r"data\[0\]\.embedding: invalid base64",
    ),
    (
        {"data": [{"index": 0, "embedding": "zQM="}], "model": "voyage-3.5"},
        {},
        PayloadError,
        r"data\[0\]\.embedding: base64 embeddings do not say their dtype; Voyage sends float32, int8 .* "
        r"pass output_dtype=",
    ),
    (
        {"data": [{"index": 0, "embedding": [-51, 3]}]},
        {},
        PayloadError,
        r"the rows hold only integers, so their precision cannot be known: "
        r"int8 and binary codes are both int8",
    ),
    (
        {"data": [{"index": 0, "embedding": [200, 3]}]},
        {"output_dtype": "int8"},
        OutOfRangeError,
        r"data\[0\]\.embedding\[0\]: 200 is outside int8's range -128\.\.127; codes 0\.\.255 are uint8",
    ),
    (
        {"data": [{"index": 0, "embedding": [200, 3]}]},
        {"output_dtype": "binary"},
        OutOfRangeError,
        r"outside binary's range -128\.\.127; codes 0\.\.255 are ubinary",
    ),
    (
        {"data": [{"index": 0, "embedding": [-1, 3]}]},
        {"output_dtype": "uint8"},
        OutOfRangeError,
        r"data\[0\]\.embedding\[0\]: -1 is outside uint8's range 0\.\.255; negative codes are int8",
    ),
    (
        {"data": [{"index": 0, "embedding": [1.5, 3]}]},
        {"output_dtype": "int8"},
        PayloadError,
        r"data\[0\]\.embedding\[0\]: expected an integer int8 code, got 1\.5",
    ),
    (
        {"data": [{"index": 0, "embedding": [0.5, float("inf")]}]},
        {},
        NonFiniteError,
        r"data\[0\]\.embedding\[1\]: expected a finite number, got inf",
    ),
    (
        {"data": [{"index": 0, "embedding": [0.5, 1e39]}]},
        {},
        OutOfRangeError,
        r"data\[0\]\.embedding\[1\]: 1e\+39 is beyond float32's largest finite value",
    ),
    (
        {"data": [{"index": 0, "embedding": [0.5, 1.0]}]},
        {"output_dimension": 3},
        ShapeError,
        r"data\[0\]\.embedding: output_dimension=3 but the rows have 2 values",
    ),
    (
        {"data": [{"index": 0, "embedding": [77, 255]}]},
        {"output_dtype": "ubinary", "output_dimension": 12},
        ShapeError,
        r"bits past dimension 12 are set .* \(output_dimension=12\)",
    ),
    (
        {"data": [{"index": 0, "embedding": [77, 0]}]},
        {"output_dtype": "ubinary", "output_dimension": 20},
        ShapeError,
        r"packed bits of dimension 20 take 3 bytes per row, got 2",
    ),
    (
        {"data": [{"index": 0, "embedding": [0.5]}]},
        {"output_dimension": 0},
        ShapeError,
        r"output_dimension: expected a positive integer, got 0",
    ),
    (
        {"data": [{"index": 0, "embedding": [0.5]}]},
        {"output_dtype": "int4"},
        quantlib.UnknownPrecisionError,
        r"output_dtype: expected one of float32",
    ),
    (
        {"data": [{"index": 0, "embedding": [0.5]}]},
        {"provider": "acme"},
        ConfigError,
        r"provider: expected one of openai, voyage, jina, cohere, dashscope",
    ),
    (
        {"data": [{"index": 0, "embedding": [0.5]}]},
        {"provider": "cohere"},
        PayloadError,
        r"embeddings: missing; provider='cohere' responses carry 'embeddings'",
    ),
    (
        {"embeddings": {"float": [[0.5, 1.0]], "int4": [[1, 2]]}},
        {},
        PayloadError,
        r"embeddings\.int4: unknown embedding type; Cohere's are float, base64",
    ),
    (
        {"embeddings": {"float": [[0.5, 1.0]], "int8": [[1, 2], [3, 4]]}},
        {},
        ShapeError,
        r"embeddings\.int8: every type must have one row per input; float has 1 rows, int8 has 2",
    ),
    (
        {"embeddings": {"float": [[0.5, 1.0]], "int8": [[1, 2, 3]]}},
        {},
        ShapeError,
        r"the types disagree on the dimension",
    ),
    (
        {"embeddings": {"float": [[0.5] * 9], "ubinary": [[1]]}},
        {},
        ShapeError,
        r"embeddings\.ubinary: packed bits of dimension 9 take 2 bytes per row, got 1",
    ),
    (
        {"embeddings": {"float": [[0.5, 1.0]]}},
        {"output_dtype": "int8"},
        PayloadError,
        r"output_dtype: 'int8' asked for, but the response holds only float",
    ),
    ({"embeddings": {"float": None, "int8": None}}, {}, PayloadError, r"no embedding type holds rows"),
    ({"embeddings": "abc"}, {}, PayloadError, r"embeddings: expected an object of embedding types"),
    (
        {"output": {"embeddings": [{"text_index": 0, "embedding": [0.5]}, {"text_index": 1}]}},
        {},
        PayloadError,
        r"output\.embeddings\[1\]: expected 'embedding'|output\.embeddings\[1\]\.embedding: missing",
    ),
    (
        {
            "output": {
                "embeddings": [{"text_index": 0, "embedding": [0.5]}, {"text_index": 0, "embedding": [1.0]}]
            }
        },
        {},
        PayloadError,
        r"output\.embeddings\[1\]\.text_index: duplicate index 0",
    ),
    (
        {"output": {"embeddings": [{"text_index": 0, "sparse_embedding": [{"index": -1, "value": 0.5}]}]}},
        {},
        PayloadError,
        r"output\.embeddings\[0\]\.sparse_embedding\[0\]\.index: expected a non-negative integer",
    ),
    (
        {"output": {"embeddings": [{"text_index": 0, "sparse_embedding": [{"index": 1, "value": "a"}]}]}},
        {},
        PayloadError,
        r"sparse_embedding\[0\]\.value: expected a number, got a string",
    ),
    ({"output": {"embeddings": [{"text_index": 0}]}}, {}, PayloadError, r"got neither"),
    ({"output": "x"}, {}, PayloadError, r"output: expected an object with 'embeddings', got a string"),
    (
        {"data": [{"index": 0, "embeddings": [[0.5, 1.0]]}, {"index": 1, "embeddings": [[0.5]]}]},
        {},
        ShapeError,
        r"data\[1\]\.embeddings: token vectors must all have the same dimension; data\[0\]\.embeddings has 2",
    ),
    (
        {"data": [{"index": 0, "embeddings": "AACAPwAAgD8="}]},
        {},
        PayloadError,
        r"one base64 string holds the whole token matrix.*pass output_dimension=",
    ),
    (
        {"data": [{"index": 0, "embeddings": 3}]},
        {},
        PayloadError,
        r"data\[0\]\.embeddings: expected a list of token vectors, got a number",
    ),
]


@pytest.mark.parametrize(("payload", "kwargs", "error", "match"), BAD)
def test_bad_payloads(payload, kwargs, error, match):
    with pytest.raises(error, match=match):
        decode_response(payload, **kwargs)


@pytest.mark.parametrize(
    ("payload", "error", "match"),
    [
        ("{not json", PayloadError, r"payload: invalid JSON"),
        (b"", PayloadError, r"payload: invalid JSON"),
        ("[1, 2]", PayloadError, r"payload: expected a JSON object at the top level, got a list of 2 items"),
        (
            42,
            PayloadError,
            r"payload: expected a dict, JSON text \(str or bytes\), a file-like object or an SDK "
            r"response object, got int",
        ),
        (io.StringIO("null"), PayloadError, r"expected a JSON object at the top level, got null"),
        ('{"data": [{"index": 0, "embedding": [0.5, Infinity]}]}', NonFiniteError, r"got inf"),
    ],
)
def test_bad_payload_containers(payload, error, match):
    with pytest.raises(error, match=match):
        decode_response(payload)


def test_read_returning_other_types_is_refused():
    class Odd:
        def read(self):
            return 3

    with pytest.raises(PayloadError, match=r"the file-like object returned int, expected str or bytes"):
        decode_response(Odd())


def test_nan_in_base64_floats_is_refused():
    nan = base64.b64encode(np.array([0.5, np.nan], np.float32).tobytes()).decode()
    with pytest.raises(
        NonFiniteError, match=r"data\[0\]\.embedding: expected finite values, got nan at position 1"
    ):
        decode_response({"data": [{"index": 0, "embedding": nan}]}, provider="openai")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"embeddings": np.zeros((1, 2), np.int8)},
            ConfigError,
            r"precision: an array of dtype int8 may hold several precisions \(int8: 'int8' or 'binary'",
        ),
        (
            {"embeddings": np.zeros((1, 2), np.float32), "encoding_format": "hex"},
            ConfigError,
            r"encoding_format: expected 'float' or 'base64', got 'hex'",
        ),
        (
            {"embeddings": np.array([[np.nan]], np.float32)},
            NonFiniteError,
            r"embeddings: expected finite values",
        ),
        (
            {"embeddings": np.zeros((1, 2), np.uint8), "precision": "int8"},
            quantlib.DTypeError,
            r"embeddings: int8 codes must have dtype int8, got dtype uint8",
        ),
        (
            {"embeddings": np.array([[255]], np.uint8), "precision": "ubinary", "dim": 4},
            ShapeError,
            r"bits past dimension 4 are set",
        ),
        (
            {"embeddings": np.zeros((1, 2), np.float32), "model": 3},
            ConfigError,
            r"model: expected a string, got int",
        ),
    ],
)
def test_bad_build_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        build_response(**kwargs)


@pytest.mark.parametrize(
    ("payload", "kwargs", "match"),
    [
        ({"data": [{"index": 0, "embedding": [True, 0.5]}]}, {}, r"data\[0\]\.embedding\[0\]"),
        ({"data": [{"index": 0, "embedding": [0.5, 0.25]}, {"index": 1, "embedding": [0.5, False]}]}, {},
         r"data\[1\]\.embedding\[1\]"),
        ({"data": [{"index": 0, "embedding": [3, True]}]}, {"output_dtype": "int8"}, r"data\[0\]\.embedding\[1\]"),
        ({"data": [{"index": 0, "embedding": [np.True_, 0.5]}]}, {}, r"data\[0\]\.embedding\[0\]"),
        ({"embeddings": {"float": [[True, 0.5]]}}, {}, r"embeddings\.float\[0\]\[0\]"),
        ({"embeddings": {"float": [[0.5, 1.0]], "uint8": [[7, True]]}}, {}, r"embeddings\.uint8\[0\]\[1\]"),
        ({"output": {"embeddings": [{"text_index": 0, "embedding": [0.5, True]}]}}, {},
         r"output\.embeddings\[0\]\.embedding\[1\]"),
        ({"data": [{"index": 0, "embeddings": [[0.5, 1.0], [False, 0.5]]}]}, {}, r"data\[0\]\.embeddings\[1\]\[0\]"),
    ],
)
def test_booleans_among_numbers_are_refused(payload, kwargs, match):
    """np.array(rows) reads True/False as 1/0; a boolean anywhere in a row is refused, as in an all-boolean row."""
    with pytest.raises(PayloadError, match=match + r": expected a number, got a boolean"):
        decode_response(payload, **kwargs)


def test_zeros_and_ones_that_are_numbers_are_kept():
    r = decode_response({"data": [{"index": 0, "embedding": [0, 1.0, 0.0, 1, 0.5]}]})
    assert r.embeddings.tolist() == [[0.0, 1.0, 0.0, 1.0, 0.5]]
    r = decode_response({"data": [{"index": 0, "embedding": [0, 1, 1, 0]}]}, output_dtype="uint8")
    assert r.embeddings.tolist() == [[0, 1, 1, 0]]


@pytest.mark.parametrize(("precision", "value"), [("ubinary", "/w=="), ("binary", "/w=="), ("ubinary", "8PE=")])
def test_one_base64_string_multivector_refuses_set_padding_bits(precision, value):
    """A whole token matrix in one string is checked like token lists: bits past the dimension must be zero."""
    payload = {"data": [{"index": 0, "embeddings": value}]}
    with pytest.raises(
        ShapeError, match=r"data\[0\]\.embeddings: bits past dimension 4 are set .* \(output_dimension=4\)"
    ):
        decode_response(payload, output_dtype=precision, output_dimension=4)
    ok = decode_response({"data": [{"index": 0, "embeddings": "8OA="}]}, output_dtype=precision, output_dimension=4)
    assert ok.multivectors[0].view(np.uint8).tolist() == [[0xF0], [0xE0]] and ok.dim == 4


TOKEN_COUNT_ERROR = (
    r"usage\['total_tokens'\]: expected an integer token count \(or null, or a mapping of counts\), got "
)


@pytest.mark.parametrize("build", [build_response, build_response_json])
@pytest.mark.parametrize(
    ("usage", "match"),
    [
        (5, r"usage: expected a mapping of token counts \(such as \{'prompt_tokens': 8, 'total_tokens': 8\}\), "
            r"got int"),
        ([1, 2], r"usage: expected a mapping of token counts .*, got list"),
        ({3: 1}, r"usage: expected string keys, got int 3"),
        ({"total_tokens": float("nan")}, TOKEN_COUNT_ERROR + r"nan"),
        ({"total_tokens": 1.5}, TOKEN_COUNT_ERROR + r"1\.5"),
        ({"total_tokens": True}, TOKEN_COUNT_ERROR + r"True"),
        ({"total_tokens": "8"}, TOKEN_COUNT_ERROR + r"'8'"),
        ({"total_tokens": np.float64(2.5)}, TOKEN_COUNT_ERROR + r".*2\.5"),
        ({"details": {"cached_tokens": [1]}}, r"usage\['details'\]\['cached_tokens'\]: expected an integer "),
        ({"total_tokens": 2**64}, r"usage\['total_tokens'\]: expected .*, got an integer of 65 bits"),
        ({"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}, r"usage\['a'\]\['b'\]\['c'\]\['d'\]\['e'\]: expected token "
         r"counts, got mappings nested more than 4 deep"),
    ],
)
def test_build_response_refuses_bad_usage(build, usage, match):
    with pytest.raises(ConfigError, match=match):
        build(np.zeros((1, 2), np.float32), usage=usage)


def test_build_response_usage_takes_what_real_responses_hold():
    """OpenAI's ints, numpy ints, nulls (AIML API's prompt_tokens), nested details, Cohere SDK whole floats."""
    usage = {
        "prompt_tokens": np.int64(3),
        "total_tokens": 3,
        "completion_tokens": None,
        "prompt_tokens_details": {"cached_tokens": np.uint16(0)},
        "input_tokens": 3.0,
    }
    built = build_response(np.zeros((1, 2), np.float32), usage=usage)["usage"]
    assert built == {
        "prompt_tokens": 3, "total_tokens": 3, "completion_tokens": None,
        "prompt_tokens_details": {"cached_tokens": 0}, "input_tokens": 3,
    }
    assert type(built["prompt_tokens"]) is int and type(built["prompt_tokens_details"]["cached_tokens"]) is int
    assert type(built["input_tokens"]) is int
    assert built is not usage and usage["prompt_tokens"].dtype == np.int64  # the caller's mapping is not changed
    text = build_response_json(np.zeros((1, 2), np.float32), usage=usage)
    assert json.loads(text)["usage"] == built
    assert decode_response(text).usage == built
    openai = pytest.importorskip("openai")
    sdk_usage = openai.types.create_embedding_response.Usage(prompt_tokens=2, total_tokens=2)
    assert build_response(np.zeros((1, 2), np.float32), usage=sdk_usage)["usage"] == {
        "prompt_tokens": 2, "total_tokens": 2,
    }


def test_provider_names_and_aliases():
    payload = {"data": [{"index": 0, "embedding": "AACAPw=="}], "model": "some-model"}
    for name in PROVIDERS + ("OVH", "openai-compatible", "jinaai"):
        if name in ("voyage", "cohere"):
            continue
        if name == "dashscope":
            assert decode_response(payload, provider=name).provider == "dashscope"
            continue
        assert decode_response(payload, provider=name).embeddings[0, 0] == 1.0
    with pytest.raises(PayloadError, match="pass output_dtype="):
        decode_response(payload, provider="voyage")
    assert decode_response(payload, provider="mongodb", output_dtype="float").provider == "voyage"
    assert math.isclose(decode_response(payload, output_dtype="base64").embeddings[0, 0], 1.0)


# ---------------------------------------------------------------- the compiled base64 pass


@st.composite
def base64_rows(draw):
    """Rows of base64 (equal byte lengths), sometimes with one character replaced."""
    n = draw(st.integers(1, 5))
    nbytes = draw(st.integers(1, 20))
    seed = draw(st.integers(0, 2**32 - 1))
    raw = np.random.default_rng(seed).integers(0, 256, size=(n, nbytes), dtype=np.uint8)
    rows = [base64.b64encode(r.tobytes()).decode() for r in raw]
    if draw(st.booleans()):
        r = draw(st.integers(0, n - 1))
        k = draw(st.integers(0, len(rows[r]) - 1))
        char = draw(st.sampled_from(["A", "/", "+", "=", "!", " ", "-", "_", "\u00e9", "\n"]))
        rows[r] = rows[r][:k] + char + rows[r][k + 1 :]
    return rows


def _decode_b64(rows, kernel_min_chars, monkeypatch):
    monkeypatch.setattr(quantlib.encoding, "FAST_DECODE_MIN_CHARS", kernel_min_chars)  # the one row decoder
    info = quantlib.precision_info("uint8")
    try:
        return _common.base64_rows_to_array(rows, info, lambda r: f"data[{r}].embedding", None)[0]
    except quantlib.QuantlibError as exc:
        return type(exc), str(exc)


@given(base64_rows())
def test_property_base64_kernel_equals_binascii(rows):
    with pytest.MonkeyPatch.context() as mp:
        fast = _decode_b64(rows, 0, mp)
        slow = _decode_b64(rows, 1 << 60, mp)
    if isinstance(slow, tuple):
        assert fast == slow  # the kernel hands a bad row to binascii, which words the same error
    else:
        assert same(fast, slow)
        assert same(slow, np.array([np.frombuffer(base64.b64decode(r), np.uint8) for r in rows]))


def test_base64_kernel_on_a_large_response():
    x = np.random.default_rng(5).standard_normal((300, 256)).astype(np.float32)
    text = build_response_json(x, encoding_format="base64")
    assert 300 * len(base64.b64encode(x[0].tobytes())) >= quantlib.encoding.FAST_DECODE_MIN_CHARS
    assert same(decode_response(text, provider="openai").embeddings, x)
    bits = quantlib.quantize(x, "ubinary")
    wide = np.tile(bits, (1, 8))  # 256 bytes a row
    r = decode_response(
        build_response(wide, precision="ubinary", encoding_format="base64"), output_dtype="ubinary"
    )
    assert same(r.embeddings, wide)


def test_sparse_rows_become_a_sparse_batch_and_missing_sparse_is_an_error():
    import quantlib

    payload = {"output": {"embeddings": [
        {"text_index": 1, "sparse_embedding": [{"index": 3, "value": 0.5}, {"index": 1, "value": 2.0}]},
        {"text_index": 0, "sparse_embedding": [{"index": 70000, "value": 1.5}]},
    ]}, "usage": {"total_tokens": 3}, "request_id": "x"}
    batch = quantlib.decode_response(payload).sparse_batch()
    assert [(i.tolist(), v.tolist()) for i, v in batch.to_pairs()] == [([70000], [1.5]), ([1, 3], [2.0, 0.5])]
    dense = {"object": "list", "data": [{"index": 0, "embedding": [0.5, 1.0]}]}
    with pytest.raises(quantlib.PayloadError, match="holds no sparse embeddings"):
        quantlib.decode_response(dense).sparse_batch()
