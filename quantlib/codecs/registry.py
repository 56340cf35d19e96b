"""Find a codec by its precision name or rebuild it from its config."""

from __future__ import annotations

import inspect
from typing import Any

from .._checksum import record_mismatch
from ..errors import ConfigError, short_repr
from ..precision import precision_info, register_precision, unregister_precision
from .base import Codec

#: (precision name, variant) to the codec class; the variant is None but for
#: codecs that share a precision with another, such as ``"raw"`` int8 codes.
_REGISTRY: dict[tuple[str, str | None], type[Codec]] = {}

#: Config versions codec_from_config reads (see CONFIG_VERSION in base.py).
_READS = (1, 2, 3)


def register_codec(cls: type[Codec] | None = None, *, variant: str | None = None) -> Any:
    """Register ``cls`` for each of its ``precisions``, which join :data:`~quantlib.PRECISIONS`.

    Usable as a decorator, plain or with ``variant=``.  A new precision name
    becomes usable everywhere a precision is taken (``quantize``,
    ``get_codec``, ``search``, ``FlatIndex``...); a name already registered
    to another class is replaced, so a store can register its own codec for
    a name.  ``variant`` registers a second codec for the same precisions,
    chosen by a config that says ``{variant: true}`` (``"raw"`` is how
    uncalibrated int8/uint8 codes say so).

    Examples
    --------
    A toy codec that stores each value rounded to a multiple of 1/16 in int8
    (docs/developing.md walks through a complete one):

    >>> import numpy as np
    >>> from quantlib import Codec, PrecisionInfo, register_codec, get_codec
    >>> @register_codec
    ... class Sixteenths(Codec):
    ...     precisions = (PrecisionInfo("sixteenths", np.dtype("i1"), 8, (), False, "x * 16 in int8"),)
    ...     def encode(self, embeddings):
    ...         return np.clip(np.rint(np.asarray(embeddings) * 16), -128, 127).astype(np.int8)
    ...     def decode(self, codes, *, dim=None):
    ...         return np.asarray(codes, np.float32) / 16
    >>> get_codec("sixteenths").encode([0.5, -1.0])
    array([  8, -16], dtype=int8)
    >>> from quantlib.codecs import unregister_codec
    >>> unregister_codec(Sixteenths)
    """
    def register(c: type[Codec]) -> type[Codec]:
        if not (isinstance(c, type) and issubclass(c, Codec)):
            raise ConfigError(f"cls: expected a Codec subclass, got {short_repr(c)}")
        if not c.precisions:
            raise ConfigError(f"cls: {c.__name__}.precisions names no PrecisionInfo record")
        for info in c.precisions:
            register_precision(info)
            _REGISTRY[(info.name, variant)] = c
        return c

    return register if cls is None else register(cls)


def unregister_codec(cls: type[Codec]) -> None:
    """Undo :func:`register_codec`: ``cls`` and the precisions only it encodes are forgotten (tests use it)."""
    for key in [k for k, v in _REGISTRY.items() if v is cls]:
        del _REGISTRY[key]
    still = {info for c in _REGISTRY.values() for info in c.precisions}
    for info in cls.precisions:
        if info not in still:
            unregister_precision(info)


def registered_precisions() -> tuple[str, ...]:
    """The precision names that have a registered codec."""
    return tuple(dict.fromkeys(name for name, variant in _REGISTRY if variant is None))


def default_codec(precision: Any, name: str = "precision") -> Codec:
    """The codec of codes of ``precision`` when none is given.

    For a calibrated precision that is its ``"raw"`` variant, the codes as
    their own values (int8/uint8: :class:`~quantlib.IntegerCodec`); a
    calibrated precision without one is refused: its codes mean nothing
    without their parameters.
    """
    info = precision_info(precision, name=name)
    if not info.calibrated:
        return codec_class(info)(info.name)
    raw = _REGISTRY.get((info.name, "raw"))
    if raw is None:
        raise ConfigError(f"codec: {info.name} codes need the codec that made them (codec=), got none")
    return raw(info.name)


def codec_class(precision: Any, variant: str | None = None) -> type[Codec]:
    """The codec class registered for ``precision`` (and ``variant``)."""
    name = precision_info(precision).name
    try:
        return _REGISTRY[(name, variant)]
    except KeyError:
        raise ConfigError(f"precision: no codec is registered for {name!r}"
                          + (f" with variant {variant!r}" if variant else "")) from None


