"""Issue 23 point 5: providers as records, one base64 row decoder, DashScope sparse weights parsed once."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import quantlib
from quantlib import ConfigError, PayloadError, ProviderError, SparseBatch, decode_response
from quantlib.providers import (
    PROVIDERS,
    DecodeRequest,
    EmbeddingResponse,
    ErrorShape,
    Provider,
    get_provider,
    register_provider,
    registered_providers,
    unregister_provider,
)
from quantlib.providers._common import base64_rows_to_array, get_list, optional_str, rows_to_array

GOLDEN = Path(__file__).parent / "golden" / "providers"


# ---------------------------------------------------------------- a toy provider, registered from here


def _decode_toy(root: Mapping[str, Any], request: DecodeRequest) -> EmbeddingResponse:
    request.require(root, "vectors")
    rows = get_list(root, "vectors", "vectors")
    array, info, dim = rows_to_array(rows, request.info, lambda r: f"vectors[{r}]", request.output_dimension)
    return EmbeddingResponse(embeddings=array, precision=info.name, dim=dim, model=optional_str(root, "model"),
                             usage={"tokens": root.get("tokens")}, provider="toy",
                             embeddings_by_type={info.name: array})


def _toy_error(root: Mapping[str, Any]) -> tuple[Any, Any] | None:
    fault = root.get("fault")
    return (fault.get("text", ""), fault.get("status")) if isinstance(fault, Mapping) else None


TOY = Provider(
    name="toy",
    decode=_decode_toy,
    aliases=("toy-ai",),
    detect=lambda root: root.get("vectors") is not None,
    keys=("vectors",),
    shape='Toy {"vectors": [[...]]}',
    errors=(ErrorShape(_toy_error, ("fault",), '{"fault": {"text", "status"}}'),),
)


@pytest.fixture
def toy():
    register_provider(TOY)
    try:
        yield TOY
    finally:
        unregister_provider("toy")


def test_a_provider_registered_from_a_test_module_decodes_through_decode_response(toy):
    payload = {"vectors": [[0.5, -1.0], [2.0, 0.25]], "model": "toy-1", "tokens": 7}
    r = decode_response(payload)  # detected by its record
    assert r.provider == "toy" and r.model == "toy-1" and r.usage == {"tokens": 7}
    assert np.array_equal(r.embeddings, np.array(payload["vectors"], np.float32)) and r.dim == 2
    assert decode_response(json.dumps(payload), provider="Toy-AI").provider == "toy"  # alias, any case
    codes = decode_response({"vectors": [[-3, 5]]}, provider="toy", output_dtype="int8").embeddings
    assert codes.dtype == np.int8 and codes.tolist() == [[-3, 5]]
    with pytest.raises(PayloadError, match=r"vectors: missing; provider='toy' responses carry 'vectors'"):
        decode_response({"data": [{"embedding": [1.0]}]}, provider="toy")
    with pytest.raises(ProviderError, match=r"toy provider returned an error \(code 429\): slow down") as info:
        decode_response({"fault": {"text": "slow down", "status": 429}})
    assert info.value.provider == "toy" and info.value.code == 429
    with pytest.raises(PayloadError, match=r'unknown shape.*Toy \{"vectors": \[\[\.\.\.\]\]\}.*\{"fault"'):
        decode_response({"nothing": 1})
    with pytest.raises(ConfigError, match=r"provider: expected one of openai, voyage, jina, cohere, dashscope, toy"):
        decode_response(payload, provider="toys")


def test_registering_and_unregistering_leaves_the_builtins_as_they_were(toy):
    assert get_provider("toy-ai") is toy
    with pytest.raises(ConfigError, match="the provider name 'toy' is taken"):
        register_provider(TOY)
    with pytest.raises(ConfigError, match="the provider name 'ovh' is taken \\(by 'openai'\\)"):
        register_provider(Provider(name="ovh-clone", decode=_decode_toy, aliases=("ovh",)))
    with pytest.raises(ConfigError, match="lower-case words"):
        register_provider(Provider(name="Toy 2", decode=_decode_toy))
    with pytest.raises(ConfigError, match="expected a quantlib.providers.Provider"):
        register_provider({"name": "toy"})
    with pytest.raises(ConfigError, match="decode .* must be callable"):
        register_provider(Provider(name="toy-3", decode="decode_toy"))
    with pytest.raises(ConfigError, match="expected ErrorShape records"):
        register_provider(Provider(name="toy-3", decode=_decode_toy, errors=(_toy_error,)))
    assert "toy-3" not in {p.name for p in registered_providers()}
    assert [p.name for p in registered_providers()] == ["openai", "voyage", "dashscope", "cohere", "jina", "toy"]
    assert set(PROVIDERS) <= {p.name for p in registered_providers()}


def test_builtin_records_hold_what_the_if_chains_held():
    by_name = {p.name: p for p in registered_providers()}
    assert get_provider("OVH") is by_name["openai"] and get_provider(" qwen ") is by_name["dashscope"]
    assert get_provider("mongodb") is by_name["voyage"] and get_provider("jinaai") is by_name["jina"]
    assert {n for n, p in by_name.items() if p.base64 == "float32"} >= {"openai", "jina", "dashscope"}
    assert by_name["voyage"].base64 is None  # Voyage's base64 bytes need output_dtype
    # a model name names the provider of an OpenAI-shaped response
    r = decode_response({"data": [{"embedding": "AACAPw=="}], "model": "voyageai/voyage-3.5"}, output_dtype="float")
    assert r.provider == "voyage"
    assert decode_response({"data": [{"embedding": "AACAPw=="}], "model": "jina-embeddings-v3"}).provider == "jina"


def test_error_shapes_keep_their_order():
    # vLLM's error carries "code" too: OpenAI's shape is asked before DashScope's
    with pytest.raises(ProviderError, match="openai provider") as info:
        decode_response({"object": "error", "message": "bad", "type": "BadRequestError", "code": 400})
    assert info.value.code == 400
    with pytest.raises(ProviderError, match="dashscope provider"):
        decode_response({"id": "x", "code": "InvalidParameter", "message": "bad"})  # DashScope before Cohere
    with pytest.raises(ProviderError, match="cohere provider"):
        decode_response({"id": "x", "message": "bad"})
    with pytest.raises(ProviderError, match="voyage provider"):
        decode_response({"detail": "bad", "code": 1})  # Voyage's detail before DashScope's code
    with pytest.raises(ProviderError, match="openai provider returned an error: boom"):
        decode_response({"error": "boom", "data": []})  # "error" counts beside embeddings
    assert decode_response({"message": "", "code": "", "output": {"embeddings": []}}).provider == "dashscope"


# ---------------------------------------------------------------- one base64 row decoder


def test_providers_decode_base64_with_the_encoding_row_decoder(monkeypatch):
    calls = []
    real = quantlib.encoding.decode_rows

    def spy(rows, wire, **kw):
        calls.append(len(rows))
        return real(rows, wire, **kw)

    monkeypatch.setattr(quantlib.encoding, "decode_rows", spy)
    x = np.random.default_rng(3).standard_normal((3, 4)).astype(np.float32)
    body = quantlib.build_response(x, encoding_format="base64", model="text-embedding-3-small")
    assert np.array_equal(decode_response(body).embeddings, x)
    by_type = {"embeddings": {"base64": [d["embedding"] for d in body["data"]]}}
    assert np.array_equal(decode_response(by_type).embeddings, x)  # Cohere's base64 type
    assert calls == [3, 3]


@st.composite
def b64_rows(draw):
    n = draw(st.integers(1, 4))
    nbytes = draw(st.sampled_from([2, 4, 6, 8, 12]))
    seed = draw(st.integers(0, 2**32 - 1))
    raw = np.random.default_rng(seed).integers(0, 256, size=(n, nbytes), dtype=np.uint8)
    rows = [base64.b64encode(r.tobytes()).decode() for r in raw]
    if draw(st.booleans()):  # one row cut short, or given an extra byte
        r = draw(st.integers(0, n - 1))
        rows[r] = base64.b64encode(raw[r].tobytes()[: draw(st.integers(1, nbytes + 1))] + b"\x00").decode()
    return rows


@given(b64_rows(), st.sampled_from(["uint8", "float16", "float32"]), st.booleans())
def test_property_provider_rows_and_b64decode_agree(rows, precision, kernel):
    """The same bytes from both callers of the one decoder, and the same error class when the rows are bad."""
    info = quantlib.precision_info(precision)

    def run(call):
        try:
            return call()
        except quantlib.QuantlibError as exc:
            return type(exc)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(quantlib.encoding, "FAST_DECODE_MIN_CHARS", 0 if kernel else 1 << 60)
        ours = run(lambda: base64_rows_to_array(rows, info, lambda r: f"data[{r}].embedding", None)[0])
        theirs = run(lambda: quantlib.b64decode(rows, precision))
    if isinstance(theirs, np.ndarray) and not (info.is_float and not np.isfinite(theirs).all()):
        assert isinstance(ours, np.ndarray) and ours.dtype == theirs.dtype and ours.tobytes() == theirs.tobytes()
    elif not isinstance(theirs, np.ndarray):
        assert ours is theirs


# ---------------------------------------------------------------- DashScope sparse weights, parsed once


@pytest.mark.parametrize("name", ["dashscope_sparse.json", "dashscope_dense_sparse.json"])
@pytest.mark.parametrize("vocab_size", [None, 250002])
def test_dashscope_sparse_batch_equals_the_dict_path_on_the_goldens(name, vocab_size, monkeypatch):
    payload = json.loads((GOLDEN / name).read_text())
    order = sorted(payload["output"]["embeddings"], key=lambda e: e["text_index"])
    before = SparseBatch.from_dashscope([e["sparse_embedding"] for e in order], vocab_size=vocab_size)

    def parse_again(*args, **kwargs):
        raise AssertionError("sparse_batch() parsed the weights a second time")

    monkeypatch.setattr(SparseBatch, "from_dashscope", classmethod(parse_again))
    r = decode_response(payload)
    after = r.sparse_batch(vocab_size=vocab_size)
    assert after == before and after.tokens == before.tokens and after.vocab_size == before.vocab_size
    for a, b in ((after.indptr, before.indptr), (after.indices, before.indices), (after.values, before.values)):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    # the rows are views of one parse, in payload order
    assert all(row.indices.base is r.sparse[0].indices.base for row in r.sparse)
    assert r.sparse[0].indices.tolist() == [e["index"] for e in order[0]["sparse_embedding"]]


def test_dashscope_sparse_odd_entries_take_the_entry_by_entry_path():
    class Entry:  # an SDK-like entry: read through its attributes
        def __init__(self, index, value):
            self.index, self.value = index, value

    payload = {"output": {"embeddings": [{"sparse_embedding": [Entry(4, 0.5), Entry(1, np.float32(2.0))]}]}}
    b = decode_response(payload).sparse_batch()
    assert b.to_dicts() == [{1: 2.0, 4: 0.5}]
    mixed = {"output": {"embeddings": [{"sparse_embedding": [{"index": 1, "value": 1.0, "token": "a"}]},
                                       {"sparse_embedding": [{"index": 2, "value": 1.0}]}]}}
    r = decode_response(mixed)  # each row is consistent; the batch refuses tokens on some rows only
    with pytest.raises(PayloadError, match=r"rows\[1\]\[0\]: 'token' must be on every entry or on none"):
        r.sparse_batch()
    with pytest.raises(quantlib.ShapeError, match="duplicate id 3 in row 0"):
        decode_response({"output": {"embeddings": [{"sparse_embedding": [
            {"index": 3, "value": 1.0}, {"index": 3, "value": 2.0}]}]}}).sparse_batch()
    with pytest.raises(quantlib.NonFiniteError, match=r"sparse_embedding\[1\]\.value: expected a finite number"):
        decode_response({"output": {"embeddings": [{"sparse_embedding": [
            {"index": 3, "value": 1.0}, {"index": 4, "value": float("nan")}]}]}})


def test_replace_keeps_the_place_and_drops_the_old_aliases(toy):
    other = Provider(name="toy", decode=_decode_toy, aliases=("toy-2",), detect=TOY.detect, keys=("vectors",))
    register_provider(other, replace=True)
    assert [p.name for p in registered_providers()][-1] == "toy" and get_provider("toy-2") is other
    with pytest.raises(ConfigError, match=r"provider: expected one of .*, toy \(or None to detect\), got 'toy-ai'"):
        get_provider("toy-ai")


def test_decoding_while_records_come_and_go_in_other_threads():
    import threading

    payload = {"data": [{"index": 0, "embedding": [0.5, 1.0]}]}
    stop = threading.Event()
    failures = []

    def churn():
        while not stop.is_set():
            register_provider(TOY)
            unregister_provider("toy")

    def decode():
        for _ in range(300):
            try:
                assert decode_response(payload).provider == "openai"
                assert decode_response({"vectors": [[1.0]]}).provider == "toy"  # while it is registered
            except PayloadError as exc:
                if "unknown shape" not in str(exc):  # while it is not
                    failures.append(exc)
            except Exception as exc:  # noqa: BLE001 - any other failure is the finding
                failures.append(exc)

    threads = [threading.Thread(target=churn)] + [threading.Thread(target=decode) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads[1:]:
        t.join()
    stop.set()
    threads[0].join()
    assert failures == []
    assert "toy" not in {p.name for p in registered_providers()}
