"""``akmamba prompt-train`` on a CUDA GPU: simulated prompts with the model and batch on the GPU under bf16 autocast,
a few steps of the GPU recipe (strong augmentation, SGD + poly, DataLoader workers) for a tiny U-Net and a tiny
Akmamba-Net, the checkpoint loading, and a resumed run continuing. Skips with a reason where CUDA is missing; run on
the GPU machine (`python3 -m pytest tests/prompt/test_prompt_train_cuda.py -q`)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from akmamba.nn import build_model, load_checkpoint, save_checkpoint
from akmamba.prompt.layout import GuidanceLayout, layout_of
from akmamba.prompt.simulate import PosNegGuidance, simulate_guidance
from akmamba.prompt.train import train_prompt
from akmamba.prompt.train_cli import PromptTrainConfig, main
from tests.prompt.conftest import LABEL_TABLE, tiny_bladder_root

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; torch.cuda.is_available() "
                                                                       "is False")]

LAYOUT = GuidanceLayout.for_labels({1: "wall", 2: "tumor"})


def _plain(path: Path, arch: str) -> Path:
    torch.manual_seed(0)
    model = build_model(arch, 1, 3, base_channels=8, depth=2)
    save_checkpoint(model, path, metadata={"name": f"tiny-{arch}", "label_table": LABEL_TABLE, "version": "1",
                                           "normalisation": "zscore"})
    return path


def test_simulated_prompts_on_cuda_under_bf16_autocast() -> None:
    torch.manual_seed(0)
    model = build_model("unet", 1, 3, base_channels=4, depth=2, guidance=LAYOUT.to_dict()).cuda()
    x = torch.randn(4, 1, 64, 64, device="cuda")
    y = torch.zeros(4, 64, 64, dtype=torch.long, device="cuda")
    y[:, 8:28, 8:28] = 1
    y[:, 40:56, 40:56] = 2
    with torch.autocast("cuda", dtype=torch.bfloat16):
        g = simulate_guidance(model, x, y, PosNegGuidance(LAYOUT, seed=0), p_no_prompt=0.0, max_iters=2, p_box=0.5)
    assert g.device.type == "cuda"
    assert g.dtype == torch.float32
    assert g.shape == (4, LAYOUT.num_channels, 64, 64)
    assert all(bool(t.any()) for t in g)  # every image got prompts
    assert model.training
    with torch.autocast("cuda", dtype=torch.bfloat16):  # prompt-train's default on CUDA: the CPU work on threads
        threaded = simulate_guidance(model, x, y, PosNegGuidance(LAYOUT, seed=0), p_no_prompt=0.0, max_iters=2,
                                     p_box=0.5, workers=4)
    assert torch.equal(threaded, g)


@pytest.mark.parametrize("arch", ["unet", "akmamba"])
def test_prompt_train_on_cuda_saves_loads_and_resumes(tmp_path: Path, arch: str) -> None:
    data = tiny_bladder_root(tmp_path / "data", cases=4, size=64)
    init = _plain(tmp_path / "plain.safetensors", arch)
    cfg: dict[str, Any] = dict(init=str(init), dataset="bladder", data_root=str(data), out_dir=str(tmp_path / "run"),
                               patch_size=64, batch_size=4, max_steps=4, save_every=2, p_no_prompt=0.2,
                               device="cuda", augmentation="strong", optimizer="sgd", lr=0.01, weight_decay=3e-5,
                               lr_schedule="poly", num_workers=2)
    first: list[dict[str, Any]] = []
    for event in train_prompt(PromptTrainConfig(**cfg)):
        first.append(event)
        if event["event"] == "checkpoint":
            break  # cut off after the step-2 checkpoint
    assert first[0]["device"].startswith("cuda")
    assert first[0]["amp"] is True
    losses = [e["loss"] for e in first if e["event"] == "step"]
    assert len(losses) == 2
    assert all(math.isfinite(v) for v in losses)
    model, meta = load_checkpoint(tmp_path / "run" / "last.safetensors")
    assert meta["step"] == 2
    assert layout_of(meta) == LAYOUT
    assert all(torch.isfinite(t).all() for t in model.state_dict().values() if t.is_floating_point())
    assert json.loads((tmp_path / "run" / "last_optim.json").read_text())["record"]["step"] == 2
    second = list(train_prompt(PromptTrainConfig(**cfg, resume=True)))
    assert second[0]["resumed_at_step"] == 2
    assert [e["step"] for e in second if e["event"] == "step"] == [3, 4]
    assert all(math.isfinite(e["loss"]) for e in second if e["event"] == "step")
    assert second[-1]["stopped_by"] == "max_steps"
    _, meta = load_checkpoint(tmp_path / "run" / "last.safetensors")
    assert meta["step"] == 4


def test_cli_no_amp_on_cuda(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tiny_bladder_root(tmp_path / "data", cases=3, size=32)
    init = _plain(tmp_path / "plain.safetensors", "unet")
    code = main(["--init", str(init), "--dataset", "bladder", "--data-root", str(data), "--out", str(tmp_path / "o"),
                 "--device", "cuda", "--no-amp", "--patch-size", "32", "--batch-size", "2", "--max-steps", "2"])
    assert code == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[0]["amp"] is False
    assert events[-1]["steps"] == 2
