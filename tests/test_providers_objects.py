"""Issue 21 points 10 and 11, issue 22 point 6: responses in search, dump-only objects, big integers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import quantlib as ql

BODY = {"model": "m", "data": [{"index": 1, "embedding": [0.0, 1.0]}, {"index": 0, "embedding": [0.6, 0.8]}]}
WANT = np.array([[0.6, 0.8], [0.0, 1.0]], np.float32)


class Slots:
    """An SDK-like object whose attributes hold nothing readable (slots), with model_dump()."""

    __slots__ = ("_body",)

    def __init__(self, body):
        self._body = body

    def model_dump(self):
        warnings.warn("a serializer warning about the SDK's own model", UserWarning, stacklevel=2)
        return self._body


class Wrapper:
    """Public attributes that are no payload (a client handle), the body behind to_dict()."""

    def __init__(self, body):
        self.client = object()
        self._body = body

    def to_dict(self):
        return self._body


class Properties:
    """Only properties and a pydantic-v1 style dict()."""

    def __init__(self, body):
        self._body = body

    @property
    def model(self):
        return self._body["model"]

    def dict(self):
        return self._body


class Nothing:
    pass


class SlotItem:
    __slots__ = ("_item",)

    def __init__(self, item):
        self._item = item

    def to_dict(self):
        return self._item


@pytest.mark.parametrize("cls", [Slots, Wrapper, Properties])
def test_objects_that_only_dump_are_read(cls):
    """decode_response read these as 'an object with keys []' (or with the wrapper's keys)."""
    r = ql.decode_response(cls(BODY))
    assert np.array_equal(r.embeddings, WANT) and r.model == "m"


def test_nested_items_that_only_dump_are_read():
    r = ql.decode_response({"data": [SlotItem(item) for item in BODY["data"]]})
    assert np.array_equal(r.embeddings, WANT)


def test_an_unreadable_object_is_named_by_its_type():
    with pytest.raises(ql.PayloadError, match=r"payload: unknown shape, a test_providers_objects\.Nothing read as "
                                              r"an object \(through its attributes, or model_dump\(\)"):
        ql.decode_response(Nothing())
    with pytest.raises(ql.PayloadError, match=r"data: missing; provider='openai' responses carry 'data', got a "
                                              r"test_providers_objects\.Nothing read as an object"):
        ql.decode_response(Nothing(), provider="openai")


# ------------------------------------------------------------------ search(q, response)


def test_search_takes_a_decoded_response():
    """search(q, response) raised an unclear ShapeError about rows of different lengths."""
    r = ql.decode_response(BODY)
    q = np.array([1.0, 0.0], np.float32)
    assert np.array_equal(ql.search(q, r, 2)[1], ql.search(q, WANT, 2)[1])
    assert np.array_equal(ql.search(r, r, 2)[1], ql.search(WANT, WANT, 2)[1])
    bits = ql.decode_response({"data": [{"index": 0, "embedding": [77, 0]}, {"index": 1, "embedding": [3, 128]}]},
                              output_dtype="ubinary", output_dimension=9)
    assert ql.search(bits, bits, 2, metric="hamming")[0].tolist() == [[0, 5], [0, 5]]
    codes = ql.decode_response({"data": [{"index": 0, "embedding": [5, -3]}, {"index": 1, "embedding": [1, 2]}]},
                               output_dtype="int8")
    assert ql.search(codes, codes, 1, metric="dot")[0].tolist() == [[34], [5]]
    with pytest.raises(ql.ConfigError, match="precision, corpus: precision 'uint8' but the response's "
                                             "embeddings are 'int8'"):
        ql.search(codes, codes, 1, precision="uint8")


def test_search_names_what_to_pass_for_a_response_without_dense_vectors():
    multi = ql.decode_response({"data": [{"index": 0, "embeddings": [[0.5, 1.0], [1.0, 0.0]]}]}, provider="jina")
    with pytest.raises(ql.DTypeError, match="corpus: the EmbeddingResponse holds no dense embeddings; search "
                                            "multi-vectors with quantlib.maxsim_search"):
        ql.search(np.ones(2, np.float32), multi, 1)


# ------------------------------------------------------------------ integers beyond 64 bits


def test_a_big_integer_in_a_float_row_is_read_when_it_fits_float32():
    """An integer beyond 64 bits in data[2] was blamed on data[0] (numpy could not read the rows)."""
    rows = [{"index": i, "embedding": [0.5, 1.0]} for i in range(3)]
    rows[2]["embedding"] = [0.5, 2**70]
    r = ql.decode_response({"data": rows})
    assert r.embeddings[2, 1] == np.float32(2**70)


@pytest.mark.parametrize(("value", "kwargs", "error", "match"), [
    (10**400, {}, ql.OutOfRangeError, r"^data\[2\]\.embedding\[1\]: .* is beyond float32's largest finite value"),
    (2**65, {"output_dtype": "int8"}, ql.OutOfRangeError, r"^data\[2\]\.embedding\[1\]: .* outside int8's range"),
    (-(2**64), {"output_dtype": "uint8"}, ql.OutOfRangeError, r"^data\[2\]\.embedding\[1\]: .*outside uint8"),
])
def test_a_big_integer_is_blamed_on_its_own_row(value, kwargs, error, match):
    rows = [{"index": i, "embedding": [0.5 if not kwargs else 5, 1]} for i in range(3)]
    rows[2]["embedding"] = [rows[2]["embedding"][0], value]
    with pytest.raises(error, match=match):
        ql.decode_response({"data": rows}, **kwargs)


def test_a_big_integer_among_integers_only_says_to_pass_the_dtype():
    rows = [{"index": 0, "embedding": [5, 1]}, {"index": 1, "embedding": [5, 2**65]}]
    with pytest.raises(ql.PayloadError, match=r"^data\[1\]\.embedding\[1\]: .*beyond 64 bits, and the rows hold "
                                              r"only integers"):
        ql.decode_response({"data": rows})
    assert ql.decode_response({"data": rows}, output_dtype="float").embeddings[1, 1] == np.float32(2**65)
