"""Codec configs keep their checksum through other programs' JSON (PostgreSQL jsonb, JavaScript, Go, Java).

A version-2 config failed its own checksum after ``SELECT %s::jsonb`` (-0.0
became 0) or a JavaScript round trip (1.0 became 1).  Version 3 checksums
normalised numbers; version 2 configs are read back with their numbers'
spellings repaired.  tests/golden/config-transport holds configs written by
each version and the text real jsonb printed for them.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import quantlib as ql
from quantlib import _checksum
from quantlib import _reference as R
from quantlib.codecs import base

GOLDEN = Path(__file__).parent / "golden" / "config-transport"
VERSIONS = sorted(int(p.stem.split("-v")[1]) for p in GOLDEN.glob("written-v*.json"))


# ------------------------------------------------------------------ other programs' JSON, emulated


def _jsonb_number(d: Decimal) -> str:
    """PostgreSQL numeric output: plain notation (no exponent), the scale kept, no negative zero."""
    text = format(d, "f")
    return text[1:] if text.startswith("-") and d == 0 else text


def _js_number(v: float | int) -> str:
    """JavaScript's Number.prototype.toString: integral values without '.0', -0 as 0, e-7 and e+21."""
    f = float(v)
    if f == 0:
        return "0"
    if f == int(f) and abs(f) < 1e21:
        return str(int(f))
    text = repr(f)
    if "e" in text:
        mant, exp = text.split("e")
        return f"{mant}e{'+' if int(exp) > 0 else '-'}{abs(int(exp))}"
    return text


def _java_number(v: float | int) -> str:
    """Java's Double.toString: always a '.0' or a fraction, exponents as 1.0E-7 below 1e-3 and from 1e7."""
    f = float(v)
    if f != 0 and (abs(f) < 1e-3 or abs(f) >= 1e7):
        sign, digits, exp = Decimal(repr(f)).as_tuple()
        text = "".join(map(str, digits)).rstrip("0") or "0"
        power = exp + len(digits) - 1
        return f"{'-' if sign else ''}{text[0]}.{text[1:] or '0'}E{power}"
    return repr(f)


def _dump(value, number, *, order=sorted, sep=(",", ":")) -> str:
    if isinstance(value, dict):
        keys = order(list(value))
        return "{" + sep[0].join(json.dumps(k) + sep[1] + _dump(value[k], number, order=order, sep=sep)
                                 for k in keys) + "}"
    if isinstance(value, list):
        return "[" + sep[0].join(_dump(v, number, order=order, sep=sep) for v in value) + "]"
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return number(value)
    return json.dumps(value)


def _jsonb_order(keys: list[str]) -> list[str]:
    """jsonb stores object keys shorter first, then bytewise."""
    return sorted(keys, key=lambda k: (len(k.encode()), k.encode()))


def through_jsonb(config: dict) -> dict:
    text = json.dumps(config)
    parsed = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    return json.loads(_dump(parsed, _jsonb_number, order=_jsonb_order, sep=(", ", ": ")))


def through_javascript(config: dict) -> dict:
    return json.loads(_dump(config, _js_number, order=lambda keys: keys))


def through_java(config: dict) -> dict:
    return json.loads(_dump(config, _java_number, order=lambda keys: keys[::-1], sep=(",\n  ", " : ")))


def reordered_and_spaced(config: dict) -> dict:
    return json.loads(json.dumps(dict(reversed(list(config.items()))), indent=3, separators=(" ,", " :  ")))


TRANSPORTS = {"jsonb": through_jsonb, "javascript": through_javascript, "java": through_java,
              "reordered": reordered_and_spaced,
              "all": lambda c: through_java(through_javascript(through_jsonb(reordered_and_spaced(c))))}


def _written(version: int) -> list[dict]:
    return json.loads((GOLDEN / f"written-v{version}.json").read_text())


def test_the_emulations_change_what_the_issue_says():
    config = {"a": [-0.0, 1.0, 1e-07, 3e20], "b": 2}
    assert json.dumps(through_jsonb(config)) == '{"a": [0.0, 1.0, 1e-07, 300000000000000000000], "b": 2}'
    assert json.dumps(through_javascript(config)) == '{"a": [0, 1, 1e-07, 300000000000000000000], "b": 2}'
    assert _java_number(1e-07) == "1.0E-7" and _java_number(1.0) == "1.0"


# ------------------------------------------------------------------ every version survives every transport


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("version", VERSIONS)
def test_written_configs_survive_other_programs_json(version, transport):
    """A version-2 config with -0.0 or 1.0 in its ranges failed its checksum after jsonb or JavaScript."""
    for config in _written(version):
        assert config["version"] == version
        want = ql.codec_from_config(config)
        moved = TRANSPORTS[transport](config)
        got = ql.codec_from_config(moved)
        assert got == want and hash(got) == hash(want)
        if isinstance(want, ql.ScalarCodec):
            assert got.ranges.tobytes() == want.ranges.tobytes() and got.rounding == want.rounding


@pytest.mark.parametrize("version", VERSIONS)
def test_real_jsonb_text_reads_back(version):
    """What PostgreSQL 16 printed for ``%s::jsonb`` of each config, kept as text."""
    texts = json.loads((GOLDEN / f"jsonb-v{version}.json").read_text())
    written = _written(version)
    assert len(texts) == len(written)
    for text, config in zip(texts, written, strict=True):
        assert ql.codec_from_config(json.loads(text)) == ql.codec_from_config(config)
    # what jsonb did to them: no -0.0 is left, 3e20 became an integer
    assert "-0.0," not in texts[0] and "300000006012263200000" in texts[0]


