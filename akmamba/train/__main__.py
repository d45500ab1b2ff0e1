"""``python -m akmamba.train`` (the same as ``akmamba train``)."""

import sys

from akmamba.train.runner import main

sys.exit(main())
