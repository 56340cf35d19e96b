"""Stable formats: every golden file of every format version loads forever; damage is refused; no pickle.

The golden files in tests/golden/formats were written once by the quantlib of
their version (tests/golden/formats/make_formats.py) and are never rewritten:
a new format version adds files beside them.  Each ``*.expected.json`` holds
the plain values its file must load as.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import quantlib as ql
from quantlib import cli
from quantlib import index as index_module
from quantlib.cli import CliError, load_codes

GOLDEN = Path(__file__).parent / "golden" / "formats"
PACKAGE = Path(ql.__file__).parent


def _expected(stem: str):
    return json.loads((GOLDEN / f"{stem}.expected.json").read_text())


def _versions(name: str) -> list[int]:
    """The versions of format ``name`` that have golden files."""
    found = {int(p.name[len(name) + 2:].split(".")[0].split("-")[0]) for p in GOLDEN.glob(f"{name}-v*")
             if not p.name.endswith(".expected.json")}
    return sorted(found)


def test_every_format_version_this_quantlib_writes_has_a_golden_file():
    spec = importlib.util.spec_from_file_location("make_formats", GOLDEN / "make_formats.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, version in module._versions().items():
        have = _versions(name)
        # a version bump must come with its golden file (run make_formats.py), and the old ones stay
        assert have == list(range(1, version + 1)), (name, have, version)


# --------------------------------------------------------------------------- golden files load forever


@pytest.mark.parametrize("version", _versions("index"))
def test_golden_index_loads(version, tmp_path):
    want = _expected(f"index-v{version}")
    index = ql.FlatIndex.load(GOLDEN / f"index-v{version}")
    assert (index.dim, index.metric, len(index)) == (want["dim"], want["metric"], len(want["ids"]))
    assert index.codes.tolist() == want["codes"] and index.ids.tolist() == want["ids"]
    assert index._array("rescore").astype(np.float64).tolist() == want["rescore_rows"]
    assert np.array_equal(index._codec.ranges, np.array(want["codec"]["ranges"], np.float32))
    # and it searches as the same rows held in memory do
    rows = np.array(want["rescore_rows"], np.float32)
    fresh = ql.FlatIndex(ql.codec_from_config(want["codec"]), want["dim"], metric=want["metric"],
                         rescore=want["rescore"])
    fresh.add(np.array(want["codes"], np.int8), ids=want["ids"], rescore=rows.astype(np.float16))
    for a, b in zip(index.search(rows[[0, 5]], 4), fresh.search(rows[[0, 5]], 4), strict=True):
        assert np.array_equal(a, b)
    # loading again after a re-save writes the current version
    index.save(tmp_path / "again")
    assert json.loads((tmp_path / "again" / "quantlib-index.json").read_text())["version"] == index_module.VERSION


def _sparse_cases():
    return [(v, name) for v in _versions("sparse") for name in _expected(f"sparse-v{v}")]


@pytest.mark.parametrize(("version", "name"), _sparse_cases())
def test_golden_sparse_loads(version, name):
    want = _expected(f"sparse-v{version}")[name]
    data = (GOLDEN / name).read_bytes()
    b = ql.SparseBatch.from_base64(data.decode().strip()) if name.endswith(".b64") else ql.SparseBatch.from_bytes(data)
    assert b.indptr.tolist() == want["indptr"] and b.indices.tolist() == want["indices"]
    assert b.values.astype(np.float64).tolist() == want["values"]
    assert b.vocab_size == want["vocab_size"]
    assert (None if b.tokens is None else list(b.tokens)) == want["tokens"]
    if not name.endswith(".b64"):
        assert int.from_bytes(data[4:6], "little") == version


@pytest.mark.parametrize("version", _versions("multivector"))
def test_golden_multivector_loads(version):
    payloads = json.loads((GOLDEN / f"multivector-v{version}.json").read_text())
    want = _expected(f"multivector-v{version}")
    assert set(payloads) == set(want)
    for name, payload in payloads.items():
        assert payload.get("version", 1) == version
        b = ql.MultiVectorBatch.from_base64(payload)
        w = want[name]
        assert (b.precision, b.dim, b.offsets.tolist()) == (w["precision"], w["dim"], w["offsets"])
        tokens = b.tokens.astype(np.float64) if b.precision.startswith("float") else b.tokens
        assert tokens.tolist() == w["tokens"]
        assert (b.codec is not None) == ("codec" in payload)


@pytest.mark.parametrize("version", _versions("codec-config"))
def test_golden_codec_configs_load(version):
    configs = json.loads((GOLDEN / f"codec-config-v{version}.json").read_text())
    want = _expected(f"codec-config-v{version}")
    assert len(configs) == len(want)
    for config, w in zip(configs, want, strict=True):
        assert config.get("version", 1) == version
        codec = ql.codec_from_config(config)
        assert codec.precision == w["id"]
        if w["ranges"] is not None:
            assert codec.ranges.astype(np.float64).tolist() == w["ranges"] and codec.rounding == w["rounding"]
        # read back, it writes the current version, which reads back equal
        assert ql.codec_from_config(json.loads(json.dumps(codec.get_config()))) == codec


@pytest.mark.parametrize("version", _versions("cli-codes"))
def test_golden_cli_codes_load(version, tmp_path, capsys):
    path = GOLDEN / f"cli-codes-v{version}.npz"
    want = _expected(f"cli-codes-v{version}")
    codes, config, dim = load_codes(str(path), "IN")
    assert codes.tolist() == want["codes"] and str(codes.dtype) == want["dtype"] and dim == want["dim"]
    codec = ql.codec_from_config(config)
    assert codec.precision == want["id"] and codec.ranges.astype(np.float64).tolist() == want["ranges"]
    assert cli.main(["dequantize", str(path), "-o", str(tmp_path / "y.npy")]) == 0
    assert np.array_equal(np.load(tmp_path / "y.npy", allow_pickle=False), codec.decode(codes))
    capsys.readouterr()


# --------------------------------------------------------------------------- damage is refused


def _flips(data: bytes):
    """Every single-byte change (one bit flipped per byte) and every truncation of ``data``."""
    for i in range(len(data)):
        yield f"byte {i} flipped", data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]
    for n in range(len(data)):
        yield f"truncated to {n} bytes", data[:n]


def _newest(name: str) -> int:
    return _versions(name)[-1]


def test_damaged_sparse_bytes_are_refused():
    for name in _expected(f"sparse-v{_newest('sparse')}"):
        if name.endswith(".b64"):
            continue
        data = (GOLDEN / name).read_bytes()
        for what, bad in _flips(data):
            with pytest.raises(ql.QuantlibError):
                ql.SparseBatch.from_bytes(bad)
                pytest.fail(f"{name}: {what} was accepted")


def test_damaged_multivector_payloads_are_refused():
    payloads = json.loads((GOLDEN / f"multivector-v{_newest('multivector')}.json").read_text())
    for name, payload in payloads.items():
        for key in ("precision", "offsets", "tokens"):
            text = payload[key]
            for i in range(len(text)):
                changed = text[:i] + ("B" if text[i] != "B" else "C") + text[i + 1:]
                with pytest.raises(ql.QuantlibError):
                    ql.MultiVectorBatch.from_base64({**payload, key: changed})
                    pytest.fail(f"{name}: {key}[{i}] changed was accepted")
            with pytest.raises(ql.QuantlibError):
                ql.MultiVectorBatch.from_base64({**payload, key: text[:-1]})
        with pytest.raises(ql.PayloadError, match="payload: the checksum says"):
            ql.MultiVectorBatch.from_base64({**payload, "dim": payload["dim"] + 8})
        if "codec" in payload:  # the codec config inside is checked twice: by its own checksum too
            codec = {**payload["codec"], "rounding": "floor"}
            with pytest.raises(ql.PayloadError, match="payload: the checksum says"):
                ql.MultiVectorBatch.from_base64({**payload, "codec": codec})


def test_changed_codec_configs_are_refused():
    configs = json.loads((GOLDEN / f"codec-config-v{_newest('codec-config')}.json").read_text())
    for config in configs:
        changes = [{"id": "float16" if config["id"] != "float16" else "float32"}, {"extra": 1}]
        if "ranges" in config:
            ranges = [row[:] for row in config["ranges"]]
            ranges[1][3] = 1e5
            changes += [{"ranges": ranges}, {"rounding": "floor" if config["rounding"] != "floor" else "nearest"}]
        for change in changes:
            with pytest.raises(ql.ConfigError, match="config: the checksum says crc32:"):
                ql.codec_from_config({**config, **change})
        with pytest.raises(ql.ConfigError, match="config: expected a 'checksum' of the form"):
            ql.codec_from_config({k: v for k, v in config.items() if k != "checksum"})
    # a hand-made config without version or checksum is version 1: still read
    assert ql.codec_from_config({"id": "int8", "ranges": [[0.0], [1.0]]}).dim == 1


def _index_state(index):
    return index.codes.tolist(), index.ids.tolist(), index._array("rescore").tolist()


def test_damaged_index_files_are_refused(tmp_path):
    src = GOLDEN / f"index-v{_newest('index')}"
    good = _index_state(ql.FlatIndex.load(src))
    root = tmp_path / "idx"
    shutil.copytree(src, root)
    for file in sorted(root.iterdir()):
        data = file.read_bytes()
        for what, bad in _flips(data):
            file.write_bytes(bad)
            try:
                loaded = ql.FlatIndex.load(root)
            except ql.QuantlibError:
                continue
            # a change the checksums cannot see must not change what loads (JSON whitespace)
            assert _index_state(loaded) == good, f"{file.name}: {what} was accepted"
        file.write_bytes(data)
        file.unlink()
        with pytest.raises((ql.ConfigError, FileNotFoundError)):
            ql.FlatIndex.load(root)
        file.write_bytes(data)


def test_truncated_index_arrays_are_refused_without_verify(tmp_path):
    # verify=False skips the array checksums, but a short file still never loads
    root = tmp_path / "idx"
    shutil.copytree(GOLDEN / f"index-v{_newest('index')}", root)
    header = json.loads((root / "quantlib-index.json").read_text())
    for name in sorted(e["file"] for e in header["arrays"].values()):  # version 3 names them per save
        file = root / name
        data = file.read_bytes()
        for n in range(len(data)):
            file.write_bytes(data[:n])
            for mmap in (True, False):
                with pytest.raises(ql.ConfigError, match=f"path: {name} "):
                    ql.FlatIndex.load(root, verify=False, mmap=mmap)
        file.write_bytes(data)


def test_damaged_cli_codes_are_refused(tmp_path, capsys):
    src = GOLDEN / f"cli-codes-v{_newest('cli-codes')}.npz"
    good = load_codes(str(src), "IN")
    path = tmp_path / "c.npz"
    for what, bad in _flips(src.read_bytes()):
        path.write_bytes(bad)
        try:
            codes, config, dim = load_codes(str(path), "IN")
        except CliError:
            continue
        # zip metadata the archive does not check (timestamps, attributes) may change; the content may not
        assert codes.tolist() == good[0].tolist() and config == good[1] and dim == good[2], what
    path.write_bytes(src.read_bytes()[:-30])
    assert cli.main(["dequantize", str(path), "-o", str(tmp_path / "y.npy")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("quantlib dequantize: error: IN: ") and err.count("\n") == 1


def test_cli_codes_with_a_wrong_checksum_are_refused(tmp_path):
    codes, config, dim = load_codes(str(GOLDEN / f"cli-codes-v{_newest('cli-codes')}.npz"), "IN")
    path = str(tmp_path / "c.npz")
    cli.save_codes(path, codes, config, dim)
    with np.load(path, allow_pickle=False) as z:
        members = {k: z[k] for k in z.files}
    members["codes"] = members["codes"].copy()
    members["codes"][0, 0] ^= 1
    cli.write_npz(path, members)  # a well-formed archive whose content no longer matches its checksum
    with pytest.raises(CliError, match="does not match its checksum; the file is corrupt"):
        load_codes(path, "IN")


# --------------------------------------------------------------------------- no pickle


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            yield node, node.func.attr


def test_the_package_never_unpickles():
    risky_modules = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}
    for file in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(file.read_text(), str(file))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
                assert not {str(n).split(".")[0] for n in names} & risky_modules, (file, node.lineno)
        for node, attr in _calls(tree):
            where = f"{file.relative_to(PACKAGE)}:{node.lineno}"
            kwargs = {k.arg: k.value for k in node.keywords}
            if attr in ("load", "save") and isinstance(node.func.value, ast.Name) and node.func.value.id == "np":
                flag = kwargs.get("allow_pickle")
                assert isinstance(flag, ast.Constant) and flag.value is False, (
                    f"{where}: np.{attr} needs allow_pickle=False")
            assert attr not in ("savez", "savez_compressed") or not (
                isinstance(node.func.value, ast.Name) and node.func.value.id == "np"
            ), f"{where}: np.{attr} cannot refuse pickles; use quantlib.cli.write_npz"


def test_pickled_arrays_are_refused_at_run_time(tmp_path, capsys):
    objects = np.array([{"a": 1}, None], dtype=object)
    np.save(tmp_path / "obj.npy", objects, allow_pickle=True)
    assert cli.main(["dequantize", str(tmp_path / "obj.npy"), "-o", str(tmp_path / "y.npy")]) == 1
    assert cli.main(["search", str(tmp_path / "obj.npy"), str(tmp_path / "obj.npy")]) == 1
    assert "Object arrays cannot be loaded when allow_pickle=False" in capsys.readouterr().err
    # an index whose array is a pickle, with a header that vouches for it, still does not load
    root = tmp_path / "idx"
    shutil.copytree(GOLDEN / "index-v1", root)
    np.save(root / "ids.npy", objects, allow_pickle=True)
    header = json.loads((root / "quantlib-index.json").read_text())
    header["arrays"]["ids"].update(dtype="|O", shape=[2])
    (root / "quantlib-index.json").write_text(json.dumps(header))
    with pytest.raises(ql.ConfigError, match="path: ids.npy is not a readable .npy array"):
        ql.FlatIndex.load(root, verify=False)
