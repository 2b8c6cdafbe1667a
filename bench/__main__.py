"""``python -m l1bn.bench``: see :mod:`l1bn.bench.run`."""

import sys

from .run import main

sys.exit(main())
