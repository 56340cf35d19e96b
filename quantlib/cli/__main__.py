"""``python -m quantlib.cli``: the command line, as ``python -m quantlib``."""

import sys

from . import main

sys.exit(main())
