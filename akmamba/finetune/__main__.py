"""``python -m akmamba.finetune`` = ``akmamba finetune``."""

import sys

from akmamba.finetune.runner import main

sys.exit(main())
