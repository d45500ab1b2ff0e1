"""The registry fine-tune flow accepts a prompt-aware checkpoint, and its result stays prompt-aware."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

from akmamba.cli import main
from akmamba.finetune.registry import ModelRegistry
from akmamba.nn import load_checkpoint, read_metadata, save_checkpoint
from akmamba.prompt.layout import layout_of
from akmamba.prompt.model import convert_checkpoint


def _finetune_fixtures() -> ModuleType:
    """The fine-tune tests' data helpers (tests/finetune/conftest.py), loaded under a name of their own."""
    path = Path(__file__).resolve().parents[1] / "finetune" / "conftest.py"
    spec = importlib.util.spec_from_file_location("finetune_fixtures", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _restore_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.mark.slow
def test_finetune_keeps_a_prompt_aware_model_prompt_aware(tmp_path: Path, capsys) -> None:
    fixtures = _finetune_fixtures()
    folder = fixtures.make_corrected_folder(tmp_path / "corrected")
    plain = fixtures.make_parent(tmp_path / "plain" / "tiny-discs.safetensors")
    widened = tmp_path / "widened.safetensors"
    convert_checkpoint(plain, widened, name="tiny-discs")
    # as after prompt training: guidance weights that are not zero
    model, meta = load_checkpoint(widened)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    parent = tmp_path / "models" / "tiny-discs.safetensors"
    save_checkpoint(model, parent, metadata={k: v for k, v in meta.items() if k != "model"})
    want = layout_of(read_metadata(parent))
    reg = tmp_path / "reg"
    code = main(["finetune", "--model", str(parent), "--data", str(folder), "--registry", str(reg), "--jsonl",
                 "--force-promote", "--device", "cpu", "--patch-size", "16", "16", "--batch-size", "2",
                 "--max-steps", "4", "--no-baseline", "--threads", "1", "--lr", "5e-3"])
    assert code == 0
    kinds = [json.loads(line)["event"] for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert "registered" in kinds
    v2 = ModelRegistry(reg).active("tiny-discs")
    assert v2.id == "v2"
    meta = read_metadata(v2.model_path)
    assert want is not None
    assert layout_of(meta) == want
    model, _ = load_checkpoint(v2.model_path)
    x = torch.randn(1, 1, 20, 20)
    with torch.no_grad():  # it still takes guidance: a click channel changes the logits of the trained model
        g = torch.zeros(1, want.num_channels, 20, 20)
        g[0, 0, 5:9, 5:9] = 1.0
        a, b = model(x), model(torch.cat([x, g], 1))
    assert a.shape == (1, 2, 20, 20)
    assert not np.allclose(a.numpy(), b.numpy())