def test_current_configs_survive_other_programs_json():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((200, 16)).astype(np.float32)
    x[:, 0] = -np.abs(x[:, 0])
    x[:, 0].flat[0] = -0.0
    x[:, 1] = np.round(x[:, 1])
    codecs = [ql.ScalarCodec.fit(x, "int8"), ql.ScalarCodec.fit(x, "uint8", rounding="truncate"),
              ql.get_codec("float32"), ql.get_codec("binary")]
    for codec in codecs:
        config = codec.get_config()
        assert config["version"] == base.CONFIG_VERSION
        for transport in TRANSPORTS.values():
            assert ql.codec_from_config(transport(config)) == codec


def test_the_sample_codec_of_the_issue():
    """``ScalarCodec.fit(sample_documents[:2000], "int8")`` has a -0.0 in its ranges; jsonb wrote it as 0."""
    from quantlib.sample import load_sample

    documents = load_sample().documents[:2000]
    assert np.signbit(documents.max(axis=0)[documents.max(axis=0) == 0]).any()  # a -0.0 maximum
    codec = ql.ScalarCodec.fit(documents, "int8")
    assert not np.signbit(codec.ranges[codec.ranges == 0]).any()  # kept as 0.0
    for transport in TRANSPORTS.values():
        assert ql.codec_from_config(transport(codec.get_config())) == codec


def test_changed_values_are_still_refused_after_transport():
    for version in VERSIONS:
        config = _written(version)[0]
        moved = through_jsonb(config)
        moved["ranges"][1][1] = 1.5
        with pytest.raises(ql.ConfigError, match="config: the checksum says crc32:"):
            ql.codec_from_config(moved)
        moved = through_javascript(config)
        moved["ranges"][0][0] = -1e-30  # a zero made nonzero is a change, whatever its sign
        with pytest.raises(ql.ConfigError, match="config: the checksum says crc32:"):
            ql.codec_from_config(moved)


# ------------------------------------------------------------------ -0.0 and 0.0 in ranges


@given(st.data())
def test_negative_zero_ranges_code_and_decode_as_positive_zero(data):
    """Codecs that differ only by -0.0 vs 0.0 encode identically, so they are one codec: equal, same hash."""
    d = data.draw(st.integers(1, 6), label="d")
    lo = np.array(data.draw(st.lists(st.sampled_from([-0.0, 0.0, -1.0, -0.5]), min_size=d, max_size=d)), np.float32)
    hi = np.array(data.draw(st.lists(st.sampled_from([-0.0, 0.0, 0.5, 1.0]), min_size=d, max_size=d)), np.float32)
    hi = np.maximum(hi, lo)
    x = np.array(data.draw(st.lists(st.lists(st.sampled_from([-0.0, 0.0, -0.25, 0.3, 1.0, -2.0]),
                                             min_size=d, max_size=d), min_size=1, max_size=4)), np.float32)
    precision = data.draw(st.sampled_from(["int8", "uint8"]), label="precision")
    rounding = data.draw(st.sampled_from(["nearest", "floor", "truncate"]), label="rounding")
    signed = np.stack([lo, hi])
    plain = signed + np.float32(0)
    a = ql.ScalarCodec(precision, signed, rounding=rounding)
    b = ql.ScalarCodec(precision, plain, rounding=rounding)
    assert a == b and hash(a) == hash(b) and a.get_config() == b.get_config()
    try:
        codes = a.encode(x)
    except ql.OutOfRangeError:  # truncate refuses codes sentence-transformers < 5.7 would wrap
        assert rounding == "truncate"
        return
    assert np.array_equal(codes, R.scalar_encode(x, signed, precision, rounding))  # the twin, -0.0 as given
    assert a.decode(a.encode(x)).tobytes() == b.decode(b.encode(x)).tobytes()


# ------------------------------------------------------------------ the canonical form


def _json_values():
    numbers = st.floats(allow_nan=False, allow_infinity=False, width=32) | st.integers(-2**40, 2**40)
    leaves = numbers | st.text(max_size=4) | st.booleans() | st.none()
    return st.recursive(leaves, lambda kids: st.lists(kids, max_size=4)
                        | st.dictionaries(st.text(max_size=4), kids, max_size=4), max_leaves=12)


@given(st.dictionaries(st.text(max_size=6), _json_values(), max_size=5))
def test_normalised_checksum_ignores_how_numbers_are_spelled(record):
    want = _checksum.record_checksum(record, numbers=True)
    for transport in (through_jsonb, through_javascript, through_java, reordered_and_spaced):
        assert _checksum.record_checksum(transport(record), numbers=True) == want


def test_normalised_numbers():
    text = _checksum.canonical_numbers({"b": [-0.0, 1.0, 1, 1e-07, Decimal("0.0000001"), 2.5, 2**53, True],
                                        "a": None, "checksum": "x"})
    assert text == b'{"a":null,"b":[0,1,1,1e-07,1e-07,2.5,9007199254740992.0,true]}'
    assert math.isclose(float(json.loads(text)["b"][6]), 2**53)
