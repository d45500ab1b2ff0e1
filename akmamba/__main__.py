"""``python -m akmamba COMMAND`` = the ``akmamba`` console script (the viewer runs fine-tunes this way)."""

import sys

from akmamba.cli import main

sys.exit(main())
