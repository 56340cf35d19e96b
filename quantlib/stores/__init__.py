"""quantlib's arrays in the formats of the stores users run.

One module per store, each importing its optional extra only when it is used
(``import quantlib`` and ``import quantlib.stores`` never do):

- :mod:`quantlib.stores.arrow`: Arrow columns and Parquet files (extra ``arrow``).
- :mod:`quantlib.stores.lancedb`: LanceDB tables of those columns (extra ``lancedb``).
- :mod:`quantlib.stores.pgvector`: pgvector's ``vector``, ``halfvec``, ``bit`` and
  ``sparsevec``, and COPY BINARY (extra ``pgvector``).
"""
