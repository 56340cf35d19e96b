"""Providers as records: what :func:`~quantlib.decode_response` knows about each embedding API.

A :class:`Provider` says everything the decoder needs about one API: its
name and aliases, how its successful payload is recognised (``detect``), how
it is decoded (``decode``), and how its error payloads look
(:class:`ErrorShape`).  ``decode_response`` asks the registered records, in
registration order, and has no provider names of its own; a new provider is
one module with its record, registered with :func:`register_provider`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import ConfigError, PayloadError, ProviderError, short_repr

if TYPE_CHECKING:
    from ..precision import PrecisionInfo
    from ._common import EmbeddingResponse

__all__ = [
    "PROVIDERS",
    "DecodeRequest",
    "ErrorShape",
    "Provider",
    "get_provider",
    "register_provider",
    "registered_providers",
    "unregister_provider",
]


class DecodeRequest(NamedTuple):
    """What :func:`~quantlib.decode_response` was asked, as a record's ``decode`` receives it.

    Attributes
    ----------
    output_dtype : object
        The request's ``output_dtype`` as the caller wrote it (None when not given).
    info : PrecisionInfo or None
        ``output_dtype`` as a precision (``"base64"`` is float32); None when not given.
    output_dimension : int or None
        The request's dimension, already checked to be a positive integer.
    provider : str or None
        The provider the caller named (canonical name), or None when it was detected.
    what : str
        How messages name the payload's top level (``"an object"``, or an SDK object's type).
    """

    output_dtype: Any = None
    info: PrecisionInfo | None = None
    output_dimension: int | None = None
    provider: str | None = None
    what: str = "an object"

    def require(self, root: Mapping[str, Any], key: str) -> None:
        """Raise a :class:`~quantlib.PayloadError` unless ``root[key]`` is present (and not None)."""
        if root.get(key) is None:
            raise PayloadError(
                f"{key}: missing; provider={self.provider!r} responses carry {key!r}, got {self.what} with keys "
                f"{sorted(map(str, root))[:12]}"
            )


@dataclass(frozen=True)
class ErrorShape:
    """One way a provider says that the request failed.

    Attributes
    ----------
    read : callable
        ``read(root)`` gives ``(message, code)`` when ``root`` is this error
        payload, else None.  The message is text (or any value, shown short);
        the code may be None.
    keys : tuple of str
        The top-level keys that carry it (an SDK object holding one of them
        is read through its attributes).
    shape : str
        How it looks, for the message about a payload of no known shape.
    beside_embeddings : bool
        Whether it counts even when the payload also carries embeddings
        (OpenAI's ``"error"`` does); otherwise it is looked for only in a
        payload without any provider's embedding keys.
    """

    read: Callable[[Mapping[str, Any]], tuple[Any, Any] | None]
    keys: tuple[str, ...]
    shape: str
    beside_embeddings: bool = False


@dataclass(frozen=True)
class Provider:
    """One embedding API, as :func:`~quantlib.decode_response` reads it.

    Attributes
    ----------
    name : str
        The canonical name (``provider=`` and ``EmbeddingResponse.provider``), lower case.
    decode : callable
        ``decode(root, request)`` turns the payload's top-level mapping and the
        :class:`DecodeRequest` into an :class:`~quantlib.EmbeddingResponse`;
        it raises quantlib errors that name the field that is wrong.
    aliases : tuple of str
        Other names ``provider=`` accepts for it (lower case).
    detect : callable or None
        ``detect(root)`` tells whether an unnamed payload is this provider's
        successful response.  Records are asked in registration order and the
        first that says yes decodes; None for a provider that is only named
        (or that another record's decoder reports, such as Jina behind the
        OpenAI shape).
    keys : tuple of str
        The top-level keys of its successful payload: a payload holding one of
        any record's keys is not read as an error by the shapes that do not
        count beside embeddings.
    shape : str
        How its payload looks, for the message about a payload of no known shape.
    errors : tuple of ErrorShape
        Its error payloads, asked in registration order (all records'
        ``beside_embeddings`` shapes first).
    models : tuple of str
        Model-name prefixes (lower case, after any ``org/``) that name this
        provider when an OpenAI-compatible response does not say it.
    base64 : str or None
        The precision its base64 rows hold when ``output_dtype`` does not say
        (``"float32"`` for OpenAI and Jina); None when the bytes could be
        several (Voyage's int8, uint8 or float32).
    """

    name: str
    decode: Callable[[Mapping[str, Any], DecodeRequest], EmbeddingResponse]
    aliases: tuple[str, ...] = ()
    detect: Callable[[Mapping[str, Any]], bool] | None = None
    keys: tuple[str, ...] = ()
    shape: str = ""
    errors: tuple[ErrorShape, ...] = ()
    models: tuple[str, ...] = ()
    base64: str | None = None


#: The built-in provider names ``decode_response(provider=...)`` takes, in the order messages list them
#: (registered records add theirs after).
PROVIDERS = ("openai", "voyage", "jina", "cohere", "dashscope")


class _State:
    """One consistent set of records and what the decoder derives from them (computed once per change)."""

    __slots__ = ("beside", "models", "names", "others", "payload_keys", "records", "success_keys")

    def __init__(self, records: tuple[Provider, ...], names: dict[str, Provider]) -> None:
        self.records = records
        self.names = names  # every name and alias
        self.success_keys = tuple(dict.fromkeys(k for r in records for k in r.keys))
        self.payload_keys = tuple(dict.fromkeys(
            [*self.success_keys, *(k for r in records for e in r.errors for k in e.keys)]))
        self.beside = tuple((r.name, e) for r in records for e in r.errors if e.beside_embeddings)
        self.others = tuple((r.name, e) for r in records for e in r.errors if not e.beside_embeddings)
        self.models = tuple((r.models, r) for r in records if r.models)


class _Registry:
    """The records, replaced whole on every change (under a lock), so that a decode reads one consistent set."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.state = _State((), {})

    @property
    def records(self) -> tuple[Provider, ...]:
        return self.state.records

    @property
    def names(self) -> dict[str, Provider]:
        return self.state.names

    def publish(self, records: tuple[Provider, ...], names: dict[str, Provider]) -> None:
        self.state = _State(records, names)


_REGISTRY = _Registry()


def register_provider(record: Provider, *, replace: bool = False) -> Provider:
    """Add a provider record; :func:`~quantlib.decode_response` then names and detects it.

    Records are asked in registration order (the built-ins first), for
    detection and for error shapes; see "Adding a provider" in the docs.

    Parameters
    ----------
    record : Provider
        The record.  Its name and aliases must be new (lower case, no spaces).
    replace : bool
        Replace the record of the same name, in its place in the order (its old aliases are dropped).

    Returns
    -------
    Provider
        ``record``, so that a module can write ``ACME = register_provider(Provider(...))``.

    Raises
    ------
    ConfigError
        ``record`` is not a Provider, or one of its names is taken.
    """
    if not isinstance(record, Provider):
        raise ConfigError(f"record: expected a quantlib.providers.Provider, got {type(record).__name__}")
    if not callable(record.decode) or not (record.detect is None or callable(record.detect)):
        raise ConfigError(f"record: decode (and detect, unless None) must be callable, got {record!r}")
    for shape in record.errors:
        if not isinstance(shape, ErrorShape) or not callable(shape.read):
            raise ConfigError(f"record.errors: expected ErrorShape records with a callable read, got {shape!r}")
    words = (record.name, *record.aliases)
    for word in words:
        if not isinstance(word, str) or not word or word != word.strip().lower() or " " in word:
            raise ConfigError(f"record: provider names are lower-case words without spaces, got {short_repr(word)}")
    with _REGISTRY.lock:
        old = _REGISTRY.names.get(record.name) if replace else None
        records = tuple(r for r in _REGISTRY.records if r is not old)
        names = {w: r for w, r in _REGISTRY.names.items() if r is not old}
        for word in words:
            if word in names or words.count(word) > 1:
                owner = names[word].name if word in names else record.name
                raise ConfigError(
                    f"record: the provider name {word!r} is taken (by {owner!r}); pass replace=True to replace "
                    "a record"
                )
        at = _REGISTRY.records.index(old) if old is not None else len(records)
        _REGISTRY.publish((*records[:at], record, *records[at:]), {**names, **dict.fromkeys(words, record)})
    return record


def unregister_provider(name: str) -> Provider:
    """Remove the record named ``name`` (or one of its aliases) and return it.

    Raises
    ------
    ConfigError
        No record has that name.
    """
    with _REGISTRY.lock:
        record = get_provider(name)
        _REGISTRY.publish(tuple(r for r in _REGISTRY.records if r is not record),
                          {w: r for w, r in _REGISTRY.names.items() if r is not record})
    return record


def registered_providers() -> tuple[Provider, ...]:
    """The registered records, in registration order (the order detection asks them in)."""
    return _REGISTRY.records


def get_provider(name: Any) -> Provider:
    """The record for a name or an alias (any case, spaces around it ignored).

    Raises
    ------
    ConfigError
        No record has that name.

    Examples
    --------
    >>> get_provider(" OVH ").name
    'openai'
    """
    word = name.strip().lower() if isinstance(name, str) else None
    record = _REGISTRY.names.get(word) if word is not None else None
    if record is None:
        names = dict.fromkeys((*PROVIDERS, *(r.name for r in _REGISTRY.records)))
        raise ConfigError(
            f"provider: expected one of {', '.join(names)} (or None to detect), got {short_repr(name)}"
        )
    return record


def detect_provider(root: Mapping[str, Any], what: str) -> Provider:
    """The first record whose ``detect`` recognises ``root``, or the PayloadError listing every shape tried."""
    records = _REGISTRY.records
    for record in records:
        if record.detect is not None and record.detect(root):
            return record
    shapes = [r.shape for r in records if r.shape]
    raise PayloadError(
        f"payload: unknown shape, {what} with keys {sorted(map(str, root))[:12]}; tried "
        + "; ".join([*shapes, error_shapes()])
    )


def model_provider(model: str | None) -> Provider | None:
    """The record whose ``models`` prefixes the model name (after any ``org/``), if any."""
    if not model:
        return None
    name = model.rsplit("/", 1)[-1].lower()
    for prefixes, record in _REGISTRY.state.models:
        if name.startswith(prefixes):
            return record
    return None


def payload_keys() -> tuple[str, ...]:
    """Every top-level key that marks a payload (success or error) of some registered provider."""
    return _REGISTRY.state.payload_keys


def error_shapes() -> str:
    """The registered error shapes, for the message about a payload of no known shape."""
    return "error payloads " + ", ".join(e.shape for r in _REGISTRY.records for e in r.errors)


def find_error(root: Mapping[str, Any], provider: str | None) -> ProviderError | None:
    """The :class:`~quantlib.ProviderError` that ``root`` is, as the registered error shapes read it, or None.

    Shapes that count beside embeddings are asked first; then, if ``root``
    carries no provider's embedding keys, the others, in registration order.
    A bare ``message`` or ``code`` that no shape claims is an error of an
    unknown provider.
    """
    state = _REGISTRY.state
    for shapes in (state.beside, state.others):
        if shapes is state.others and any(root.get(key) is not None for key in state.success_keys):
            return None
        for name, shape in shapes:
            found = shape.read(root)
            if found is not None:
                message, code = found
                return ProviderError(as_text(message), provider=provider or name, code=code)
    message, code = root.get("message"), root.get("code")
    if message or code:
        return ProviderError(as_text(message or ""), provider=provider, code=code or None)
    return None


def as_text(value: Any) -> str:
    """A provider's message as text: strings as they are, anything else shown short (it may be huge or deep)."""
    return value if isinstance(value, str) else short_repr(value, 500)
