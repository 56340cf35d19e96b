"""Rotated low-bit codes: the rotation, the codes, their bit order, the scores, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import quantlib as ql
from quantlib import ConfigError, DTypeError, NonFiniteError, ShapeError, UnsupportedError
from quantlib._kernels import lowbit as K
from quantlib.codecs.rotated import RotatedCodec, _splitmix64, padded_dim, rotation_plan
from quantlib.sample import load_sample

PRECISIONS = ("rotated4", "rotated2", "rotated1")
BITS = {"rotated4": 4, "rotated2": 2, "rotated1": 1}


def reference_rotate(x: np.ndarray, codec: RotatedCodec) -> np.ndarray:
    """numpy twin of the rotation: the same float32 operations, in the same order, per component."""
    D = codec.padded_dim
    v = np.zeros((x.shape[0], D), np.float32)
    v[:, : x.shape[1]] = x.astype(np.float32)
    B = codec._block
    for signs, perm in zip(codec._signs, codec._perms, strict=True):
        v = v * signs
        blocks = v.reshape(len(v), D // B, B)
        h = 1
        while h < B:
            pairs = blocks.reshape(len(v), D // B, B // (2 * h), 2, h)
            a = pairs[:, :, :, 0, :].copy()
            b = pairs[:, :, :, 1, :].copy()
            pairs[:, :, :, 0, :] = a + b
            pairs[:, :, :, 1, :] = a - b
            h *= 2
        v = blocks.reshape(len(v), D) * codec._scale
        v = v[:, perm]
    return v


def grid_vectors(codes: np.ndarray, codec: RotatedCodec) -> np.ndarray:
    """The half-integer grid vectors ``w`` of packed rows, unpacked in numpy from the documented bit order."""
    packed = codes[:, : codec.code_size() - 4]
    bits, D = codec.bits, codec.padded_dim
    if bits == 1:
        return np.unpackbits(packed, axis=1).astype(np.float64) - 0.5
    per, mask = 8 // bits, (1 << bits) - 1
    nb = D // per
    w = np.concatenate([(packed >> (m * bits)) & mask for m in range(per)], axis=1).astype(np.float64)
    assert w.shape == (len(codes), D) and nb == packed.shape[1]
    return w - mask / 2


def test_rotation_is_orthogonal_and_spreads():
    codec = RotatedCodec("rotated4", np.zeros(384, np.float32))
    R = codec.rotate(np.eye(384, dtype=np.float32))  # row j is R e_j
    assert np.abs(R @ R.T - np.eye(384)).max() < 1e-6
    # every basis vector is spread over all components (no component left out of the mixing)
    assert np.count_nonzero(np.abs(R) > 1e-4) > 0.99 * R.size


@settings(max_examples=25, deadline=None)
@given(d=st.sampled_from([1, 7, 63, 64, 65, 96, 300, 384, 768]), seed=st.integers(0, 2**64 - 1),
       n=st.integers(1, 5), data=st.data())
def test_rotation_equals_numpy_twin_bit_for_bit(d, seed, n, data):
    codec = RotatedCodec("rotated2", np.zeros(d, np.float32), seed=seed)
    x = np.asarray(data.draw(st.lists(st.lists(st.floats(-10, 10, width=32), min_size=d, max_size=d),
                                      min_size=n, max_size=n)), np.float32)
    assert codec.rotate(x).tobytes() == reference_rotate(x, codec).tobytes()


def test_rotation_plan_is_fixed_by_the_seed():
    s1, p1 = rotation_plan(128, 7)
    s2, p2 = rotation_plan(128, 7)
    s3, _ = rotation_plan(128, 8)
    assert np.array_equal(s1, s2) and np.array_equal(p1, p2) and not np.array_equal(s1, s3)
    assert all(sorted(p) == list(range(128)) for p in p1)
    # golden: the published SplitMix64 sequence of seed 0 ...
    state, z1 = _splitmix64(0)
    assert (z1, _splitmix64(state)[1]) == (0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4)
    # ... drawn in the documented order (signs from the top bit, then a Fisher-Yates shuffle): a change shows here
    signs, perms = rotation_plan(64, 0)
    assert signs[0, :8].tolist() == [1.0, -1.0, -1.0, 1.0, -1.0, -1.0, -1.0, 1.0]
    assert perms[0, :8].tolist() == [56, 9, 34, 22, 63, 31, 62, 45]


@pytest.mark.parametrize("precision", PRECISIONS)
def test_codes_follow_the_documented_layout_and_factor(precision):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((50, 200)).astype(np.float32)
    codec = RotatedCodec.fit(x, precision)
    rows = codec.encode(x)
    D = padded_dim(200)
    assert D == 256 and rows.shape == (50, D * BITS[precision] // 8 + 4) and rows.dtype == np.uint8
    r = reference_rotate(x - codec.mean, codec).astype(np.float64)
    w = grid_vectors(rows, codec)
    L = (1 << BITS[precision]) - 1
    assert np.all(np.abs(w) <= L / 2) and np.all(np.sign(w) == np.where(r >= 0, 1, -1))
    factors = rows[:, -4:].copy().view("<f4").reshape(-1)
    want = ((r * r).sum(1) / (r * w).sum(1)).astype(np.float32)
    np.testing.assert_allclose(factors, want, rtol=1e-6)
    # the decoded vector is the centre plus the factor times the grid vector, rotated back (and cut to d:
    # (R^T y)_j = (R e_j) . y)
    back = codec.decode(rows).astype(np.float64)
    Re = reference_rotate(np.eye(200, dtype=np.float32), codec).astype(np.float64)
    np.testing.assert_allclose(back - codec.mean, (factors[:, None] * w) @ Re.T, atol=2e-5)


def test_bit_order_by_hand():
    # 4 bits, D = 64: byte t holds component t in its low nibble and component t + 32 in its high nibble
    w = np.full(64, -7.5)
    w[0], w[32], w[5] = 7.5, -6.5, 0.5          # codes 15, 1, 8
    out = np.empty(32, np.uint8)
    K._pack_one(w, 4, 7.5, out)
    assert out[0] == 0x1F and out[5] == 0x08 and out[1] == 0x00
    back = np.empty(64)
    K._unpack_one(out, 4, 64, back)
    assert np.array_equal(back, w)
    # 2 bits, D = 64 (16 bytes): byte t holds components t, t+16, t+32, t+48 from the low bits
    w2 = np.full(64, -1.5)
    w2[3], w2[19], w2[35], w2[51] = 1.5, 0.5, -0.5, -1.5   # codes 3, 2, 1, 0
    out2 = np.empty(16, np.uint8)
    K._pack_one(w2, 2, 1.5, out2)
    assert out2[3] == 0b00_01_10_11


@settings(max_examples=30, deadline=None)
@given(bits=st.sampled_from([1, 2, 4]), blocks=st.integers(1, 5), data=st.data())
def test_pack_unpack_round_trip(bits, blocks, data):
    D = 64 * blocks
    L = (1 << bits) - 1
    u = np.asarray(data.draw(st.lists(st.integers(0, L), min_size=D, max_size=D)), np.float64)
    w = u - L / 2
    out = np.empty(D * bits // 8, np.uint8)
    K._pack_one(w, bits, L / 2, out)
    back = np.empty(D)
    K._unpack_one(out, bits, D, back)
    assert np.array_equal(back, w)


def reference_scores(q: np.ndarray, rows: np.ndarray, codec: RotatedCodec) -> np.ndarray:
    """numpy twin of the scores: the rotated query rounded to int16 steps of a power of two, an exact integer
    dot with the codes, then ``base + f * ((s / 2) * (2 V . u - L sum V))`` in float64, rounded once to float32."""
    L, D = (1 << codec.bits) - 1, codec.padded_dim
    QR = reference_rotate(q, codec).astype(np.float64)
    vmax = min(32767, (2**31 - 1) // (L * D))
    s = np.ldexp(1.0, np.frexp(np.abs(QR).max(1) / vmax)[1])
    V = np.rint(QR / s[:, None]).astype(np.int64)
    assert np.abs(V).max(initial=0) <= vmax
    u = (grid_vectors(rows, codec) + L / 2).astype(np.int64)
    T = 2 * (V @ u.T) - L * V.sum(1)[:, None]
    base = (q.astype(np.float64) @ codec.mean.astype(np.float64)).astype(np.float32).astype(np.float64)
    f = rows[:, -4:].copy().view("<f4").reshape(-1).astype(np.float64)
    return (base[:, None] + f[None, :] * ((0.5 * s)[:, None] * T.astype(np.float64))).astype(np.float32)


@pytest.mark.parametrize("d", [40, 130, 300, 4400])   # D = 64, 192, 320: at 1 bit 8, 24, 40 bytes (steps of 16
# and tails); D = 4416: int16 steps shrink so that int32 sums of 4-bit codes stay exact
@pytest.mark.parametrize("precision", PRECISIONS)
def test_scores_equal_the_numpy_twin_bit_for_bit(precision, d):
    rng = np.random.default_rng(14)
    x = rng.standard_normal((301, d)).astype(np.float32)     # an odd row count: the last tile repeats a row
    q = rng.standard_normal((9, d)).astype(np.float32) * 3    # tiles of 4 queries and single ones
    codec = RotatedCodec.fit(x, precision, seed=5)
    rows = codec.encode(x)
    want = reference_scores(q, rows, codec)
    for nq in (1, 3, 4, 9):   # the same bits whatever the batch
        assert codec.scores(q[:nq], rows).tobytes() == want[:nq].tobytes()
    # serial and row-parallel, and into a strided block of a larger array
    P = codec.prepare_queries(q)
    out = np.zeros((9, 2 * len(rows)), np.float32)
    K.int_scores_parallel(P.W, rows, codec.bits, codec._factors(rows), P.base, P.scl, P.corr, out[:, ::2])
    assert out[:, ::2].tobytes() == want.tobytes()
    zero = codec.scores(np.zeros((1, d), np.float32), rows)
    assert np.array_equal(zero, np.zeros_like(zero))


def test_query_rounding_bound():
    """``|R q - s V| <= s / 2`` with ``s <= 2 max|R q| / vmax``; int32 sums cannot overflow at any dimension."""
    rng = np.random.default_rng(15)
    for bits, D in ((4, 128), (2, 1024), (1, 64), (4, 8192)):
        QR = (rng.standard_normal((6, D)) * rng.choice([1e-30, 1e-3, 1.0, 1e30], (6, 1))).astype(np.float32)
        QR[0] = 0
        V, s, corr = K.int_query(QR, bits)
        L = (1 << bits) - 1
        vmax = min(32767, (2**31 - 1) // (L * D))
        if bits == 1:   # undo the reordering: bit m of byte p is component 8p + 7 - m
            V = V.reshape(6, 8, D // 8).transpose(0, 2, 1)[:, :, ::-1].reshape(6, D)
        amax = np.abs(QR).max(1).astype(np.float64)
        assert np.all(np.abs(QR - s[:, None] * V) <= s[:, None] / 2)
        assert np.all(np.abs(V).max(1) <= vmax) and np.all(s[1:] <= 2 * amax[1:] / vmax)
        assert np.array_equal(corr, L * V.astype(np.int64).sum(1))


@pytest.mark.parametrize("nq", [1, 7, 8, 20])  # tiles of 4 queries and single ones
@pytest.mark.parametrize("precision", PRECISIONS)
def test_scores_equal_the_dot_with_decoded_vectors(precision, nq):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2500, 130)).astype(np.float32)   # more rows than one BLAS block
    q = rng.standard_normal((nq, 130)).astype(np.float32)
    codec = RotatedCodec.fit(x, precision, seed=11)
    rows = codec.encode(x)
    got = codec.scores(q, rows)
    want = q.astype(np.float64) @ codec.decode(rows).astype(np.float64).T
    np.testing.assert_allclose(got, want, atol=2e-4 * np.abs(want).max())


@pytest.mark.parametrize(("precision", "bound"), [("rotated4", 0.16), ("rotated2", 0.45), ("rotated1", 0.90)])
def test_reconstruction_error_bound(precision, bound):
    """The relative error of the residual, ||x^ - x|| / ||x - c||, on Gaussian data (stated in docs)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((400, 256)).astype(np.float32)
    codec = RotatedCodec.fit(x, precision)
    err = np.linalg.norm(codec.decode(codec.encode(x)) - x, axis=1) / np.linalg.norm(x - codec.mean, axis=1)
    assert err.max() < bound


