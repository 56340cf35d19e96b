"""`quantlib eval`: its recommendation, the plain-store mark, the compile notice, the plot, and install hints."""

from __future__ import annotations

import io
import json
import re
import sys
import tomllib
from pathlib import Path

import numba
import numpy as np
import pytest

from quantlib.cli import compile_notice, main
from quantlib.evaluation import EvalRow, format_recommendations, recommend, row_label

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DIST = PYPROJECT["project"]["name"]
EXTRAS = set(PYPROJECT["project"]["optional-dependencies"])


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def emb(tmp_path):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((400, 48)).astype(np.float32)
    path = tmp_path / "x.npy"
    np.save(path, x)
    return str(path)


#: The rows of `quantlib eval` on the bundled sample (README), where the old plot's labels overprinted.
SAMPLE = [
    ("float32", "exact", 384, 1536, 1.000, None, True), ("float16", "exact", 384, 768, 1.000, 1.000, True),
    ("int8", "dequantized", 384, 384, 0.996, 1.000, False), ("int8", "raw codes", 384, 384, 0.757, 0.986, True),
    ("uint8", "dequantized", 384, 384, 0.996, 1.000, False), ("uint8", "raw codes", 384, 384, 0.502, 0.818, True),
    ("ubinary", "hamming", 384, 48, 0.608, 0.890, True), ("ubinary", "float vs bits", 384, 48, 0.694, 0.950, False),
    ("ubinary", "hamming", 256, 32, 0.498, 0.785, True), ("ubinary", "float vs bits", 256, 32, 0.616, 0.876, False),
    ("ubinary", "hamming", 128, 16, 0.324, 0.548, True), ("ubinary", "float vs bits", 128, 16, 0.416, 0.709, False),
    ("ubinary", "hamming", 64, 8, 0.143, 0.344, True), ("ubinary", "float vs bits", 64, 8, 0.226, 0.477, False),
    ("float32", "exact", 256, 1024, 0.764, 0.946, True), ("float32", "exact", 128, 512, 0.529, 0.807, True),
    ("float32", "exact", 64, 256, 0.397, 0.645, True),
]


def sample_rows():
    return [EvalRow(p, s, d, b, 1536 / b, r, rr, 0.1, None if rr is None else 0.2, plain_store=plain)
            for p, s, d, b, r, rr, plain in SAMPLE]


# ---------------------------------------------------------------------------- point 13: the recommendation


def test_recommend_picks_the_smallest_format_reaching_each_level_alone_and_rescored():
    recs = recommend(sample_rows())
    got = [(r.min_recall, r.rescored, row_label(r.row, 384), r.row.bytes_per_vector) for r in recs]
    assert got == [
        (0.95, False, "int8 dequantized", 384),  # ties at 384 bytes: the higher recall, then the earlier row
        (0.95, True, "ubinary float vs bits", 48),
        (0.99, False, "int8 dequantized", 384),
        (0.99, True, "int8 dequantized", 384),
    ]
    # nothing reaches it: said, not made up
    (rec,) = recommend(sample_rows()[1:], [1.0])[:1]
    assert rec.row.precision == "float16"
    low = [r for r in sample_rows() if r.recall < 0.9 and (r.recall_rescored or 0) < 0.9]
    assert [r.row for r in recommend(low, [0.9])] == [None, None]
    assert "none reaches it" in format_recommendations(recommend(low, [0.9]), 10)


def test_recommend_prefers_a_plain_store_row_among_equals():
    a = EvalRow("int8", "dequantized", 8, 8, 4.0, 0.97, 0.99, 0.1, 0.1, plain_store=False)
    b = EvalRow("int8", "raw codes", 8, 8, 4.0, 0.97, 0.99, 0.1, 0.1, plain_store=True)
    assert recommend([a, b], [0.95])[0].row is b


def test_eval_ends_with_the_recommendation_and_json_carries_it(capsys, emb):
    status, out, _ = run(capsys, "eval", emb, "-k", "5")
    assert status == 0
    last = out.rstrip("\n").splitlines()[-2:]
    assert [line.split(":")[0] for line in last] == ["smallest for recall@5 >= 0.95", "smallest for recall@5 >= 0.99"]
    assert all("with rescoring: " in line for line in last)

    status, out, _ = run(capsys, "eval", emb, "-k", "5", "--json")
    report = json.loads(out)
    rows = report["rows"]
    recs = report["recommendation"]
    assert [(r["min_recall"], r["rescored"]) for r in recs] == [(0.95, False), (0.95, True), (0.99, False),
                                                                 (0.99, True)]
    for rec in recs:  # brute force over the rows the same report printed
        key = "recall_rescored" if rec["rescored"] else "recall"
        reach = [r for r in rows if (r[key] if r[key] is not None else r["recall"]) >= rec["min_recall"]]
        assert rec["bytes_per_vector"] == min(r["bytes_per_vector"] for r in reach)
        assert any((r["precision"], r["scoring"], r["dim"]) == (rec["precision"], rec["scoring"], rec["dim"])
                   for r in reach)


