"""Write ``written-v<N>.json``: codec configs as the quantlib of config version N writes them.

    python tests/golden/config-transport/make_configs.py

Run once per config version (existing files are kept).  The ranges hold what
other programs' JSON spells differently: -0.0 (jsonb and JavaScript write 0),
integral floats (JavaScript and Go write 1.0 as 1), tiny and huge magnitudes
(written 1e-07, 0.0000001 or 1.0E-7).  tests/test_config_transport.py passes
them through those programs' spellings and reads them back.

``jsonb-v<N>.json`` holds the text PostgreSQL (pgserver's 16) printed for
``SELECT (%s::jsonb)::text`` of each config in ``written-v<N>.json``:
-0.0 became 0.0, 3e20 an integer, 1e-07 0.00000010000000116860974, keys
reordered (shorter first), spaces after ``:`` and ``,``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent

RANGES = [[-0.0, -1.0, 1e-07, -2.5e-05, -3.0, 0.0, -0.0, 0.10000000149011612],
          [0.0, 1.0, 2e-07, 1e6, -0.0, 0.0, 1.0, 3.0e20]]


def main() -> int:
    import quantlib as ql
    from quantlib.codecs import base

    path = HERE / f"written-v{base.CONFIG_VERSION}.json"
    if path.exists():
        print(f"{path.name}: exists, kept")
        return 0
    ranges = np.array(RANGES, np.float32)
    codecs = [ql.ScalarCodec("int8", ranges), ql.ScalarCodec("uint8", ranges, rounding="floor"),
              ql.get_codec("float16"), ql.get_codec("ubinary")]
    path.write_text(json.dumps([c.get_config() for c in codecs], indent=1) + "\n")
    print(f"{path.name}: written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