def test_encoding_is_the_same_serial_and_parallel():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((700, 64)).astype(np.float32)
    codec = RotatedCodec.fit(x, "rotated4")
    args = (codec._mean, codec._signs, codec._perms, codec._block, codec._scale, 4)
    a = (np.empty((700, 32), np.uint8), np.empty(700, np.float32))
    b = (np.empty((700, 32), np.uint8), np.empty(700, np.float32))
    K.encode(x, *args, *a)
    K.encode_parallel(x, *args, *b)
    assert a[0].tobytes() == b[0].tobytes() and a[1].tobytes() == b[1].tobytes()


def _recall(found, truth, k=10):
    return float(np.mean([len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found, truth, strict=True)]))


@pytest.mark.parametrize(("precision", "raw", "rescored"),
                         [("rotated4", 0.94, 1.0), ("rotated2", 0.83, 0.998), ("rotated1", 0.67, 0.95)])
def test_recall_on_the_bundled_sample(precision, raw, rescored):
    """Recall@10 against exact float32 (seed 0; docs/formats.md gives the spread over seeds)."""
    s = load_sample()
    X, Q = s.documents, s.queries
    exact = Q @ X.T
    truth = np.argsort(-exact, axis=1, kind="stable")[:, :10]
    codec = RotatedCodec.fit(X, precision)
    est = codec.scores(Q, codec.encode(X))
    order = np.argsort(-est, axis=1, kind="stable")
    assert _recall(order[:, :10], truth) >= raw
    cand = order[:, :40]
    reranked = np.take_along_axis(cand, np.argsort(-np.take_along_axis(exact, cand, 1), 1, kind="stable"), 1)
    assert _recall(reranked, truth) >= rescored


