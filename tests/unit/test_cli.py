from __future__ import annotations

import json

from akmamba.cli import main


def test_models_lists_architectures(capsys) -> None:
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"akmamba", "unet"} <= {r["name"] for r in rows}


def test_backends_lists_reasons(capsys) -> None:
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    assert "torch" in out
    assert "mamba_ssm" in out
