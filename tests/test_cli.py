"""The command line: each subcommand on files made by the others, exit codes, one-line errors."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import quantlib
from quantlib.cli import load_codes, main


@pytest.fixture
def emb(tmp_path):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((300, 37)).astype(np.float32)
    path = tmp_path / "x.npy"
    np.save(path, x)
    return x, str(path)


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("precision", ["float32", "float16", "int8", "uint8", "binary", "ubinary"])
def test_quantize_then_dequantize_round_trips_through_files(tmp_path, capsys, emb, precision):
    x, path = emb
    codes, back = tmp_path / "c.npz", tmp_path / "y.npy"
    assert run(capsys, "quantize", path, "-p", precision, "-o", str(codes))[0] == 0
    assert run(capsys, "dequantize", str(codes), "-o", str(back))[0] == 0
    y = np.load(back)
    assert y.shape == x.shape and y.dtype == np.float32
    if precision == "float32":
        assert y.tobytes() == x.tobytes()
    elif precision in ("int8", "uint8"):
        step = (x.max(0) - x.min(0)) / 255
        assert np.all(np.abs(y - x) <= step / 2 * (1 + 1e-4) + 1e-6)
    elif precision in ("binary", "ubinary"):
        assert np.array_equal(y, np.where(x > 0, 1.0, -1.0))


def test_quantize_with_calibration_file(tmp_path, capsys, emb):
    x, path = emb
    calib = tmp_path / "calib.npy"
    np.save(calib, x[:200])
    status, out, _ = run(capsys, "quantize", path, "-p", "uint8", "--calibration", str(calib), "-o",
                         str(tmp_path / "c.npz"))
    assert status == 0 and "uint8" in out
    with np.load(tmp_path / "c.npz") as z:
        config = json.loads(str(z["config"]))
    assert np.array_equal(np.array(config["ranges"], np.float32)[0], x[:200].min(0))


def test_search_on_codes_and_floats_agrees_with_rescoring(tmp_path, capsys, emb):
    x, path = emb
    q = tmp_path / "q.npy"
    np.save(q, x[:5])
    codes = tmp_path / "c.npz"
    run(capsys, "quantize", path, "-p", "ubinary", "-o", str(codes))
    out_npz = tmp_path / "r.npz"
    status, _, _ = run(capsys, "search", str(codes), str(q), "-k", "3", "--rescore", path, "-o", str(out_npz))
    assert status == 0
    with np.load(out_npz) as z:
        ids = z["indices"]
    assert list(ids[:, 0]) == [0, 1, 2, 3, 4]  # each query's own row comes first after float32 rescoring
    status, out, _ = run(capsys, "search", path, str(q), "-k", "2")
    lines = out.strip().splitlines()
    assert status == 0 and lines[0] == "query\trank\tindex\tscore" and len(lines) == 1 + 5 * 2
    assert lines[1].split("\t")[:3] == ["0", "1", "0"]


def test_eval_json_on_user_files(tmp_path, capsys, emb):
    _, path = emb
    status, out, _ = run(capsys, "eval", path, "--json", "-k", "5")
    assert status == 0
    report = json.loads(out)
    assert report["queries"] == 30 and report["documents"] == 270 and report["dim"] == 37
    first = report["rows"][0]
    assert (first["precision"], first["scoring"], first["recall"]) == ("float32", "exact", 1.0)
    assert {r["precision"] for r in report["rows"]} == {"float32", "float16", "int8", "uint8", "ubinary",
                                                            "rotated4", "rotated2", "rotated1"}


def test_eval_on_the_bundled_sample_prints_the_table(capsys):
    status, out, _ = run(capsys, "eval")
    assert status == 0
    assert "4000 documents x 384 dims, 400 queries" in out
    header = out.splitlines()[1].split()
    assert header[:6] == ["format", "scoring", "dims", "bytes", "ratio", "recall@10"]
    rows = {tuple(line.split()[:3]): line.split() for line in out.splitlines()[2:-1]}
    # dequantized int8 ranks almost exactly like float32; the raw dot of calibrated codes does not
    assert float(rows[("int8", "dequantized", "384")][5]) > 0.98
    assert float(rows[("int8", "raw", "codes")][6]) < float(rows[("int8", "dequantized", "384")][5])


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (["quantize", "/nonexistent.npy", "-p", "int8", "-o", "/tmp/x.npz"], 1, "IN: no such file"),
        (["quantize", "{x}", "-p", "int9", "-o", "{tmp}/c.npz"], 2, "did you mean 'int8'"),
        (["quantize", "{ints}", "-p", "int8", "-o", "{tmp}/c.npz"], 1, "must hold float embeddings, got dtype int64"),
        (["quantize", "{x}", "-p", "ubinary", "--calibration", "{x}", "-o", "{tmp}/c.npz"], 2,
         "only int8, uint8, rotated4"),
        (["dequantize", "{x}", "-o", "{tmp}/y.npy"], 1, "not a quantlib codes file"),
        (["search", "{x}", "{x}", "-k", "1000"], 2, "expected 1 <= k <= 300"),
        (["search", "{x}", "{x}", "-k", "2", "--rescore", "{x}", "--oversample", "0"], 2,
         "--oversample: expected a positive integer, got 0"),
        (["eval", "{x}", "-k", "0"], 2, "expected 1 <= k"),
        (["decode", "{tmp}/missing.json", "-o", "{tmp}/y.npy"], 1, "no such file"),
        (["quantize", "{x}", "-p", "int8", "-o", "/nonexistent/dir/c.npz"], 1, "does not exist"),
    ],
)
def test_bad_input_gets_one_line_and_an_exit_status(tmp_path, capsys, emb, argv, status, message):
    _, path = emb
    ints = tmp_path / "ints.npy"
    np.save(ints, np.arange(12).reshape(3, 4))
    argv = [a.format(x=path, tmp=tmp_path, ints=ints) for a in argv]
    code, out, err = run(capsys, *argv)
    assert code == status
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["quantize"])
    assert info.value.code == 2
    assert "required" in capsys.readouterr().err


def test_decode_a_response_file(tmp_path, capsys):
    payload = {"object": "list", "model": "m", "usage": {"total_tokens": 3},
               "data": [{"object": "embedding", "index": 1, "embedding": [0.5, -1.0]},
                        {"object": "embedding", "index": 0, "embedding": [1.0, 2.0]}]}
    src = tmp_path / "r.json"
    src.write_text(json.dumps(payload))
    status, out, _ = run(capsys, "decode", str(src), "-o", str(tmp_path / "e.npy"))
    assert status == 0
    assert np.array_equal(np.load(tmp_path / "e.npy"), np.array([[1.0, 2.0], [0.5, -1.0]], np.float32))


@pytest.mark.parametrize("module", ["quantlib", "quantlib.cli"])
def test_python_dash_m_help(module):
    done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, check=True)
    for command in ("eval", "decode", "quantize", "dequantize", "search"):
        assert command in done.stdout


def test_the_cli_is_split_into_small_modules_that_keep_every_name():
    """Issue 23: no module over about 700 lines; the names tests, fuzz targets and users import stay in quantlib.cli."""
    from quantlib import cli

    sizes = {f.name: len(f.read_text().splitlines()) for f in Path(cli.__file__).parent.glob("*.py")}
    assert max(sizes.values()) <= 700, sizes
    for name in cli.__all__:
        assert hasattr(cli, name), name
    assert cli.main.__module__ == "quantlib.cli"  # the console entry point quantlib.cli:main


# ---------------------------------------------------------------------------- eval: --oversample, empty inputs


def _eval_json(capsys, *argv):
    status, out, err = run(capsys, "eval", *argv, "--json")
    assert status == 0, err
    return json.loads(out)


def test_eval_oversample_sets_how_many_candidates_are_rescored(capsys, emb):
    _, path = emb
    # oversample 1: rescoring re-ranks only the first stage's own k results, so the recall cannot change
    rows = _eval_json(capsys, path, "-k", "5", "--oversample", "1")["rows"]
    rescored = [r for r in rows if r["recall_rescored"] is not None]
    assert len(rescored) == len(rows) - 1
    assert [r["recall_rescored"] for r in rescored] == [r["recall"] for r in rescored]
    assert min(r["recall"] for r in rescored) < 0.9  # so the check above is not trivially true
    # 5 * 60 >= 270 documents: every format's candidates are the whole corpus, rescored exactly
    report = _eval_json(capsys, path, "-k", "5", "--oversample", "60")
    assert report["oversample"] == 60
    assert {r["recall_rescored"] for r in report["rows"] if r["recall_rescored"] is not None} == {1.0}
    status, out, _ = run(capsys, "eval", path, "-k", "5", "--oversample", "60")
    assert status == 0 and "rescoring re-ranks 270 candidates with float32" in out.splitlines()[0]


def test_evaluate_python_api_checks_oversample_and_queries():
    from quantlib.errors import ShapeError
    from quantlib.evaluation import evaluate

    rng = np.random.default_rng(1)
    docs = rng.standard_normal((120, 16))
    with pytest.raises(ShapeError, match=r"oversample: expected a positive integer, got 0"):
        evaluate(docs, docs[:3], k=2, oversample=0, repeats=1)
    with pytest.raises(ShapeError, match=r"queries: expected at least one query row, got shape \(0, 16\)"):
        evaluate(docs, docs[:0], k=2, repeats=1)
    rows = evaluate(docs, docs[:5], k=2, dims=[8], oversample=60, repeats=1)
    assert {r.recall_rescored for r in rows if r.recall_rescored is not None} == {1.0}


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (["{x}", "--oversample", "0"], 2, "--oversample: expected a positive integer, got 0"),
        (["{x}", "--oversample", "-3"], 2, "--oversample: expected a positive integer, got -3"),
        (["{x}", "--n-queries", "0"], 2, "--n-queries: expected a positive integer, got 0"),
        (["{empty}"], 1, "EMBEDDINGS: expected at least one row, got shape (0, 37)"),
        (["{one}"], 1, "EMBEDDINGS: expected at least 2 rows to hold some out as queries (or give --queries), "
                       "got shape (1, 37)"),
        (["{x}", "--queries", "{empty}"], 1, "--queries: expected at least one row, got shape (0, 37)"),
        (["{empty}", "--queries", "{x}"], 1, "EMBEDDINGS: expected at least one row, got shape (0, 37)"),
        (["{pair}"], 1, "EMBEDDINGS: expected at least one row, got shape (0, 37)"),
        (["{pairq}"], 1, "EMBEDDINGS: expected at least one row in 'queries', got shape (0, 37)"),
    ],
)
def test_eval_refuses_bad_oversample_and_empty_inputs_in_one_line(tmp_path, capsys, emb, argv, status, message):
    x, path = emb
    files = {"x": path}
    for name, arr in (("empty", x[:0]), ("one", x[:1])):
        files[name] = str(tmp_path / f"{name}.npy")
        np.save(files[name], arr)
    files["pair"] = str(tmp_path / "pair.npz")  # an .npz with 'documents' and 'queries', documents empty
    np.savez(files["pair"], documents=x[:0], queries=x[:3])
    files["pairq"] = str(tmp_path / "pairq.npz")  # ... queries empty
    np.savez(files["pairq"], documents=x, queries=x[:0])
    code, out, err = run(capsys, "eval", *[a.format(**files) for a in argv])
    assert (code, out) == (status, "")
    assert err.strip() == f"quantlib eval: error: {message}"


# ---------------------------------------------------------------------------- decode: sparse, output paths


DASHSCOPE_SPARSE = {"output": {"embeddings": [
    {"text_index": 1, "sparse_embedding": [{"index": 9, "value": 0.25, "token": "b"},
                                           {"index": 2, "value": 1.5, "token": "a"}]},
    {"text_index": 0, "sparse_embedding": [{"index": 4, "value": 0.5, "token": "c"}]}]},
    "usage": {"total_tokens": 3}, "request_id": "r1"}


def test_decode_sparse_only_response_writes_the_sparse_weights(tmp_path, capsys):
    from quantlib import SparseBatch

    src, out = tmp_path / "s.json", tmp_path / "s.npz"
    src.write_text(json.dumps(DASHSCOPE_SPARSE))
    status, stdout, err = run(capsys, "decode", str(src), "-o", str(out))
    assert (status, err) == (0, "")
    assert stdout.strip() == f"{out}: no dense embeddings, 2 sparse rows (3 weights), provider dashscope"
    with np.load(out, allow_pickle=False) as z:
        assert sorted(z.files) == ["sparse_indices", "sparse_indptr", "sparse_tokens", "sparse_values"]
        batch = SparseBatch(z["sparse_indptr"], z["sparse_indices"], z["sparse_values"],
                            tokens=list(z["sparse_tokens"]))
    assert batch.to_dicts() == [{4: 0.5}, {2: 1.5, 9: 0.25}]
    assert batch.tokens == ("c", "a", "b")
    # a .npy holds one dense matrix: refused, with what to do instead
    status, _, err = run(capsys, "decode", str(src), "-o", str(tmp_path / "s.npy"))
    assert status == 1 and "use an .npz output" in err and not (tmp_path / "s.npy").exists()


def test_decode_dense_and_sparse_response_keeps_both_in_an_npz(tmp_path, capsys):
    payload = json.loads(json.dumps(DASHSCOPE_SPARSE))
    for row, dense in zip(payload["output"]["embeddings"], ([0.5, -0.25], [-0.125, 1.0]), strict=True):
        row["embedding"] = dense
    src, out = tmp_path / "ds.json", tmp_path / "ds.npz"
    src.write_text(json.dumps(payload))
    status, stdout, _ = run(capsys, "decode", str(src), "-o", str(out))
    assert status == 0
    assert stdout.strip() == f"{out}: 2x2 float32 embeddings, 2 sparse rows (3 weights), provider dashscope"
    with np.load(out, allow_pickle=False) as z:
        assert np.array_equal(z["embeddings"], np.array([[-0.125, 1.0], [0.5, -0.25]], np.float32))
        assert z["sparse_indptr"].tolist() == [0, 1, 3] and z["sparse_values"].tolist() == [0.5, 1.5, 0.25]


@pytest.mark.parametrize(
    ("command", "given", "written"),
    [
        (["decode", "{json}"], "out", "out.npy"),
        (["decode", "{json}"], "somedir", "somedir.npy"),  # an existing directory's name
        (["dequantize", "{codes}"], "back", "back.npy"),
        (["quantize", "{x}", "-p", "int8"], "codes", "codes.npz"),
        (["search", "{x}", "{x}", "-k", "2"], "hits", "hits.npz"),
    ],
)
def test_printed_output_path_is_the_file_written(tmp_path, capsys, emb, command, given, written):
    _, path = emb
    (tmp_path / "somedir").mkdir()
    src = tmp_path / "r.json"
    src.write_text(json.dumps({"data": [{"index": 0, "embedding": [1.0, 2.0]}]}))
    codes = tmp_path / "c.npz"
    assert run(capsys, "quantize", path, "-p", "int8", "-o", str(codes))[0] == 0
    argv = [a.format(json=src, codes=codes, x=path) for a in command]
    before = set(tmp_path.iterdir())
    status, out, _ = run(capsys, *argv, "-o", str(tmp_path / given))
    assert status == 0
    assert set(tmp_path.iterdir()) - before == {tmp_path / written}
    assert out.split(":")[0] == str(tmp_path / written)


# ---------------------------------------------------------------------------- issue 21 points 3-9, issue 22 point 6

GOLDEN = Path(__file__).parent / "golden" / "providers"
COHERE_TYPES = ["base64", "binary", "float32", "int8", "ubinary", "uint8"]


def _members(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def test_decode_keeps_every_type_of_a_cohere_response(tmp_path, capsys):
    src = GOLDEN / "cohere_v2_by_type.json"
    want = quantlib.decode_response(src.read_bytes()).embeddings_by_type
    assert sorted(want) == COHERE_TYPES
    status, out, err = run(capsys, "decode", str(src), "-o", str(tmp_path / "all.npz"))
    assert (status, err) == (0, "")
    got = _members(tmp_path / "all.npz")
    assert sorted(got) == ["embeddings"] + [f"embeddings_{t}" for t in COHERE_TYPES if t != "float32"]
    assert got["embeddings"].tobytes() == want["float32"].tobytes()
    for t in COHERE_TYPES:
        if t != "float32":
            assert got[f"embeddings_{t}"].dtype == want[t].dtype and np.array_equal(got[f"embeddings_{t}"], want[t])
    assert "also embeddings_int8, embeddings_uint8, embeddings_binary, embeddings_ubinary, embeddings_base64" in out
    # a .npy holds one matrix: the others are named as not saved, not dropped without a word
    status, out, _ = run(capsys, "decode", str(src), "-o", str(tmp_path / "f.npy"))
    assert status == 0 and "embeddings_int8" in out and "not saved" in out


@pytest.mark.parametrize("precision", ["int8", "uint8", "binary", "ubinary"])
def test_decoded_codes_are_a_codes_file_that_search_and_dequantize_read(tmp_path, capsys, precision):
    src = GOLDEN / "cohere_v2_by_type.json"  # dimension 10: the bits fill 2 bytes, 6 padding bits
    r = quantlib.decode_response(src.read_bytes(), output_dtype=precision, output_dimension=10)
    codes_file = tmp_path / "codes.npz"
    status, out, err = run(capsys, "decode", str(src), "--output-dtype", precision, "--output-dimension", "10",
                           "-o", str(codes_file))
    assert (status, err) == (0, "")
    codes, config, dim = load_codes(str(codes_file), "IN")
    assert codes.tobytes() == r.embeddings.tobytes() and dim == 10
    raw = precision in ("int8", "uint8")
    assert config["id"] == precision and config.get("raw", False) is raw
    assert ("(uncalibrated)" in out) is raw and "codes file" in out
    # dequantize: bits as +1/-1 of the true dimension; a provider's int8/uint8 as their integer values
    status, out, _ = run(capsys, "dequantize", str(codes_file), "-o", str(tmp_path / "back.npy"))
    assert status == 0 and ("uncalibrated" in out) is raw
    assert np.load(tmp_path / "back.npy").tobytes() == r.as_float32().tobytes()
    # search, with float queries (the response's float32 type) and with the codes themselves as queries
    scores = {}
    for extra in (["--queries-key", "embeddings_float32"], []):
        status, out, err = run(capsys, "search", str(codes_file), str(codes_file), "-k", "2", *extra)
        assert status == 0, err
        lines = out.strip().splitlines()
        assert [line.split("\t")[2] for line in lines[1::2]] == ["0", "1"]  # each row finds itself first
        scores[len(extra)] = [line.split("\t")[3] for line in lines[1:]]
    if raw:  # float queries against the codes' integer values, and the codes' own dot: not the same numbers
        assert scores[0] != scores[2]
    # --key searches a float member of the codes file instead of its codes
    status, out, _ = run(capsys, "search", str(codes_file), str(codes_file), "-k", "1", "--key",
                         "embeddings_float32", "--queries-key", "embeddings_float32")
    assert status == 0 and out.splitlines()[1].split("\t")[2:] == ["0", "1"]


def test_decode_output_dimension_describes_bits_of_any_dimension(tmp_path, capsys):
    from quantlib.providers.build import build_response

    x = np.random.default_rng(3).standard_normal((4, 13)).astype(np.float32)
    payload = build_response(quantlib.quantize(x, "binary"), precision="binary", dim=13)
    src = tmp_path / "voyage.json"
    src.write_text(json.dumps(payload))
    assert run(capsys, "decode", str(src), "--output-dtype", "binary", "--output-dimension", "13",
               "-o", str(tmp_path / "b.npz"))[0] == 0
    assert load_codes(str(tmp_path / "b.npz"), "IN")[2] == 13
    assert run(capsys, "dequantize", str(tmp_path / "b.npz"), "-o", str(tmp_path / "b.npy"))[0] == 0
    assert np.array_equal(np.load(tmp_path / "b.npy"), np.where(x > 0, 1.0, -1.0).astype(np.float32))
    # codes to a .npy would lose their precision and dimension: refused, nothing written
    status, _, err = run(capsys, "decode", str(src), "--output-dtype", "binary", "-o", str(tmp_path / "b2.npy"))
    assert status == 1 and "use an .npz output" in err and not (tmp_path / "b2.npy").exists()


def _float_payload(rows, model="m"):
    from quantlib.providers.build import build_response

    return build_response(np.asarray(rows, np.float32), model=model)


def test_decode_concatenates_files_json_lines_and_stdin_in_order(tmp_path, capsys, monkeypatch):
    rng = np.random.default_rng(5)
    parts = [rng.standard_normal((n, 6)).astype(np.float32) for n in (10, 10, 3, 7)]
    (tmp_path / "a.json").write_text(json.dumps(_float_payload(parts[0]), indent=2))  # pretty-printed
    (tmp_path / "b.jsonl").write_text("".join(json.dumps(_float_payload(p)) + "\n\n" for p in parts[1:3]))
    stdin = io.TextIOWrapper(io.BytesIO(json.dumps(_float_payload(parts[3])).encode()))
    monkeypatch.setattr(sys, "stdin", stdin)
    status, out, err = run(capsys, "decode", str(tmp_path / "a.json"), str(tmp_path / "b.jsonl"), "-",
                           "-o", str(tmp_path / "all.npy"))
    assert (status, err) == (0, "") and "30x6 float32 embeddings" in out and "from 4 responses" in out
    assert np.load(tmp_path / "all.npy").tobytes() == np.concatenate(parts).tobytes()
    # responses of another model or dimension are not mixed into one file
    (tmp_path / "c.json").write_text(json.dumps(_float_payload(parts[0], model="other")))
    status, _, err = run(capsys, "decode", str(tmp_path / "a.json"), str(tmp_path / "c.json"),
                         "-o", str(tmp_path / "mixed.npy"))
    assert status == 1 and "c.json: differs from" in err and "model 'other'" in err
    assert not (tmp_path / "mixed.npy").exists()
    # a bad line is named by its number
    (tmp_path / "bad.jsonl").write_text(json.dumps(_float_payload(parts[2])) + "\n" + '{"data": 3}\n')
    status, _, err = run(capsys, "decode", str(tmp_path / "bad.jsonl"), "-o", str(tmp_path / "bad.npy"))
    assert status == 1 and "bad.jsonl line 2: data:" in err


def test_decode_reads_a_pipe(tmp_path):
    payload = json.dumps(_float_payload([[0.5, -1.0], [2.0, 0.25]]))
    env = {**os.environ, "PYTHONPATH": str(Path(quantlib.__file__).parent.parent)}
    for source in ("/dev/stdin", "-"):
        out = tmp_path / f"p{len(source)}.npy"
        done = subprocess.run([sys.executable, "-m", "quantlib", "decode", source, "-o", str(out)], input=payload,
                              capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        assert np.load(out).tolist() == [[0.5, -1.0], [2.0, 0.25]]


def test_npz_inputs_take_key_and_refuse_ambiguous_files(tmp_path, capsys, emb):
    x, _ = emb
    many = tmp_path / "many.npz"
    np.savez(many, multivector_offsets=np.arange(4), docs=x, other=x[:, :5])
    status, _, err = run(capsys, "quantize", str(many), "-p", "int8", "-o", str(tmp_path / "c.npz"))
    assert status == 2 and "holds several arrays (multivector_offsets, docs, other); pick one with --key" in err
    assert run(capsys, "quantize", str(many), "--key", "docs", "-p", "float32", "-o", str(tmp_path / "c.npz"))[0] == 0
    assert np.array_equal(load_codes(str(tmp_path / "c.npz"), "IN")[0], x)
    status, _, err = run(capsys, "quantize", str(many), "--key", "nope", "-p", "int8", "-o", str(tmp_path / "d.npz"))
    assert status == 1 and "has no array 'nope'" in err
    # search: --key for CORPUS, --queries-key and --rescore-key for the others
    status, out, err = run(capsys, "search", str(many), str(many), "--key", "docs", "--queries-key", "docs",
                           "-k", "1")
    assert status == 0, err
    assert [line.split("\t")[2] for line in out.strip().splitlines()[1:4]] == ["0", "1", "2"]
    status, _, err = run(capsys, "search", str(many), str(many), "--key", "docs", "-k", "1")
    assert status == 2 and "QUERIES" in err and "--queries-key NAME" in err
    # what decode writes ('embeddings' beside sparse weights) needs no key
    np.savez(tmp_path / "dec.npz", embeddings=x, sparse_indptr=np.zeros(301, np.int64))
    assert run(capsys, "quantize", str(tmp_path / "dec.npz"), "-p", "int8", "-o", str(tmp_path / "e.npz"))[0] == 0


@pytest.mark.parametrize(
    ("command", "given", "status", "written", "message"),
    [
        (["quantize", "{x}", "-p", "int8"], "codes.npy", 2, None, "--output: {tmp}/codes.npy ends in .npy"),
        (["quantize", "{x}", "-p", "int8"], "codes.NPZ", 0, "codes.NPZ", ""),
        (["quantize", "{x}", "-p", "int8"], "codes.bin", 2, None, "ends in .bin"),
        (["dequantize", "{codes}"], "back.npz", 0, "back.npz", ""),
        (["dequantize", "{codes}"], "back.NPY", 0, "back.NPY", ""),
        (["search", "{x}", "{x}", "-k", "2"], "hits.npy", 2, None, "can be written as .npz"),
        (["decode", "{sparse}"], "out.NPZ", 0, "out.NPZ", ""),
        (["decode", "{sparse}"], "out", 0, "out.npz", ""),  # no suffix: .npz, as a .npy cannot hold it
        (["decode", "{json}"], "out.json", 2, None, "ends in .json"),
    ],
)
def test_output_suffix_chooses_the_format_or_is_refused(tmp_path, capsys, emb, command, given, status, written,
                                                        message):
    _, path = emb
    src, sparse = tmp_path / "r.json", tmp_path / "s.json"
    src.write_text(json.dumps({"data": [{"index": 0, "embedding": [1.0, 2.0]}]}))
    sparse.write_text(json.dumps(DASHSCOPE_SPARSE))
    codes = tmp_path / "c.npz"
    assert run(capsys, "quantize", path, "-p", "int8", "-o", str(codes))[0] == 0
    argv = [a.format(json=src, codes=codes, x=path, sparse=sparse) for a in command]
    before = set(tmp_path.iterdir())
    code, out, err = run(capsys, *argv, "-o", str(tmp_path / given))
    assert code == status, err
    assert set(tmp_path.iterdir()) - before == ({tmp_path / written} if written else set())
    if written:
        assert out.split(":")[0] == str(tmp_path / written)
        members = _members(tmp_path / written) if written.lower().endswith(".npz") else {}
        if command[0] == "dequantize" and members:
            assert list(members) == ["embeddings"] and members["embeddings"].shape == (300, 37)
        if command[0] == "decode":
            assert "sparse_values" in members  # the sparse rows are kept whatever the suffix's case
    else:
        assert message.format(tmp=tmp_path) in err and len(err.strip().splitlines()) == 1


def test_messages_name_cli_flags_and_warnings_are_one_line(tmp_path, capsys, emb):
    x, path = emb
    codes = tmp_path / "c.npz"
    src = GOLDEN / "cohere_v2_by_type.json"
    assert run(capsys, "decode", str(src), "--output-dtype", "int8", "-o", str(codes))[0] == 0
    status, _, err = run(capsys, "search", str(codes), str(codes), "--metric", "hamming", "-k", "1")
    assert status == 1 and "--metric: 'hamming'" in err and "--metric dot or --metric cosine" in err
    assert "metric=" not in err
    status, _, err = run(capsys, "decode", str(src), "--output-dtype", "int9", "-o", str(tmp_path / "o.npz"))
    assert status == 2 and err.startswith("quantlib decode: error: --output-dtype: ") and "output_dtype" not in err
    status, _, err = run(capsys, "decode", str(src), "--output-dtype", "binary", "--output-dimension", "24",
                         "-o", str(tmp_path / "o.npz"))
    assert status == 1 and "--output-dimension 24 but" in err and "output_dimension" not in err
    calib = tmp_path / "calib.npy"
    np.save(calib, x[:, :20])
    status, _, err = run(capsys, "quantize", path, "-p", "int8", "--calibration", str(calib), "-o", str(codes))
    assert status == 1 and err.startswith(f"quantlib quantize: error: --calibration: {calib} has dimension 20; ")
    np.save(calib, x[:50])
    status, _, err = run(capsys, "quantize", path, "-p", "int8", "--calibration", str(calib), "-o", str(codes))
    assert status == 0
    assert err == ("quantlib: warning: --calibration: int8/uint8 ranges computed from 50 row(s); quantization is "
                   "more stable with --ranges or a --calibration file of at least 100 rows\n")


def test_search_over_bits_says_the_column_is_a_hamming_distance(tmp_path, capsys, emb):
    x, path = emb
    codes, q = tmp_path / "b.npz", tmp_path / "q.npy"
    np.save(q, x[:2])
    assert run(capsys, "quantize", path, "-p", "ubinary", "-o", str(codes))[0] == 0
    status, out, err = run(capsys, "search", str(codes), str(q), "-k", "3")
    assert status == 0 and out.splitlines()[0] == "query\trank\tindex\thamming_distance"
    assert "Hamming distance" in err and "lower is better" in err
    distances = [int(line.split("\t")[3]) for line in out.splitlines()[1:4]]
    assert distances == sorted(distances)
    status, out, _ = run(capsys, "search", str(codes), str(q), "-k", "3", "-o", str(tmp_path / "r.npz"))
    assert status == 0 and "scores are Hamming distances (bits that differ): lower is better" in out
    assert str(_members(tmp_path / "r.npz")["metric"]) == "hamming"
    # rescored, the scores are cosine similarities again
    status, out, _ = run(capsys, "search", str(codes), str(q), "-k", "3", "--rescore", path)
    assert status == 0 and out.splitlines()[0] == "query\trank\tindex\tscore"


@pytest.mark.parametrize("dtype", [">f4", ">f2"])
def test_dequantize_accepts_big_endian_float_codes(tmp_path, capsys, emb, dtype):
    from quantlib import cli
    from quantlib.codecs import get_codec

    x, _ = emb
    precision = "float32" if dtype == ">f4" else "float16"
    codes = x.astype(dtype)
    cli.save_codes(str(tmp_path / "be.npz"), codes, get_codec(precision).get_config(), x.shape[1])
    status, _, err = run(capsys, "dequantize", str(tmp_path / "be.npz"), "-o", str(tmp_path / "y.npy"))
    assert status == 0, err
    assert np.load(tmp_path / "y.npy").tobytes() == codes.astype(np.float32).tobytes()


def test_code_queries_must_come_from_the_corpus_codec(tmp_path, capsys, emb):
    x, path = emb
    other = tmp_path / "other.npy"
    np.save(other, x[:150] * 2)
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    assert run(capsys, "quantize", path, "-p", "int8", "-o", str(a))[0] == 0
    assert run(capsys, "quantize", str(other), "-p", "int8", "-o", str(b))[0] == 0
    status, out, _ = run(capsys, "search", str(a), str(a), "-k", "1")
    assert status == 0 and [line.split("\t")[2] for line in out.splitlines()[1:4]] == ["0", "1", "2"]
    status, _, err = run(capsys, "search", str(a), str(b), "-k", "1")  # same precision, other ranges
    assert status == 1 and "holds codes of another codec than CORPUS's" in err


def test_decode_multivector_bits_record_their_precision_and_concatenate(tmp_path, capsys):
    first = {"object": "list", "model": "jina-colbert-v2", "usage": {"total_tokens": 3},
             "data": [{"object": "embedding", "index": 1, "embeddings": [[3, 0]]},
                      {"object": "embedding", "index": 0, "embeddings": [[77, 128], [12, 0]]}]}
    second = json.loads(json.dumps(first))
    second["data"] = [{"object": "embedding", "index": 0, "embeddings": [[255, 128]]}]
    src = tmp_path / "mv.jsonl"
    src.write_text(json.dumps(first) + "\n" + json.dumps(second) + "\n")
    status, out, err = run(capsys, "decode", str(src), "--output-dtype", "ubinary", "--output-dimension", "9",
                           "-o", str(tmp_path / "mv"))
    assert (status, err) == (0, "") and "3 multi-vector inputs (4 vectors)" in out and "from 2 responses" in out
    got = _members(tmp_path / "mv.npz")
    assert got["multivector_offsets"].tolist() == [0, 2, 3, 4]
    assert got["multivectors"].tolist() == [[77, 128], [12, 0], [3, 0], [255, 128]]
    assert (str(got["multivector_precision"]), int(got["multivector_dim"])) == ("ubinary", 9)