def test_config_round_trip_through_json():
    x = np.random.default_rng(5).standard_normal((100, 48)).astype(np.float32)
    codec = RotatedCodec.fit(x, "rotated2", seed=2**63 + 5)
    again = RotatedCodec.from_config(json.loads(json.dumps(codec.get_config())))
    assert again == codec
    assert again.encode(x).tobytes() == codec.encode(x).tobytes()


def test_bad_input():
    x = np.random.default_rng(6).standard_normal((20, 16)).astype(np.float32)
    codec = RotatedCodec.fit(x, "rotated4")
    with pytest.raises(ConfigError, match="precision"):
        RotatedCodec("rotated3", np.zeros(4, np.float32))
    with pytest.raises(ConfigError, match="seed"):
        RotatedCodec("rotated4", np.zeros(4, np.float32), seed=-1)
    with pytest.raises(ConfigError, match="'seed'"):
        RotatedCodec.from_config({"id": "rotated4", "mean": [0.0]})
    with pytest.raises(NonFiniteError, match="calibration"):
        RotatedCodec.fit(np.array([[0.0, np.nan]], np.float32), "rotated2")
    with pytest.raises(NonFiniteError, match="mean"):
        RotatedCodec("rotated2", [0.0, np.inf])
    bad = x.copy()
    bad[3, 2] = np.inf
    with pytest.raises(NonFiniteError, match="embeddings"):
        codec.encode(bad)
    with pytest.raises(ShapeError, match="dimension 16, got 15"):
        codec.encode(x[:, :15])
    with pytest.raises(DTypeError, match="embeddings"):
        codec.encode(x.astype(np.int32))
    rows = codec.encode(x)
    with pytest.raises(ShapeError, match="codes: rotated4 rows of dimension 16 have 36 bytes, got 35"):
        codec.decode(rows[:, :35])
    with pytest.raises(DTypeError, match="uint8"):
        codec.decode(rows.view(np.int8))
    with pytest.raises(ShapeError, match="queries"):
        codec.scores(x[:, :8], rows)