def test_eval_marks_the_rows_a_plain_store_reaches(capsys, emb):
    status, out, _ = run(capsys, "eval", emb, "-k", "5", "--json")
    plain = {"exact": True, "raw codes": True, "hamming": True, "dequantized": False, "float vs bits": False,
             "float vs codes": False}
    rows = json.loads(out)["rows"]
    assert {r["scoring"] for r in rows} == set(plain)
    assert all(r["plain_store"] is plain[r["scoring"]] for r in rows)

    status, out, _ = run(capsys, "eval", emb, "-k", "5")
    lines = out.splitlines()
    assert lines[1].split()[-1] == "store"
    table = lines[2:2 + len(rows)]
    assert [line.split()[-1] for line in table] == ["plain" if r["plain_store"] else "quantlib" for r in rows]
    assert any(line.startswith("store: plain = ") for line in lines)


# ---------------------------------------------------------------------------- point 13: the compile notice


def _fresh_kernel():
    # a new function each call: numba compiles it (no cache), as a cold cache compiles quantlib's kernels
    return numba.njit(lambda x: x + 1)


def test_compile_notice_says_it_once_and_only_when_numba_compiles():
    warm = _fresh_kernel()
    warm(1)
    stream = io.StringIO()
    with compile_notice("quantlib eval", stream=stream):
        warm(2)  # already compiled: nothing to say
    assert stream.getvalue() == ""
    with compile_notice("quantlib eval", stream=stream):
        _fresh_kernel()(1)
        _fresh_kernel()(1.5)
    assert stream.getvalue().count("\n") == 1
    assert stream.getvalue().startswith("quantlib eval: compiling numba kernels")
    _fresh_kernel()(1)  # outside the block: the listener is gone
    assert stream.getvalue().count("\n") == 1


def test_eval_prints_the_compile_notice_on_stderr_once(capsys, emb, monkeypatch):
    import quantlib.evaluation as evaluation

    real = evaluation.evaluate

    def cold(*args, **kwargs):  # what a cold numba cache does: kernels compile during the evaluation
        _fresh_kernel()(1)
        _fresh_kernel()(2)
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluation, "evaluate", cold)
    status, out, err = run(capsys, "eval", emb, "-k", "5")
    assert status == 0 and "compiling" not in out
    assert [line for line in err.splitlines() if "compiling numba kernels" in line] == [
        "quantlib eval: compiling numba kernels once, 30 s or more (numba caches them for later runs)"]
    monkeypatch.setattr(evaluation, "evaluate", real)
    status, out, err = run(capsys, "eval", emb, "-k", "5")  # everything compiled in this process already
    assert status == 0 and "compiling" not in err


# ---------------------------------------------------------------------------- point 14: the plot


def _labels(fig):
    return [t for t in fig.findobj(lambda a: a.get_gid() == "row-label")]


def _check_figure(fig, rows):
    from matplotlib.text import Text

    renderer = fig.canvas.get_renderer()
    labels = _labels(fig)
    full = max(r.dim for r in rows)
    assert sorted(t.get_text() for t in labels) == sorted(row_label(r, full) for r in rows)
    assert all(t.get_fontsize() >= 8 for t in labels)
    boxes = [t.get_window_extent(renderer) for t in labels]
    inside = fig.bbox
    for i, a in enumerate(boxes):
        assert inside.x0 <= a.x0 and a.x1 <= inside.x1 and inside.y0 <= a.y0 and a.y1 <= inside.y1, labels[i]
        for j in range(i):
            assert not a.overlaps(boxes[j]), (labels[i].get_text(), labels[j].get_text())
    # each rescored point is joined to its own first stage
    links = fig.findobj(lambda a: a.get_gid() == "rescore-link")
    assert len(links) == sum(r.recall_rescored is not None for r in rows)
    ends = sorted((float(line.get_ydata()[0]), float(line.get_ydata()[1])) for line in links)
    assert ends == sorted((r.recall, r.recall_rescored) for r in rows if r.recall_rescored is not None)
    assert all(line.get_xdata()[0] == line.get_xdata()[1] for line in links)
    # nothing else written runs out of the figure either (title, legend, ticks)
    for t in fig.findobj(Text):
        if t.get_text() and t.get_visible():
            box = t.get_window_extent(renderer)
            assert inside.x0 <= box.x0 and box.x1 <= inside.x1 + 0.5 and box.y1 <= inside.y1 + 0.5, t.get_text()
    width, height = fig.get_size_inches() * fig.dpi
    assert width >= 1000 and height >= 700


