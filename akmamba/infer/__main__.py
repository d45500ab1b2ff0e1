"""``python -m akmamba.infer predict|evaluate ...``: the headless inference entry point (same as ``akmamba ...``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to ``akmamba predict`` or ``akmamba evaluate``."""
    from akmamba.cli import main as cli_main

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in ("predict", "evaluate"):
        sys.stderr.write("usage: python -m akmamba.infer {predict,evaluate} ... (see `akmamba predict --help`)\n")
        return 2
    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