# -- the registered codec through quantlib (issue 23's plug-in point) ---------------------------------------


@pytest.fixture(scope="module")
def sample():
    s = load_sample()
    truth = np.argsort(-(s.queries @ s.documents.T), axis=1, kind="stable")[:, :10]
    return s.documents, s.queries, truth


def test_registered_precisions():
    for precision, bits in BITS.items():
        info = ql.precision_info(precision)
        assert (info.family, info.calibrated, info.bits, info.lossless) == ("own", True, bits, False)
        assert ql.codecs.codec_class(precision) is RotatedCodec
    assert {"rotated4", "rotated2", "rotated1"} <= {p.name for p in ql.PRECISIONS}


@pytest.mark.parametrize("precision", PRECISIONS)
def test_quantize_dequantize_get_codec(precision):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((300, 100)).astype(np.float32)
    codec = RotatedCodec.fit(x, precision)
    codes = ql.quantize(x, precision, calibration_embeddings=x)   # fits the mean through RotatedCodec.fit
    assert codes.tobytes() == codec.encode(x).tobytes()
    assert ql.quantize(x, codec).tobytes() == codes.tobytes()
    assert ql.dequantize(codes, codec).tobytes() == codec.decode(codes).tobytes()
    assert ql.dequantize(codes, codec, dim=100).shape == (300, 100)
    assert ql.get_codec(precision, mean=codec.mean) == codec
    assert ql.get_codec(precision, mean=codec.mean, seed=3) != codec
    assert codec.width(100) == codec.code_size(100) == codes.shape[1] == 128 * BITS[precision] // 8 + 4
    with pytest.raises(ShapeError, match="dim"):
        codec.decode(codes, dim=99)
    with pytest.raises(ql.ConfigError, match="mean"):
        ql.get_codec(precision)


