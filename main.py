"""Start the Akmamba viewer: ``python main.py [PATH]`` (the same as the ``akmamba-viewer`` command)."""

from app import run

if __name__ == "__main__":
    raise SystemExit(run())
