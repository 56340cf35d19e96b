"""A codec defined here, outside quantlib, works through quantlib unchanged (issue 23's measure).

Two toy codecs, each with a numpy reference:

- ``toy4``: 4-bit per-dimension scalar quantization over calibration ranges,
  one code (0..15) per uint8 byte.  It returns its affine map, so it is
  scored by quantlib's integer kernels (family ``"affine"``).
- ``toy4p``: the same 16 levels over a fixed range [-1, 1], two codes packed
  per byte (high nibble first).  It gives only ``encode``/``decode``, so it
  takes the generic path (family ``"decoded"``), and it cannot be truncated:
  that is refused with :class:`quantlib.UnsupportedError`.

Every test registers them through the fixture and forgets them after, so
the rest of the suite sees the built-in precisions only.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import scipy.spatial.distance as sd

import quantlib as ql
import quantlib._kernels._config as C
from quantlib.codecs import Affine, Codec, register_codec, unregister_codec
from quantlib.precision import PrecisionInfo

TOY4 = PrecisionInfo("toy4", np.dtype("u1"), 8, ("nibble",), False,
                     "4-bit per-dimension codes 0..15 over calibration ranges, one per byte",
                     family="affine", calibrated=True)
TOY4O = PrecisionInfo("toy4o", np.dtype("u1"), 8, (), False,
                      "toy4 codes that score rows with their own (numpy) kernel", family="own", calibrated=True)
TOY4P = PrecisionInfo("toy4p", np.dtype("u1"), 4, (), False,
                      "16 levels over [-1, 1], two codes per byte, high nibble first")


class Toy4(Codec):
    """4-bit scalar codes over per-dimension ranges; the reference is plain numpy."""

    precisions = (TOY4,)

    def __init__(self, precision: str, ranges: Any) -> None:
        super().__init__(precision)
        self.ranges = np.asarray(ranges, np.float32)
        self._step = ((self.ranges[1] - self.ranges[0]) / np.float32(15)).astype(np.float32)

    @classmethod
    def fit(cls, calibration_embeddings: Any, precision: str = "toy4") -> Toy4:
        x = np.asarray(calibration_embeddings, np.float32)
        return cls(precision, np.stack([x.min(axis=0), x.max(axis=0)]))

    @property
    def dim(self) -> int:
        return int(self.ranges.shape[1])

    def encode(self, embeddings: Any) -> np.ndarray:
        x = np.asarray(embeddings, np.float32)
        if not np.isfinite(x).all():
            raise ql.NonFiniteError("embeddings: expected finite values")
        self.check_dim(x.shape[-1], "embeddings")
        safe = np.where(self._step > 0, self._step, np.float32(1))
        return np.clip(np.rint((x - self.ranges[0]) / safe), 0, 15).astype(np.uint8)

    def decode(self, codes: Any, *, dim: int | None = None) -> np.ndarray:
        c = np.asarray(codes)
        self.check_dim(c.shape[-1], "codes")
        return (self.ranges[0] + c.astype(np.float32) * self._step).astype(np.float32)

    def affine(self) -> Affine:
        return Affine(self.ranges[0], self._step, 0, 15)

    def truncate(self, dim: int) -> Toy4:
        return Toy4(self.precision, self.ranges[:, :dim])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "ranges": self.ranges.tolist()}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Toy4:
        return cls(config["id"], config["ranges"])


class Toy4Own(Toy4):
    """toy4 codes scored by the codec itself (family ``"own"``): its kernel is a numpy matrix product."""

    precisions = (TOY4O,)

    def affine(self) -> None:  # type: ignore[override]
        return None

    def truncate(self, dim: int) -> Toy4Own:
        return Toy4Own(self.precision, self.ranges[:, :dim])

    def prepare_queries(self, queries: np.ndarray) -> np.ndarray:
        return queries.astype(np.float32)

    def score_rows(self, prepared: np.ndarray, rows: np.ndarray, out: np.ndarray) -> None:
        out[...] = prepared @ self.decode(rows).T


class Toy4Packed(Codec):
    """16 levels over [-1, 1], two per byte; encode/decode only (the generic scoring path)."""

    precisions = (TOY4P,)

    def encode(self, embeddings: Any) -> np.ndarray:
        x = np.asarray(embeddings, np.float32)
        single = x.ndim == 1
        x = np.atleast_2d(x)
        if not np.isfinite(x).all():
            raise ql.NonFiniteError("embeddings: expected finite values")
        levels = np.clip(np.rint((x + 1) * 7.5), 0, 15).astype(np.uint8)
        if levels.shape[1] % 2:
            levels = np.pad(levels, ((0, 0), (0, 1)))
        out = (levels[:, 0::2] << 4) | levels[:, 1::2]
        return out[0] if single else out

    def decode(self, codes: Any, *, dim: int | None = None) -> np.ndarray:
        c = np.atleast_2d(np.asarray(codes, np.uint8))
        levels = np.stack([c >> 4, c & 15], axis=-1).reshape(c.shape[0], -1)
        levels = levels[:, : 2 * c.shape[1] if dim is None else dim]
        out = (levels.astype(np.float32) / np.float32(7.5) - 1).astype(np.float32)
        return out[0] if np.ndim(codes) == 1 else out


@pytest.fixture
def toys():
    register_codec(Toy4)
    register_codec(Toy4Own)
    register_codec(Toy4Packed)
    yield
    unregister_codec(Toy4)
    unregister_codec(Toy4Own)
    unregister_codec(Toy4Packed)


def _data(n=300, d=24, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def _best(scores: np.ndarray, k: int, higher: bool = True) -> np.ndarray:
    """Reference top-k ids: by score, ties by the lower index."""
    key = -scores if higher else scores
    return np.stack([np.lexsort((np.arange(len(row)), row))[:k] for row in key])


def test_registration_adds_the_names_everywhere(toys):
    assert [p.name for p in ql.PRECISIONS][-3:] == ["toy4", "toy4o", "toy4p"]
    assert ql.precision_info("NIBBLE") is TOY4 and ql.code_width("toy4p", 7) == 4
    assert "toy4" in ql.codecs.registered_precisions()
    with pytest.raises(ql.ConfigError, match="toy4 codes need the codec that made them"):
        ql.codecs.default_codec("toy4")


def test_unregistering_forgets_them():
    register_codec(Toy4)
    unregister_codec(Toy4)
    assert "toy4" not in [p.name for p in ql.PRECISIONS]
    with pytest.raises(ql.UnknownPrecisionError, match="toy4"):
        ql.precision_info("toy4")


def test_a_name_taken_by_another_record_is_refused(toys):
    clash = PrecisionInfo("toy4", np.dtype("u1"), 8, (), False, "another")
    with pytest.raises(ql.ConfigError, match="already the precision 'toy4'"):
        register_codec(type("Clash", (Toy4,), {"precisions": (clash,)}))


def test_quantize_dequantize_and_config(toys):
    x = _data()
    codes = ql.quantize(x, "toy4", calibration_embeddings=x)
    ref = Toy4.fit(x)
    assert codes.dtype == np.uint8 and np.array_equal(codes, ref.encode(x))
    codec = Toy4.fit(x)
    config = json.loads(json.dumps(codec.get_config()))
    again = ql.codec_from_config(config)
    assert again == codec and config["version"] == 3
    assert np.array_equal(ql.dequantize(codes, again), ref.decode(codes))
    assert ql.get_codec("toy4", ranges=codec.ranges) == codec
    packed = ql.quantize(x, "toy4p")
    assert packed.shape == (300, 12) and np.array_equal(packed, Toy4Packed("toy4p").encode(x))
    assert np.allclose(ql.dequantize(packed, "toy4p", dim=24), x, atol=1 / 15 + 1e-6)
    with pytest.raises(ql.ConfigError,
                       match="only int8, uint8, rotated4, rotated2, rotated1, toy4 and toy4o use calibration"):
        ql.quantize(x, "toy4p", calibration_embeddings=x)


@pytest.mark.parametrize("metric", ["dot", "cosine"])
def test_pairwise_and_search_score_the_values(toys, metric):
    x = _data()
    q = _data(5, seed=1)
    for codec in (Toy4.fit(x), Toy4Own("toy4o", Toy4.fit(x).ranges), Toy4Packed("toy4p")):
        codes = codec.encode(x)
        values = codec.decode(codes, dim=24)
        want = q @ values.T if metric == "dot" else 1 - sd.cdist(q, values, "cosine")
        got = ql.pairwise(q, codes, metric, codec=codec, dim=24)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        scores, ids = ql.search(q, codes, 10, metric=metric, codec=codec, dim=24)
        np.testing.assert_allclose(scores, np.take_along_axis(got, ids, 1), rtol=1e-6, atol=1e-6)
        assert np.array_equal(ids, _best(got, 10)), codec
        # rescored with float32 rows: the final ranking is the float one
        scores, ids = ql.search(q, codes, 5, metric=metric, codec=codec, dim=24, rescore=x, oversample=4)
        exact = ql.pairwise(q, x, metric)
        assert np.array_equal(np.sort(scores, axis=1)[:, ::-1], scores)
        np.testing.assert_allclose(scores, np.take_along_axis(exact, ids, 1), rtol=1e-6)


def test_code_queries_are_scored_as_their_values(toys):
    x = _data()
    codec = Toy4.fit(x)
    codes = codec.encode(x)
    got = ql.pairwise(codes[:3], codes, "dot", codec=codec)
    want = codec.decode(codes[:3]) @ codec.decode(codes).T
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_toy_codes_rescore_another_first_stage(toys):
    x = _data()
    q = _data(4, seed=2)
    codec = Toy4.fit(x)
    bits = ql.quantize(x, "ubinary")
    scores, ids = ql.search(q, bits, 5, metric="dot", precision="ubinary", rescore=(codec.encode(x), codec))
    values = codec.decode(codec.encode(x))
    np.testing.assert_allclose(scores, np.take_along_axis(q @ values.T, ids, 1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("precision", ["toy4", "toy4o", "toy4p"])
def test_flat_index_adds_saves_loads_and_searches(toys, tmp_path, precision):
    x = _data()
    q = _data(3, seed=3)
    ranges = Toy4.fit(x).ranges
    codec = {"toy4": Toy4("toy4", ranges), "toy4o": Toy4Own("toy4o", ranges), "toy4p": Toy4Packed("toy4p")}[precision]
    index = ql.FlatIndex(codec, 24, metric="cosine", rescore="float32")
    index.add(x[:200], ids=np.arange(200) + 1000)
    index.add(codec.encode(x[200:]), rescore=x[200:])
    before = index.search(q, k=7)
    index.save(tmp_path / "idx")
    loaded = ql.FlatIndex.load(tmp_path / "idx")
    after = loaded.search(q, k=7)
    assert np.array_equal(before[1], after[1]) and np.array_equal(before[0], after[0])
    first = ql.FlatIndex(codec, 24, metric="cosine")
    first.add(x)
    s, i = first.search(q, k=7)
    want = ql.pairwise(q, codec.encode(x), "cosine", codec=codec, dim=24)
    assert np.array_equal(i, _best(want, 7) + 0)


def test_truncate_through_the_codec_or_refused(toys):
    x = _data()
    codec = Toy4.fit(x)
    codes = codec.encode(x)
    cut = ql.truncate(codes, 8, precision=codec)
    assert np.array_equal(cut, codes[:, :8])
    short = ql.truncate_codec(codec, 8)
    assert np.array_equal(short.encode(x[:, :8]), cut)
    packed = Toy4Packed("toy4p")
    with pytest.raises(ql.UnsupportedError, match="cannot be truncated"):
        ql.truncate(packed.encode(x), 8, precision=packed)
    with pytest.raises(ql.UnsupportedError, match="cannot be truncated"):
        ql.truncate_codec(packed, 8)


def test_what_a_codec_does_not_have_is_refused(toys):
    x = _data()
    codec = Toy4.fit(x)
    codes = codec.encode(x)
    with pytest.raises(ql.ConfigError, match="'hamming' scores binary, ubinary rows, got precision 'toy4'"):
        ql.search(x[:2], codes, 3, metric="hamming", codec=codec)
    with pytest.raises(ql.UnsupportedError, match="convert_codes converts between"):
        ql.convert_codes(codes, codec, "ubinary")
    with pytest.raises(ql.ConfigError, match="toy4 codes need the codec that made them"):
        ql.search(x[:2], codes, 3, precision="toy4")
    with pytest.raises(ql.ShapeError, match="the codec is for dimension 24, got dimension 8"):
        ql.search(x[:2], codes[:, :8], 3, codec=codec)


# --------------------------------------------------------------------------- multi-vector (MaxSim)


def _ragged(seed=0, d=24, n_docs=40):
    rng = np.random.default_rng(seed)
    docs = [rng.standard_normal((int(t), d)).astype(np.float32) for t in rng.integers(1, 9, n_docs)]
    return ql.MultiVectorBatch.from_arrays([m / np.linalg.norm(m, axis=1, keepdims=True) for m in docs])


def _toy_codec(precision: str, tokens: np.ndarray) -> Codec:
    ranges = Toy4.fit(tokens).ranges
    return {"toy4": Toy4("toy4", ranges), "toy4o": Toy4Own("toy4o", ranges), "toy4p": Toy4Packed("toy4p")}[precision]


def _maxsim_reference(q: np.ndarray, values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """sum over query tokens of the best dot with a document token, in float64."""
    sims = q.astype(np.float64) @ values.astype(np.float64).T
    return np.array([sims[:, a:b].max(axis=1).sum() for a, b in zip(offsets[:-1], offsets[1:], strict=True)])


@pytest.mark.parametrize("precision", ["toy4", "toy4o", "toy4p"])
def test_multivector_batches_hold_toy_codes(toys, precision):
    floats = _ragged()
    codec = _toy_codec(precision, floats.tokens)
    batch = floats.quantize(codec)
    width = {"toy4": 24, "toy4o": 24, "toy4p": 12}[precision]
    assert (batch.precision, batch.dim, batch.tokens.shape) == (precision, 24, (floats.n_tokens, width))
    assert np.array_equal(batch.tokens, codec.encode(floats.tokens))
    assert np.array_equal(batch.offsets, floats.offsets)
    # a calibrated codec stays with its tokens; toy4p's default codec reads them, so none is kept
    assert batch.codec == (None if precision == "toy4p" else codec)
    # by name: fitted to the tokens as quantize fits it
    assert floats.quantize(precision) == batch
    assert np.array_equal(batch.dequantize().tokens, codec.decode(batch.tokens, dim=24))
    # round trips: base64 (the codec's config travels), flat arrays, lists, arrays, slices
    payload = json.loads(json.dumps(batch.to_base64()))
    assert ("codec" in payload) == (precision != "toy4p")
    assert ql.MultiVectorBatch.from_base64(payload) == batch
    assert ql.MultiVectorBatch(*batch.to_flat(), precision=precision, codec=batch.codec) == batch
    assert ql.MultiVectorBatch(*batch.to_flat(), codec=payload.get("codec", codec.get_config())) == batch
    assert ql.MultiVectorBatch.from_lists(batch.to_lists(), precision=precision, codec=batch.codec) == batch
    assert ql.MultiVectorBatch.from_arrays(batch.to_arrays(), precision=precision, codec=batch.codec) == batch
    assert np.array_equal(batch[2:5].tokens, codec.encode(floats[2:5].tokens))
    assert batch[2:5].codec == batch.codec
    # codes to floats, through the codec
    assert np.array_equal(batch.quantize("float32").tokens, batch.dequantize().tokens)


def test_packed_toy_tokens_of_an_odd_dimension_keep_it(toys):
    floats = _ragged(d=23)
    batch = floats.quantize("toy4p")
    assert batch.dim == 23 and batch.width == 12
    assert ql.MultiVectorBatch.from_base64(batch.to_base64()) == batch
    assert batch.dequantize().tokens.shape == (floats.n_tokens, 23)
    # without dim= the width says its widest dimension, as decode(dim=None) reads it
    assert ql.MultiVectorBatch(*batch.to_flat(), precision="toy4p").dim == 24
    assert ql.MultiVectorBatch(*batch.to_flat(), precision="toy4p", dim=23) == batch


@pytest.mark.parametrize("precision", ["toy4", "toy4o", "toy4p"])
def test_maxsim_scores_the_decoded_tokens(toys, precision, monkeypatch):
    floats = _ragged()
    codec = _toy_codec(precision, floats.tokens)
    batch = floats.quantize(codec)
    values = codec.decode(batch.tokens, dim=24)
    q = _ragged(seed=1, n_docs=1).tokens  # one query of unit tokens
    for normalize in (False, True):
        got = ql.maxsim(q, batch, normalize=normalize)
        want = _maxsim_reference(q, values, batch.offsets) / (q.shape[0] if normalize else 1)
        assert got.dtype == np.float32 and got.shape == (len(batch),)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        scores, ids = ql.maxsim_search(q, batch, 7, normalize=normalize)
        assert ids.shape == scores.shape == (1, 7)
        assert np.array_equal(ids[0], _best(got[None], 7)[0]) and np.array_equal(scores[0], got[ids[0]])
    # the threaded scan gives the same as the serial one
    monkeypatch.setattr(C, "PARALLEL_MIN_WORK", float("inf"))
    serial = ql.maxsim(q, batch), ql.maxsim_search(q, batch, 7)
    monkeypatch.setattr(C, "PARALLEL_MIN_WORK", 0.0)
    assert np.array_equal(ql.maxsim(q, batch), serial[0])
    for got, want in zip(ql.maxsim_search(q, batch, 7), serial[1], strict=True):
        assert np.array_equal(got, want)


@pytest.mark.parametrize("precision", ["toy4", "toy4o", "toy4p"])
def test_maxsim_search_rescores_and_rescores_with_toy_codes(toys, precision):
    floats = _ragged()
    codec = _toy_codec(precision, floats.tokens)
    batch = floats.quantize(codec)
    q = _ragged(seed=2, n_docs=1).tokens
    exact = ql.maxsim(q, floats)
    # toy codes first, float32 tokens re-rank: the scores are the float ones, best first
    scores, ids = ql.maxsim_search(q, batch, 5, rescore=floats, oversample=3)
    assert np.array_equal(scores[0], exact[ids[0]]) and np.all(np.diff(scores[0]) <= 0)
    shortlist = ql.maxsim_search(q, batch, 15)[1][0]
    assert np.array_equal(ids[0], shortlist[_best(exact[shortlist][None], 5)[0]])
    # a float query quantized by the documents' codec for the first stage
    scores, ids = ql.maxsim_search(q, batch, 5, rescore=floats, oversample=3, quantize_query=True)
    assert np.array_equal(scores[0], exact[ids[0]])
    # bits first, toy codes re-rank: the scores are the toy codes' MaxSim
    bits = floats.quantize("ubinary")
    scores, ids = ql.maxsim_search(q, bits, 5, rescore=batch, oversample=4, quantize_query=True)
    np.testing.assert_array_equal(scores[0], ql.maxsim(q, batch)[ids[0]])


def test_code_queries_against_toy_tokens(toys):
    floats = _ragged()
    q = _ragged(seed=3, n_docs=1).tokens
    for precision in ("toy4o", "toy4p"):  # decoded families: the values the query codes stand for
        codec = _toy_codec(precision, floats.tokens)
        batch = floats.quantize(codec)
        got = ql.maxsim(codec.encode(q), batch)
        want = _maxsim_reference(codec.decode(codec.encode(q), dim=24), codec.decode(batch.tokens, dim=24),
                                 batch.offsets)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # affine codes against affine codes: the exact integer dot of the codes, as for int8/uint8
    codec = _toy_codec("toy4", floats.tokens)
    batch = floats.quantize(codec)
    got = ql.maxsim(codec.encode(q), batch)
    assert got.dtype == np.float64
    assert np.array_equal(got, _maxsim_reference(codec.encode(q), batch.tokens, batch.offsets))


def test_truncating_toy_token_batches(toys):
    floats = _ragged()
    codec = _toy_codec("toy4", floats.tokens)
    batch = floats.quantize(codec)
    short = batch.truncate(8)
    assert np.array_equal(short.tokens, batch.tokens[:, :8]) and short.dim == 8
    assert short.codec == codec.truncate(8)
    q = _ragged(seed=4, n_docs=1).tokens[:, :8]
    np.testing.assert_allclose(ql.maxsim(q, short),
                               _maxsim_reference(q, codec.truncate(8).decode(short.tokens), short.offsets),
                               rtol=1e-5, atol=1e-5)
    packed = floats.quantize("toy4p")
    with pytest.raises(ql.UnsupportedError, match="cannot be truncated"):
        packed.truncate(8)


def test_what_toy_token_batches_cannot_do_is_refused(toys):
    floats = _ragged()
    codec = _toy_codec("toy4", floats.tokens)
    batch = floats.quantize(codec)
    q = _ragged(seed=5, n_docs=1).tokens
    # toy4 codes without their codec are stored, but never read as something else
    bare = ql.MultiVectorBatch(batch.tokens, batch.offsets, precision="toy4")
    assert bare.codec is None
    with pytest.raises(ql.ConfigError, match="documents: the toy4 tokens have no codec"):
        ql.maxsim(q, bare)
    with pytest.raises(ql.ConfigError, match="documents: the toy4 tokens have no codec"):
        ql.maxsim_search(q, bare, 3)
    with pytest.raises(ql.ConfigError, match="codec: this toy4 batch has no codec"):
        bare.dequantize()
    with pytest.raises(ql.ConfigError, match="quantize_query: the toy4 documents have no codec"):
        ql.maxsim_search(q, bare, 3, quantize_query=True)
    with pytest.raises(ql.ConfigError, match="rescore: the toy4 codes have no codec"):
        ql.maxsim_search(q, floats.quantize("ubinary"), 3, rescore=bare)
    with pytest.raises(ql.ConfigError, match="documents: toy4 tokens without a codec cannot be encoded"):
        ql.MuveraEncoder(24, seed=0).encode_documents(bare)
    # codes convert to other codes only where convert_codes knows how
    with pytest.raises(ql.UnsupportedError, match="convert_codes converts between"):
        batch.quantize("ubinary")
    with pytest.raises(ql.ConfigError, match="only int8, uint8, .*toy4 and toy4o targets without a codec use them, "
                                             "got target 'toy4p'"):
        floats.quantize("toy4p", ranges=[[-1] * 24, [1] * 24])
    # widths and dimensions are the codec's
    with pytest.raises(ql.ShapeError, match="tokens: toy4p tokens of dimension 24 take 12 bytes per row, got 5"):
        ql.MultiVectorBatch(np.zeros((2, 5), np.uint8), [0, 2], precision="toy4p", dim=24)
    with pytest.raises(ql.ShapeError, match="tokens: the codec is for dimension 24, got dimension 8"):
        ql.MultiVectorBatch(batch.tokens[:, :8], batch.offsets, codec=codec)
    with pytest.raises(ql.ShapeError, match="query: expected token vectors of dimension 24"):
        ql.maxsim(q[:, :8], batch)
    with pytest.raises(ql.DTypeError, match="query: toy4 codes must have dtype uint8, got dtype int8"):
        ql.maxsim(np.zeros((1, 24), np.int8), batch)


@pytest.mark.parametrize("precision", ["toy4", "toy4o", "toy4p"])
def test_command_line_quantizes_dequantizes_and_searches_them(toys, tmp_path, capsys, precision):
    from quantlib.cli import main

    x = _data()
    np.save(tmp_path / "x.npy", x)
    codes = tmp_path / "c.npz"
    assert main(["quantize", str(tmp_path / "x.npy"), "-p", precision, "-o", str(codes)]) == 0
    assert f"-> {precision}" in capsys.readouterr().out
    with np.load(codes) as f:
        stored = f["codes"]
    codec = ql.codec_from_config(json.loads(str(np.load(codes)["config"])))
    assert codec.precision == precision
    assert main(["dequantize", str(codes), "-o", str(tmp_path / "y.npy")]) == 0
    assert np.array_equal(np.load(tmp_path / "y.npy"), codec.decode(stored, dim=24))
    np.save(tmp_path / "q.npy", x[:3])
    assert main(["search", str(codes), str(tmp_path / "q.npy"), "-k", "4", "-o", str(tmp_path / "r.npz")]) == 0
    with np.load(tmp_path / "r.npz") as r:
        want = ql.search(x[:3], stored, 4, codec=codec, dim=24)
        assert np.array_equal(r["indices"], want[1])


def test_eval_rows_for_a_plug_in_codec(toys, tmp_path, capsys):
    from quantlib.cli import main

    x = _data(400, 24)
    np.savez(tmp_path / "e.npz", documents=x[40:], queries=x[:40] + 0.01)
    assert main(["eval", str(tmp_path / "e.npz"), "-p", "toy4", "-p", "toy4p", "--json", "-k", "5"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert {r["precision"] for r in rows} == {"toy4", "toy4p"}
    toy4 = next(r for r in rows if r["precision"] == "toy4")
    assert toy4["bytes_per_vector"] == 24 and 0.3 < toy4["recall"] <= 1.0
    assert toy4["recall_rescored"] >= toy4["recall"]
    assert main(["eval", str(tmp_path / "e.npz"), "-p", "toy9"]) != 0
    assert "toy9" in capsys.readouterr().err


@pytest.mark.parametrize("precision", ["toy4", "toy4o", "toy4p"])
def test_many_queries_take_the_batched_paths_too(toys, precision):
    x = _data()
    q = _data(20, seed=5)  # BLAS blocks for decoded rows, the int16 stage for affine ones
    ranges = Toy4.fit(x).ranges
    codec = {"toy4": Toy4("toy4", ranges), "toy4o": Toy4Own("toy4o", ranges), "toy4p": Toy4Packed("toy4p")}[precision]
    codes = codec.encode(x)
    want = q @ codec.decode(codes, dim=24).T
    scores, ids = ql.search(q, codes, 10, metric="dot", codec=codec, dim=24)
    np.testing.assert_allclose(scores, np.take_along_axis(want, ids, 1), rtol=1e-5, atol=1e-5)
    assert (np.take_along_axis(want, ids, 1)[:, -1] >= np.sort(want, axis=1)[:, -10] - 1e-5).all()