def test_config_is_versioned_checksummed_and_old_configs_still_read():
    x = np.random.default_rng(5).standard_normal((100, 48)).astype(np.float32)
    codec = RotatedCodec.fit(x, "rotated4", seed=9)
    config = json.loads(json.dumps(codec.get_config()))
    assert config["version"] == 3 and "checksum" in config
    assert ql.codec_from_config(config) == codec
    tampered = {**config, "seed": 10}
    with pytest.raises(ConfigError, match="checksum"):
        ql.codec_from_config(tampered)
    # the layout the unregistered codec wrote (no version, no checksum) still reads as version 1
    old = {"id": "rotated4", "seed": 9, "mean": [float(v) for v in codec.mean]}
    assert ql.codec_from_config(old) == codec
    for bad, match in (({k: v for k, v in old.items() if k != "mean"}, "'mean'"),
                       ({**old, "mean": ["a"]}, r"config\['mean'\]"),
                       ({**old, "mean": [1.0, float("nan")]}, "mean"),
                       ({**old, "seed": "9"}, "seed")):
        with pytest.raises(ValueError, match=match):
            ql.codec_from_config(bad)


@pytest.mark.parametrize("metric", ["dot", "cosine"])
@pytest.mark.parametrize("precision", PRECISIONS)
def test_pairwise_and_search_score_the_decoded_values(precision, metric):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3000, 70)).astype(np.float32)
    q = rng.standard_normal((5, 70)).astype(np.float32)
    codec = RotatedCodec.fit(x, precision, seed=4)
    codes = codec.encode(x)
    values = codec.decode(codes).astype(np.float64)
    want = q.astype(np.float64) @ values.T
    if metric == "cosine":
        want /= np.linalg.norm(q, axis=1)[:, None] * np.linalg.norm(values, axis=1)[None, :]
    got = ql.pairwise(q, codes, metric, codec=codec)
    np.testing.assert_allclose(got, want, atol=2e-4 * np.abs(want).max())
    scores, ids = ql.search(q, codes, k=7, metric=metric, codec=codec)
    np.testing.assert_allclose(scores, np.take_along_axis(got, ids, 1), rtol=1e-6, atol=1e-6)
    assert np.all(np.take_along_axis(want, ids, 1)[:, -1:] >= np.sort(want, 1)[:, -7:-6] - 1e-3)
    # code queries are scored as the values they stand for
    by_codes = ql.pairwise(codes[:3], codes, metric, codec=codec)
    np.testing.assert_allclose(by_codes, ql.pairwise(values[:3].astype(np.float32), codes, metric, codec=codec),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("precision", "raw", "rescored"),
                         [("rotated4", 0.94, 1.0), ("rotated2", 0.83, 0.998), ("rotated1", 0.67, 0.95)])
