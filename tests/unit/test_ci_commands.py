"""CI runs the README's test command exactly as written, then the rest (slow tests, guard rails, the wheel)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_setup_commands() -> list[str]:
    """The bash blocks of README's "Set up on a fresh machine" section, in order (what check_fresh_install runs)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Set up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)\n\s*```", section, flags=re.S)]


def test_ci_runs_the_readme_test_command_exactly_and_then_everything_else() -> None:
    commands = readme_setup_commands()
    assert len(commands) == 4, commands
    test_command = commands[3]
    assert test_command.endswith('python3 -m pytest -m "not slow"')
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    assert test_command in ci
    after = ci[ci.index(test_command) + 1:]
    for step in ("python3 -m pytest -m slow", "ruff check .", "mypy", "lint-imports", "scripts/check_wheel.sh"):
        assert step in after, f".ci/run lacks {step!r} after the README's test command"
