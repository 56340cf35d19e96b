"""Error payloads: recognise what the providers send instead of embeddings.

Each provider record (:class:`~quantlib.providers.Provider`) lists its error
shapes (:class:`~quantlib.providers.ErrorShape`); :func:`raise_for_error`
asks them in registration order.  The built-in ones:

================  ===========================================================
OpenAI-compatible ``{"error": {"message", "type", "param", "code"}}`` (also
                  DashScope compatible mode; some servers send ``"error"`` as
                  a string, vLLM sends ``{"object": "error", "message", ...}``)
Voyage / MongoDB  ``{"detail": "..."}``; FastAPI servers (Jina) send
                  ``{"detail": [{"loc": [...], "msg": "..."}]}`` on 422
DashScope native  ``{"code", "message", "request_id"}``; a successful
                  response carries ``code`` and ``message`` empty
Cohere            ``{"id", "message"}``
================  ===========================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._common import as_mapping
from ._registry import as_text, find_error

__all__ = ["as_text", "detail_message", "raise_for_error"]


def raise_for_error(root: Mapping[str, Any], provider: str | None = None) -> None:
    """Raise :class:`~quantlib.ProviderError` if ``root`` is an error payload.

    Parameters
    ----------
    root : mapping
        The payload's top-level object.
    provider : str, optional
        The provider to name in the error (else the one whose error shape it is).

    Examples
    --------
    >>> raise_for_error({"detail": "Invalid API key"})
    Traceback (most recent call last):
    ...
    quantlib.errors.ProviderError: voyage provider returned an error: Invalid API key
    >>> raise_for_error({"object": "list", "data": []})  # not an error: returns None
    """
    error = find_error(root, provider)
    if error is not None:
        raise error


def detail_message(detail: Any) -> str:
    """Voyage's string detail, or FastAPI's list of ``{"loc", "msg"}`` validation errors."""
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for item in detail:
            entry = as_mapping(item) if not isinstance(item, str) else None
            if entry is not None and "msg" in entry:
                loc = entry.get("loc")
                where = ".".join(map(as_text, loc)) if isinstance(loc, (list, tuple)) else ""
                parts.append(f"{where}: {as_text(entry['msg'])}" if where else as_text(entry["msg"]))
            else:
                parts.append(as_text(item))
        return "; ".join(parts)
    return as_text(detail)