def get_codec(precision: str | Codec, **params: Any) -> Codec:
    """The codec of ``precision``, built with ``params`` (``ranges=`` for int8/uint8).

    A parameter the codec does not take, or a missing required one (``ranges``
    for int8/uint8), is a :class:`~quantlib.ConfigError` naming both.

    Examples
    --------
    >>> get_codec("float")
    FloatCodec('float32')
    >>> get_codec("ubinary").code_size(1024)
    128
    """
    if isinstance(precision, Codec):
        if params:
            raise ConfigError(f"precision: a codec instance takes no further parameters, got {sorted(params)}")
        return precision
    name = precision_info(precision).name
    cls = codec_class(name)
    _check_params(cls, name, params)
    return cls(name, **params)


def _check_params(cls: type[Codec], name: str, params: dict[str, Any]) -> None:
    """Refuse a parameter ``cls`` does not take, or a missing required one, as a :class:`ConfigError`.

    Checked against the signature before the call, so a TypeError raised inside
    the constructor is never mistaken for a bad parameter.
    """
    args = list(inspect.signature(cls.__init__).parameters.values())[2:]  # after self and the precision
    if any(a.kind is inspect.Parameter.VAR_KEYWORD for a in args):
        return
    named = [a for a in args if a.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
    takes = [a.name for a in named]
    for key in params:
        if key not in takes:
            accepted = ", ".join(repr(t) for t in takes) if takes else "none"
            raise ConfigError(f"{key}: the {name} codec takes no parameter {key!r} (it takes {accepted})")
    for a in named:
        if a.default is inspect.Parameter.empty and a.name not in params:
            raise ConfigError(f"{a.name}: the {name} codec needs the parameter {a.name!r}, got none")


def codec_from_config(config: dict[str, Any]) -> Codec:
    """Rebuild a codec from ``codec.get_config()`` (for example after ``json.loads``).

    Examples
    --------
    >>> import json
    >>> from quantlib import ScalarCodec
    >>> codec = ScalarCodec("uint8", [[0.0, -1.0], [1.0, 1.0]])
    >>> codec_from_config(json.loads(json.dumps(codec.get_config()))) == codec
    True
    """
    if not isinstance(config, dict) or not isinstance(config.get("id"), str):
        raise ConfigError(f"config: expected a dict with a string 'id', got {short_repr(config, 80)}")
    version = config.get("version", 1)
    if version not in _READS or isinstance(version, bool):
        raise ConfigError(f"config: version {short_repr(version)} is not one this quantlib reads "
                          f"({', '.join(map(str, _READS))})")
    if version >= 2:  # version 1 configs had no checksum
        problem = record_mismatch(config, numbers=True) if version >= 3 else _v2_mismatch(config)
        if problem:
            raise ConfigError(f"config: {problem}")
    try:
        name = precision_info(config["id"], name="config['id']").name
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    variants = [v for (n, v) in _REGISTRY if n == name and v is not None and config.get(v) is True]
    return codec_class(name, variants[0] if variants else None).from_config({**config, "id": name})


#: A version-2 config with at most this many zeros in its ranges is also checked with each sign of them.
_V2_ZERO_SIGNS = 8


def _v2_mismatch(config: dict[str, Any]) -> str | None:
    """:func:`record_mismatch` for version 2, whose checksum is of the numbers' text as Python printed them.

    Another program's JSON may have printed the float ranges differently
    (JavaScript and Go write ``1.0`` as ``1``, PostgreSQL ``jsonb`` writes
    ``-0.0`` as ``0``); the values are the same, so the ranges' integers are
    read back as floats and, when there are few zeros, each sign of them is
    tried.  Version 3 checksums normalised numbers and needs none of this.
    """
    problem = record_mismatch(config)
    if problem is None:
        return None
    config = {**config, "version": 2}  # Java writes 2.0
    ranges = config.get("ranges")
    if not _number_rows(ranges):
        return problem if record_mismatch(config) else None
    try:
        floats = [[float(v) for v in row] for row in ranges]
    except OverflowError:  # an integer beyond any float: no float config printed it
        return problem
    zeros = [(i, j) for i, row in enumerate(floats) for j, v in enumerate(row) if v == 0]
    if len(zeros) > _V2_ZERO_SIGNS:
        zeros = []
    for signs in range(1 << len(zeros)):
        trial = [row[:] for row in floats]
        for b, (i, j) in enumerate(zeros):
            trial[i][j] = -0.0 if signs >> b & 1 else 0.0
        if record_mismatch({**config, "ranges": trial}) is None:
            return None
    return problem


def _number_rows(value: Any) -> bool:
    return (isinstance(value, list) and all(isinstance(row, list) for row in value)
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for row in value for v in row))