def test_search_recall_on_the_bundled_sample(sample, precision, raw, rescored):
    """quantlib.search over the codes, and with rescore= (float32, 4x candidates), against exact float32."""
    X, Q, truth = sample
    codes = ql.quantize(X, precision, calibration_embeddings=X)
    codec = RotatedCodec.fit(X, precision)
    _, ids = ql.search(Q, codes, k=10, metric="dot", codec=codec)
    assert _recall(ids, truth) >= raw
    _, ids = ql.search(Q, codes, k=10, metric="dot", codec=codec, rescore=X, oversample=4)
    assert _recall(ids, truth) >= rescored
    _, ids = ql.search(Q[:1], codes, k=10, metric="cosine", codec=codec)   # one query: the byte scan
    assert _recall(ids, truth[:1]) >= 0.5


@pytest.mark.parametrize("precision", PRECISIONS)
def test_flat_index(tmp_path, precision):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((500, 40)).astype(np.float32)
    codec = RotatedCodec.fit(x, precision, seed=1)
    index = ql.FlatIndex(codec, 40, metric="cosine", rescore="float32")
    index.add(x, ids=np.arange(1000, 1500))
    scores, ids = index.search(x[:4], k=3)
    assert ids[:, 0].tolist() == [1000, 1001, 1002, 1003]
    index.save(tmp_path / "idx")
    loaded = ql.FlatIndex.load(tmp_path / "idx")
    assert loaded.codec == codec
    again = loaded.search(x[:4], k=3)
    assert np.array_equal(again[1], ids) and np.array_equal(again[0], scores)
    plain = ql.FlatIndex(codec, 40, metric="dot")
    plain.add(x)
    _, ids = plain.search(x[:4], k=3)
    np.testing.assert_array_equal(ids[:, :1], ql.search(x[:4], codec.encode(x), k=1, metric="dot", codec=codec)[1])
    with pytest.raises(ShapeError):
        ql.FlatIndex(codec, 41)


def test_refusals_through_quantlib():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((50, 32)).astype(np.float32)
    codec = RotatedCodec.fit(x, "rotated2")
    codes = codec.encode(x)
    with pytest.raises(UnsupportedError, match="mixes every dimension"):
        ql.truncate(codes, 16, precision=codec)
    with pytest.raises(ConfigError, match="hamming"):
        ql.search(x[:2], codes, metric="hamming", codec=codec)
    with pytest.raises(ShapeError, match="corpus: rotated2 rows of dimension 32 have 20 items, got rows of 19"):
        ql.search(x[:2], codes[:, :19], codec=codec)
    with pytest.raises(ShapeError, match="dimension"):
        ql.search(x[:2, :31], codes, codec=codec)
    with pytest.raises(ConfigError, match="codec"):
        ql.search(x[:2], codes, precision="rotated2")    # codes without the codec that made them
    bad = x[:2].copy()
    bad[0, 0] = np.nan
    with pytest.raises(NonFiniteError, match="queries"):
        ql.search(bad, codes, codec=codec)
    with pytest.raises(NonFiniteError, match="calibration"):
        ql.quantize(x, "rotated4", calibration_embeddings=np.full((2, 32), np.inf, np.float32))
    with pytest.raises(ConfigError, match="rounding"):
        ql.quantize(x, "rotated4", rounding="floor")
    with pytest.raises(ConfigError, match="ranges"):
        ql.quantize(x, "rotated4", ranges=np.stack([x.min(0), x.max(0)]))


