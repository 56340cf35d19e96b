"""The shape of the code base that issue 23 asked for, kept: small modules, one width formula."""

from __future__ import annotations

import pathlib

import quantlib

ROOT = pathlib.Path(quantlib.__file__).parent


def test_no_module_is_over_700_lines():
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in ROOT.rglob("*.py")}
    big = {name: n for name, n in sizes.items() if n > 700}
    assert not big, f"split these by concern (docs/developing.md): {big}"


def test_the_packed_width_formula_is_written_once():
    # a code's width for a dimension is PrecisionInfo.width / Codec.width; nothing else works it out
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in ROOT.rglob("*.py")
            for i, line in enumerate(p.read_text().splitlines(), 1) if "+ 7) // 8" in line]
    assert len(hits) <= 1, hits