def test_plot_of_the_bundled_sample_rows_has_no_colliding_labels():
    from quantlib.evaluation import plot_figure

    rows = sample_rows()
    fig = plot_figure(rows, k=10, title="Recall@10\nbundled sample")
    fig.canvas.draw()
    _check_figure(fig, rows)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_plot_places_labels_of_crowded_random_rows(seed):
    # more rows than eval makes today, many of one size and near one recall: what added codecs may bring
    from quantlib.evaluation import plot_figure

    rng = np.random.default_rng(seed)
    rows = []
    for i in range(24):
        size = int(rng.choice([8, 48, 384, 768, 1536]))
        recall = float(rng.choice([rng.uniform(0, 1), 0.99]))
        rescored = None if i == 0 else min(1.0, recall + float(rng.uniform(0, 0.3)))
        rows.append(EvalRow(f"p{i % 5}", rng.choice(["exact", "raw codes", "hamming"]), 384 - 8 * (i % 7), size,
                            1536 / size, recall, rescored, 0.1, 0.1, plain_store=bool(i % 2)))
    fig = plot_figure(rows, k=10, title="random rows")
    fig.canvas.draw()
    _check_figure(fig, rows)


def test_eval_plot_has_a_title_with_the_data_k_and_candidates(capsys, emb, tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    saved = []
    real_savefig = Figure.savefig

    def savefig(self, *args, **kwargs):
        saved.append(self)
        return real_savefig(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    png = tmp_path / "recall.png"
    status, out, _ = run(capsys, "eval", emb, "-k", "5", "--oversample", "3", "--json", "--plot", str(png))
    assert status == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = [EvalRow(**r) for r in json.loads(out)["rows"]]
    (fig,) = saved
    texts = " ".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")))
    assert "Recall@5 against exact float32 search" in texts
    assert f"held out of {emb}" in texts.replace("\n", "")
    assert "k = 5" in texts and "re-ranks 15 candidates" in texts
    _check_figure(fig, rows)


# ---------------------------------------------------------------------------- point 12: install hints


def test_plot_without_matplotlib_names_the_distribution_of_pyproject(capsys, emb, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    status, _, err = run(capsys, "eval", emb, "--plot", str(tmp_path / "p.png"))
    assert status == 1
    assert f"pip install '{DIST}[plot]'" in err and "plot" in EXTRAS
    assert DIST != "quantlib"  # the index's 'quantlib' is the QuantLib finance library


def _install_commands():
    files = [*sorted((ROOT / "quantlib").rglob("*.py")), *sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]
    for path in files:
        for match in re.finditer(r"pip install ([^\n`]*)", path.read_text()):
            yield path.relative_to(ROOT), match.group(1).split("#")[0]  # not a shell comment after it


def test_every_install_hint_names_this_distribution_and_its_extras():
    found = 0
    for path, args in _install_commands():
        for word in args.split():
            word = word.strip("'\")")
            spec = re.fullmatch(r"(\.|[A-Za-z0-9_.-]+)(?:\[([a-z,]+)\])?", word)
            if word.startswith("-") or spec is None:
                continue
            name, extras = spec.group(1), spec.group(2)
            assert name != "quantlib", f"{path}: pip install {args!r} installs QuantLib, the finance library"
            if name in (".", DIST):
                found += 1
                assert set((extras or "").split(",")) - {""} <= EXTRAS, f"{path}: unknown extra in {args!r}"
    assert found >= 3


def _sh_lines(text):
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.splitlines():
            yield line.split("#")[0].strip()


def test_readme_gives_the_users_install_before_the_developers():
    lines = [line for line in _sh_lines((ROOT / "README.md").read_text()) if line]
    user = lines.index("pip install -e .")
    dev = lines.index('pip install -e ".[dev]"')  # what CI runs, then the tests
    assert user < dev and lines[dev + 1] == "python -m pytest"
    assert "dev" in EXTRAS