def test_cli_quantize_dequantize_search_and_eval(tmp_path, capsys):
    from quantlib.cli import main

    rng = np.random.default_rng(12)
    x = rng.standard_normal((300, 40)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "cal.npy", x[:100])
    assert main(["quantize", str(tmp_path / "x.npy"), "-p", "rotated2", "--calibration", str(tmp_path / "cal.npy"),
                 "-o", str(tmp_path / "c.npz")]) == 0
    assert "rotated2 (20 bytes per vector" in capsys.readouterr().out
    codec = RotatedCodec.fit(x[:100], "rotated2")
    with np.load(tmp_path / "c.npz") as f:
        assert f["codes"].tobytes() == codec.encode(x).tobytes()
    assert main(["dequantize", str(tmp_path / "c.npz"), "-o", str(tmp_path / "y.npy")]) == 0
    assert np.load(tmp_path / "y.npy").tobytes() == codec.decode(codec.encode(x)).tobytes()
    capsys.readouterr()
    assert main(["search", str(tmp_path / "c.npz"), str(tmp_path / "x.npy"), "-k", "2",
                 "--rescore", str(tmp_path / "x.npy"), "-o", str(tmp_path / "s.npz")]) == 0
    with np.load(tmp_path / "s.npz") as f:
        assert f["indices"][:, 0].tolist() == list(range(300))
    assert main(["quantize", str(tmp_path / "x.npy"), "-p", "rotated4", "--rounding", "floor",
                 "-o", str(tmp_path / "d.npz")]) == 2
    assert "--rounding: rotated4 takes no rounding" in capsys.readouterr().err
    # eval has a row per rotated codec, its bytes counting the 4 bytes of the factor
    assert main(["eval", str(tmp_path / "x.npy"), "-k", "5", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    own = {r["precision"]: r for r in rows if r["scoring"] == "float vs codes"}
    assert {p: r["bytes_per_vector"] for p, r in own.items()} == {"rotated4": 36, "rotated2": 20, "rotated1": 12}
    assert all(r["recall_rescored"] is not None and not r["plain_store"] for r in own.values())


@pytest.mark.parametrize(("precision", "bound"), [("rotated4", 0.99), ("rotated2", 0.99), ("rotated1", 0.95)])
def test_int8_rescore_needs_no_float32(sample, precision, bound):
    """A rotated first stage re-ranked by calibrated int8 codes: int8's ranking, no float32 stored."""
    X, Q, truth = sample
    int8 = ql.ScalarCodec.fit(X, "int8")
    codec = RotatedCodec.fit(X, precision)
    _, ids = ql.search(Q, codec.encode(X), k=10, metric="dot", codec=codec, rescore=(int8.encode(X), int8))
    assert _recall(ids, truth) >= bound


@pytest.mark.parametrize("nq", [1, 10])  # single queries and tiles of 4, each into strided blocks of out
def test_scores_over_many_blocks(monkeypatch, nq):
    from quantlib._kernels import _config as C

    monkeypatch.setattr(C, "BLAS_BLOCK_SCORES", 1024)  # blocks of 1,024 rows: 3 blocks and a short last one
    rng = np.random.default_rng(13)
    x = rng.standard_normal((3000, 70)).astype(np.float32)
    q = rng.standard_normal((nq, 70)).astype(np.float32)
    codec = RotatedCodec.fit(x, "rotated4")
    codes = codec.encode(x)
    want = q.astype(np.float64) @ codec.decode(codes).astype(np.float64).T
    got = ql.pairwise(q, codes, "dot", codec=codec)
    np.testing.assert_allclose(got, want, atol=2e-4 * np.abs(want).max())
    scores, ids = ql.search(q, codes, k=5, metric="dot", codec=codec)
    np.testing.assert_allclose(scores, np.take_along_axis(got, ids, 1), rtol=1e-6, atol=1e-6)
    assert np.array_equal(np.sort(ids, 1), np.sort(np.argsort(-got, 1, kind="stable")[:, :5], 1))
