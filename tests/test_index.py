"""quantlib.FlatIndex: add, search (with ids and rescoring), save/load with memory mapping, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

import quantlib as ql
from quantlib import _checksum
from quantlib import _reference as R
from quantlib import index as index_module

D = 48


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((600, D)).astype(np.float32)
    q = x[rng.integers(0, 600, 12)] + 0.1 * rng.standard_normal((12, D)).astype(np.float32)
    return x, q


FORMATS = ["float32", "float16", "int8-codec", "uint8-raw", "ubinary", "binary"]


def _index(fmt: str, x: np.ndarray, metric: str = "cosine", rescore=None) -> tuple[ql.FlatIndex, dict]:
    """An index of ``fmt`` holding ``x`` and the search() arguments that mean the same thing."""
    if fmt == "int8-codec":
        codec = ql.ScalarCodec.fit(x, "int8")
        index = ql.FlatIndex(codec, D, metric=metric, rescore=rescore)
        index.add(x)
        return index, {"codec": codec}
    if fmt == "uint8-raw":
        codes = ql.ScalarCodec.fit(x, "uint8").encode(x)
        index = ql.FlatIndex("uint8", D, metric=metric)
        index.add(codes)
        return index, {"precision": "uint8"}
    index = ql.FlatIndex(fmt, D, metric=metric, rescore=rescore)
    index.add(x)
    return index, {"precision": fmt}


@pytest.mark.parametrize("fmt", FORMATS)
def test_index_search_equals_search_on_its_codes(fmt, data):
    x, q = data
    index, kwargs = _index(fmt, x)
    want = ql.search(q, index.codes, 5, metric="cosine", **kwargs)
    got = index.search(q, 5)
    assert np.array_equal(got[0], want[0])
    assert np.array_equal(got[1], want[1])  # default ids are the row numbers


def test_ids_are_returned_and_batches_append(data):
    x, q = data
    index = ql.FlatIndex("ubinary", D, metric="hamming")
    index.add(x[:200], ids=np.arange(200) * 10)
    index.add(x[200:])  # continues after the largest id
    assert len(index) == 600
    assert index.ids[200] == 1991 and index.ids[-1] == 2390
    _, rows = ql.search(q, ql.quantize(x, "ubinary"), 4, metric="hamming")
    _, ids = index.search(q, 4)
    assert np.array_equal(ids, index.ids[rows])


def test_rescoring_rows_are_kept_and_used(data):
    x, q = data
    index, _ = _index("ubinary", x, rescore="float32")
    scores, ids = index.search(q, 5, oversample=8)
    want = ql.search(q, ql.quantize(x, "ubinary"), 5, metric="cosine", precision="ubinary", rescore=x,
                     oversample=8)
    assert np.array_equal(ids, want[1])
    assert np.array_equal(scores, want[0])
    plain = index.search(q, 5, rescore=False)
    assert np.array_equal(plain[1], ql.search(q, ql.quantize(x, "ubinary"), 5, precision="ubinary")[1])
    # exact float search is recovered with enough oversampling
    truth = R.search_top_k(R.pairwise_scores(q, x, "cosine", "float32"), 5)[1]
    assert np.array_equal(index.search(q, 5, oversample=120)[1], truth)


def test_rescoring_with_calibrated_codes(data):
    x, q = data
    codec = ql.ScalarCodec.fit(x, "int8")
    index = ql.FlatIndex("binary", D, metric="dot", rescore=codec)
    codes_bits, codes_int8 = ql.quantize(x, "binary"), codec.encode(x)
    index.add(codes_bits, rescore=codes_int8)
    want = ql.search(q, codes_bits, 5, metric="dot", precision="binary", rescore=(codes_int8, codec))
    got = index.search(q, 5)
    assert np.array_equal(got[1], want[1]) and np.array_equal(got[0], want[0])


@pytest.mark.parametrize("fmt", FORMATS)
def test_save_and_memory_mapped_load_give_identical_results(fmt, data, tmp_path):
    x, q = data
    index, _ = _index(fmt, x, rescore="float16" if fmt in ("ubinary", "int8-codec") else None)
    index.save(tmp_path / "idx")
    loaded = ql.FlatIndex.load(tmp_path / "idx")
    assert isinstance(loaded.codes, np.memmap) and not loaded.codes.flags.writeable
    assert len(loaded) == len(index) and loaded.metric == index.metric and loaded.dim == D
    a, b = index.search(q, 6), loaded.search(q, 6)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    in_memory = ql.FlatIndex.load(tmp_path / "idx", mmap=False, verify=False)
    assert not isinstance(in_memory.codes, np.memmap)
    assert np.array_equal(in_memory.search(q, 6)[1], a[1])


def test_add_after_load_and_resave(data, tmp_path):
    x, q = data
    index = ql.FlatIndex("float32", D, metric="dot")
    index.add(x[:300])
    index.save(tmp_path / "a")
    loaded = ql.FlatIndex.load(tmp_path / "a")
    loaded.add(x[300:])
    loaded.save(tmp_path / "a")  # overwrite in place, from memory maps of the same files
    again = ql.FlatIndex.load(tmp_path / "a")
    assert len(again) == 600
    assert np.array_equal(again.search(q, 3)[1], ql.search(q, x, 3, metric="dot")[1])


@pytest.mark.parametrize("fmt,rescore", [("ubinary", None), ("ubinary", "float32"), ("float32", None)])
def test_resave_unchanged_loaded_index_to_its_own_directory(fmt, rescore, data, tmp_path):
    # the loaded arrays are memory maps of the very files save() replaces: writing over them in
    # place once zeroed the codes (with matching checksums) or failed half way with no header
    x, q = data
    index = ql.FlatIndex(fmt, D, metric="cosine", rescore=rescore)
    index.add(x)
    index.save(tmp_path / "a")
    want = index.search(q, 4)
    loaded = ql.FlatIndex.load(tmp_path / "a")
    loaded.save(tmp_path / "a")
    assert np.array_equal(loaded.search(q, 4)[1], want[1])  # the open maps still read the old data
    again = ql.FlatIndex.load(tmp_path / "a")
    assert np.array_equal(again.codes, index.codes) and np.array_equal(again.ids, index.ids)
    assert np.array_equal(again.search(q, 4)[1], want[1])
    # the header and the files it names, nothing else (the old ones are removed)
    header = json.loads((tmp_path / "a" / "quantlib-index.json").read_text())
    files = sorted(e["file"] for e in header["arrays"].values())
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(["quantlib-index.json", *files])
    assert [f.split("-")[0] for f in files] == ["codes", "ids"] + (["rescore"] if rescore else [])


def test_header_is_json_with_version_and_checksums(data, tmp_path):
    x, _ = data
    index, _ = _index("int8-codec", x)
    index.save(tmp_path / "idx")
    header = json.loads((tmp_path / "idx" / "quantlib-index.json").read_text())
    assert header["format"] == "quantlib.FlatIndex" and header["version"] == 3
    assert header["checksum"].startswith("sha256:") and len(header["checksum"]) == 7 + 64
    assert header["codec"]["id"] == "int8" and len(header["codec"]["ranges"][0]) == D
    assert set(header["arrays"]) == {"codes", "ids"}
    assert all(len(e["sha256"]) == 64 for e in header["arrays"].values())
    # each save names its files anew: 16 hex digits, the same for all arrays of one save
    save = header["arrays"]["codes"]["file"][len("codes-"):-len(".npy")]
    assert len(save) == 16 and int(save, 16) >= 0 and header["arrays"]["ids"]["file"] == f"ids-{save}.npy"
    assert not list((tmp_path / "idx").glob("*.npz")) and not list((tmp_path / "idx").glob("*.pkl"))


def test_a_save_removes_what_crashed_saves_left_and_keeps_other_files(data, tmp_path):
    x, q = data
    index, _ = _index("ubinary", x, rescore="float32")
    root = tmp_path / "idx"
    index.save(root)
    header = json.loads((root / "quantlib-index.json").read_text())
    # what a save killed before its commit leaves, in this layout and in the previous one; and a file of the user's
    strays = ["codes-00000000000000aa.npy", "rescore-00000000000000aa.npy", "quantlib-index.json.00000000000000aa.tmp",
              "codes.npy.tmp", "quantlib-index.json.tmp"]
    for name in strays:
        (root / name).write_bytes(b"half")
    (root / "notes.txt").write_text("mine")
    want = index.search(q, 4)
    loaded = ql.FlatIndex.load(root)  # strays are ignored
    assert all(np.array_equal(a, b) for a, b in zip(loaded.search(q, 4), want, strict=True))
    loaded.save(root)
    named = {e["file"] for e in json.loads((root / "quantlib-index.json").read_text())["arrays"].values()}
    assert not named & {e["file"] for e in header["arrays"].values()}  # new names
    assert {p.name for p in root.iterdir()} == named | {"quantlib-index.json", "notes.txt"}
    with pytest.raises(ql.ConfigError, match="path: expected a directory to save the index in, got the file"):
        index.save(root / "notes.txt")


def test_a_save_that_fails_half_way_leaves_the_old_index_and_no_files(data, tmp_path, monkeypatch):
    x, q = data
    old, _ = _index("ubinary", x[:100], rescore="float32")
    new, _ = _index("ubinary", x, rescore="float32")
    root = tmp_path / "idx"
    old.save(root)
    before = sorted(p.name for p in root.iterdir())
    real = index_module._write_npy

    def full_disk(file, arr):
        if file.name.startswith("ids-"):
            with open(file, "xb") as f:
                f.write(b"\x93NUMPY")  # part of a file, then the disk is full
            raise OSError(28, "No space left on device")
        return real(file, arr)

    monkeypatch.setattr(index_module, "_write_npy", full_disk)
    with pytest.raises(OSError, match="No space left on device"):
        new.save(root)
    assert sorted(p.name for p in root.iterdir()) == before
    assert np.array_equal(ql.FlatIndex.load(root).ids, old.ids)
    monkeypatch.setattr(index_module, "_write_npy", real)
    new.save(root)  # and the lock was released
    assert len(ql.FlatIndex.load(root)) == 600


def test_load_starts_again_when_a_save_replaces_the_index_under_it(data, tmp_path, monkeypatch):
    # a save that commits while a load reads removes the files of the header the load read:
    # the load reads the new header and returns the new index, never a mix or a bare error
    x, q = data
    first, _ = _index("float32", x[:100])
    second, _ = _index("float32", x[100:300])
    root = tmp_path / "idx"
    first.save(root)
    real = index_module.load_npy
    calls = []

    def racing_load_npy(file, **kw):
        calls.append(file.name)
        if len(calls) == 1:
            second.save(root)  # commits and removes the file this load is about to read
        return real(file, **kw)

    monkeypatch.setattr(index_module, "load_npy", racing_load_npy)
    loaded = ql.FlatIndex.load(root, verify=False)
    assert len(loaded) == 200 and np.array_equal(loaded.codes, second.codes) and len(calls) == 3

    def always_saving(file, **kw):
        second.save(root)
        return real(file, **kw)

    monkeypatch.setattr(index_module, "load_npy", always_saving)
    with pytest.raises(ql.ConfigError, match="replaced by other saves 8 times while this load read it"):
        ql.FlatIndex.load(root, verify=False)
    monkeypatch.setattr(index_module, "load_npy", real)
    # a file that is missing while the header stays the same is damage, not a race
    header = json.loads((root / "quantlib-index.json").read_text())
    (root / header["arrays"]["ids"]["file"]).unlink()
    with pytest.raises(ql.ConfigError, match=r"path: ids-[0-9a-f]{16}\.npy is missing; the index is incomplete"):
        ql.FlatIndex.load(root)


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


def test_load_errors(data, tmp_path):
    x, _ = data
    with pytest.raises(FileNotFoundError, match="holds no quantlib-index.json"):
        ql.FlatIndex.load(tmp_path / "missing")
    index, _ = _index("ubinary", x)
    index.save(tmp_path / "idx")
    head = tmp_path / "idx" / "quantlib-index.json"
    header = json.loads(head.read_text())
    codes = tmp_path / "idx" / header["arrays"]["codes"]["file"]
    raw = bytearray(codes.read_bytes())
    raw[-1] ^= 0xFF
    codes.write_bytes(bytes(raw))
    with pytest.raises(ql.ConfigError, match=r"codes-[0-9a-f]{16}\.npy does not match its checksum"):
        ql.FlatIndex.load(tmp_path / "idx")
    head.write_text(json.dumps({**header, "version": 4}))
    with pytest.raises(ql.ConfigError, match=r"index format version 4 is not one this quantlib reads \(1, 2, 3\)"):
        ql.FlatIndex.load(tmp_path / "idx")
    head.write_text(json.dumps({**header, "dim": 65}))
    with pytest.raises(ql.ConfigError, match="quantlib-index.json: the checksum says sha256:.*the index is corrupt"):
        ql.FlatIndex.load(tmp_path / "idx")
    # version 1 headers carry no checksum of their own: the array checks behind it still hold
    for key, entry in header["arrays"].items():
        (tmp_path / "idx" / entry["file"]).rename(tmp_path / "idx" / f"{key}.npy")
    v1 = {k: v for k, v in header.items() if k != "checksum"} | {"version": 1}
    v1["arrays"] = {key: {**entry, "file": f"{key}.npy"} for key, entry in header["arrays"].items()}
    v1["arrays"]["ids"]["shape"] = [5]
    head.write_text(json.dumps(v1))
    with pytest.raises(ql.ConfigError, match="ids.npy holds array of dtype int64 and shape \\(600,\\)"):
        ql.FlatIndex.load(tmp_path / "idx", verify=False)
    # a version 3 header names its files by a fixed pattern: never a path out of the directory
    for bad in ("../codes-0123456789abcdef.npy", "codes.npy", "ids-0123456789abcdef.npy", "codes-0123.npy"):
        arrays = {**header["arrays"], "codes": {**header["arrays"]["codes"], "file": bad}}
        forged = {k: v for k, v in header.items() if k != "checksum"} | {"arrays": arrays}
        forged["checksum"] = _checksum.record_checksum(forged, "sha256")
        head.write_text(json.dumps(forged))
        with pytest.raises(ql.ConfigError, match=r"array 'codes' needs file 'codes-<16 hex digits>.npy'"):
            ql.FlatIndex.load(tmp_path / "idx")
    head.write_text("{not json")
    with pytest.raises(ql.ConfigError, match="is not valid JSON"):
        ql.FlatIndex.load(tmp_path / "idx")


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda: ql.FlatIndex("ubinary", 0), ql.ShapeError, "dim: expected a positive integer, got 0"),
    (lambda: ql.FlatIndex("float32", 8, metric="hamming"), ql.ConfigError,
     "metric: 'hamming' scores binary, ubinary codes, got 'float32'"),
    (lambda: ql.FlatIndex("ubinary", 8, rescore="ubinary"), ql.ConfigError,
     "rescore: rescoring rows must be float32, float16 or calibrated"),
    (lambda: ql.FlatIndex(ql.ScalarCodec("int8", [[0.0] * 4, [1.0] * 4]), 8), ql.ShapeError,
     r"codec: the codec's ranges are for dimension 4, got dimension 8"),
    (lambda: ql.FlatIndex(3, 8), ql.DTypeError,
     "codec: expected a Codec, its config dict or a precision name"),
    (lambda: ql.FlatIndex("float32", 8).search(np.ones((1, 8), np.float32)), ql.ShapeError,
     r"index: expected at least one row, got an empty index"),
])
def test_constructor_and_search_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_add_errors():
    index = ql.FlatIndex("ubinary", 12, rescore="float32")
    f = np.ones((2, 12), np.float32)
    with pytest.raises(ql.ShapeError, match="vectors: expected dimension 12, got 11"):
        index.add(f[:, :11])
    with pytest.raises(ql.ShapeError, match=r"vectors: codes of this index are \(2,\) uint8 rows"):
        index.add(np.ones((2, 3), np.uint8))
    with pytest.raises(ql.ShapeError, match="bits past dimension 12 are set"):
        index.add(np.full((2, 2), 255, np.uint8), rescore=f)
    with pytest.raises(ql.ConfigError, match="rescore: this index keeps rescoring rows; pass rescore="):
        index.add(np.zeros((2, 2), np.uint8))
    with pytest.raises(ql.ShapeError, match=r"rescore: expected \(2, 12\) float32 rows"):
        index.add(np.zeros((2, 2), np.uint8), rescore=f[:1])
    with pytest.raises(ql.NonFiniteError, match="embeddings: expected finite values"):
        index.add(np.full((2, 12), np.nan, np.float32))
    index.add(f, ids=[4, 9])
    with pytest.raises(ql.ShapeError, match="ids: id 9 is already in the index"):
        index.add(f, ids=[9, 10])
    with pytest.raises(ql.ShapeError, match="ids: expected unique ids"):
        index.add(f, ids=[11, 11])
    with pytest.raises(ql.ShapeError, match=r"ids: expected one id per row \(2\), got 3"):
        index.add(f, ids=[1, 2, 3])
    with pytest.raises(ql.DTypeError, match="ids: expected a 1-D array of integers"):
        index.add(f, ids=[1.5, 2.5])
    assert len(index) == 2  # failed adds change nothing
    with pytest.raises(ql.ShapeError, match=r"k: expected at most the number of corpus rows \(2\), got 3"):
        index.search(f, 3)
    raw = ql.FlatIndex("int8", 4)
    with pytest.raises(ql.DTypeError, match="uncalibrated int8 codes cannot be made from floats"):
        raw.add(np.ones((1, 4), np.float32))
    with pytest.raises(ql.ConfigError, match="this index keeps no rescoring rows"):
        raw.add(np.ones((1, 4), np.int8), rescore=np.ones((1, 4), np.float32))


def test_cosine_index_refuses_a_row_of_subnormal_norm_at_add(data):
    # search would refuse the row (its cosine cannot be computed in float32); add says so first,
    # naming the row, and leaves the index as it was
    x, q = data
    tiny = x[:3].copy()
    tiny[1] *= np.float32(2.0 ** -140)
    index = ql.FlatIndex("float32", D, metric="cosine")
    index.add(x[:10])
    with pytest.raises(ql.OutOfRangeError, match=r"vectors: row 1 has norm .* below float32's smallest"):
        index.add(tiny)
    assert len(index) == 10
    ranked = ql.FlatIndex("ubinary", D, metric="hamming", rescore="float32")  # rescored by cosine
    with pytest.raises(ql.OutOfRangeError, match=r"rescore: row 1 has norm"):
        ranked.add(tiny)
    plain = ql.FlatIndex("float32", D, metric="dot", rescore="float32")  # dot needs no norm
    plain.add(tiny)
    assert len(plain) == 3


def test_default_ids_that_would_pass_int64_are_refused(data):
    x, _ = data
    index = ql.FlatIndex("ubinary", D, metric="hamming")
    index.add(x[:2], ids=[0, 2**63 - 2])
    index.add(x[2:3])  # takes 2**63 - 1, the last one
    assert index.ids[-1] == 2**63 - 1
    with pytest.raises(ql.ShapeError, match=r"ids: the default ids continue from the largest id "
                                            r"\(9223372036854775807\), and 1 more would not fit in int64"):
        index.add(x[3:4])
    index.add(x[3:4], ids=[1])
    assert len(index) == 4


def test_the_index_modules_stay_under_700_lines():
    # issue 23: no module over about 700 lines (index.py had 746); the names other modules read stay in index
    from pathlib import Path

    root = Path(ql.__file__).parent
    sizes = {name: len((root / name).read_text().splitlines()) for name in ("index.py", "_index_files.py")}
    assert max(sizes.values()) <= 700, sizes
    assert (index_module.HEADER, index_module.FORMAT, index_module.VERSION) == (
        "quantlib-index.json", "quantlib.FlatIndex", 3)
