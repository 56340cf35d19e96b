"""Exceptions and warnings raised by quantlib.

Every error quantlib raises on purpose derives from :class:`QuantlibError`.
The leaves also derive from the builtin that code written before quantlib
already catches, so ``except ValueError`` keeps working::

    QuantlibError
    ├── ShapeError          (ValueError)  wrong rank, length, width or batch size
    ├── DTypeError          (TypeError)   wrong dtype or Python type
    ├── NonFiniteError      (ValueError)  NaN or inf where it cannot be encoded
    ├── OutOfRangeError     (ValueError)  a value the target format cannot hold
    ├── CalibrationError    (ValueError)  bad ranges or calibration embeddings
    ├── Base64DecodeError   (ValueError)  bad characters, padding or byte length
    ├── UnknownPrecisionError (ValueError) a precision name quantlib does not know
    ├── ConfigError         (ValueError)  a codec config that cannot be read back
    │   └── UnsupportedError              an operation the codec or metric does not have
    ├── PayloadError        (ValueError)  a provider payload of the wrong shape
    └── ProviderError       (ValueError)  an error response that the provider itself returned

    QuantlibWarning (UserWarning)
    └── CalibrationWarning                ranges computed from too few embeddings

Messages name the argument, what was expected and what came.
"""

from __future__ import annotations

__all__ = [
    "Base64DecodeError",
    "CalibrationError",
    "CalibrationWarning",
    "ConfigError",
    "DTypeError",
    "NonFiniteError",
    "OutOfRangeError",
    "PayloadError",
    "ProviderError",
    "QuantlibError",
    "QuantlibWarning",
    "ShapeError",
    "UnknownPrecisionError",
    "UnsupportedError",
]


class QuantlibError(Exception):
    """Base class of every error that quantlib raises on purpose."""


class ShapeError(QuantlibError, ValueError):
    """An array has the wrong rank, length, code width or batch size."""


class DTypeError(QuantlibError, TypeError):
    """An argument has the wrong dtype or Python type."""


class NonFiniteError(QuantlibError, ValueError):
    """NaN or infinity where the target format cannot represent it."""


class OutOfRangeError(QuantlibError, ValueError):
    """A value lies outside what the target format can hold."""


class CalibrationError(QuantlibError, ValueError):
    """Calibration ranges or calibration embeddings are unusable."""


class Base64DecodeError(QuantlibError, ValueError):
    """Base64 text is malformed or its byte length does not fit the dtype/dimension."""


class UnknownPrecisionError(QuantlibError, ValueError):
    """A precision (dtype word) that quantlib does not know."""


class ConfigError(QuantlibError, ValueError):
    """A codec configuration that cannot be turned back into a codec."""


class UnsupportedError(ConfigError):
    """An operation a codec or a metric does not have: refused, never answered wrongly.

    Truncating codes that cannot be cut, a metric with no meaning for a
    format, a scoring path a plug-in codec did not provide.
    """


class PayloadError(QuantlibError, ValueError):
    """A provider payload that does not have the shape or content expected."""


class ProviderError(QuantlibError, ValueError):
    """An error response returned by an embedding provider.

    Attributes
    ----------
    provider : str or None
        The provider whose error format was recognised.
    message : str
        The provider's own message.
    code : str or int or None
        The provider's error code or type, when it sends one.
    """

    def __init__(self, message: str, *, provider: str | None = None, code: object = None):
        self.provider = provider
        self.message = message
        self.code = code
        where = f"{provider} " if provider else ""
        suffix = f" (code {short_repr(code)})" if code is not None and code != "" else ""
        super().__init__(f"{where}provider returned an error{suffix}: {message}")


def short_repr(value: object, limit: int = 60) -> str:
    """``repr(value)`` for an error message: cut to ``limit`` characters, never raising.

    Outside data can hold what ``repr`` refuses (an integer of more than 4300
    digits) or chokes on (lists nested thousands deep); those are described.

    Examples
    --------
    >>> short_repr("x" * 100, 10), short_repr(10**5000), short_repr([1.5])
    ("'xxxxxxxxx...", 'an integer of 16610 bits', '[1.5]')
    """
    if isinstance(value, int) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        return f"a {type(value).__name__} that cannot be shown"
    return text if len(text) <= limit else text[:limit] + "..."


class QuantlibWarning(UserWarning):
    """Base class of quantlib's warnings."""


class CalibrationWarning(QuantlibWarning):
    """Quantization ranges were computed from few embeddings (fewer than 100)."""
