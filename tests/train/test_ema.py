"""Weight averaging (EMA): the average equals its closed form, resume continues it, the best checkpoint says so."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
from torch import nn

from akmamba.errors import ConfigError
from akmamba.nn import build_model, load_checkpoint
from akmamba.train import engine
from akmamba.train.config import TrainConfig
from akmamba.train.ema import WeightEMA


def closed_form(snapshots: list[dict[str, torch.Tensor]], decay: float) -> dict[str, torch.Tensor]:
    """``decay^(T-1) w_1 + sum_{t=2..T} (1 - decay) decay^(T-t) w_t`` in float64, for every float tensor."""
    steps = len(snapshots)
    out = {}
    for name, first in snapshots[0].items():
        if not first.is_floating_point():
            continue
        acc = decay ** (steps - 1) * first.double()
        for t in range(2, steps + 1):
            acc = acc + (1 - decay) * decay ** (steps - t) * snapshots[t - 1][name].double()
        out[name] = acc
    return out


def assert_matches(state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    for name, value in expected.items():
        torch.testing.assert_close(state[name].double(), value, rtol=1e-5, atol=1e-6, msg=name)


def _toy() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))


def _train(model: nn.Module, ema: WeightEMA, steps: int, snapshots: list, seed: int = 0) -> None:
    opt = torch.optim.SGD(model.parameters(), lr=0.3)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(8, 3, generator=gen)
        loss = (model(x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        ema.update(model)
        snapshots.append({k: v.detach().clone() for k, v in model.state_dict().items()})


def test_ema_equals_the_closed_form_average() -> None:
    model = _toy()
    ema = WeightEMA(model, 0.8)
    assert ema.updates == 0
    snapshots: ClassVar[list[dict[str, torch.Tensor]]] = []
    _train(model, ema, 7, snapshots)
    assert ema.updates == 7
    state = ema.module.state_dict()
    expected = closed_form(snapshots, 0.8)
    assert "1.running_mean" in expected  # BatchNorm statistics are averaged like the weights
    assert_matches(state, expected)
    assert int(state["1.num_batches_tracked"]) == int(model.state_dict()["1.num_batches_tracked"]) == 7
    assert not torch.equal(state["0.weight"], model.state_dict()["0.weight"])


def test_ema_save_load_continues_the_average(tmp_path: Path) -> None:
    model = build_model("unet", 1, 2, base_channels=4, depth=2)
    ema = WeightEMA(model, 0.7)
    snapshots: ClassVar[list[dict[str, torch.Tensor]]] = []
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(6):
        if step == 3:  # interrupt: save, rebuild from the file, go on
            ema.save(tmp_path / "ema.safetensors", {"note": "test"})
            _, meta = load_checkpoint(tmp_path / "ema.safetensors")
            assert meta["weights"] == "ema"
            assert meta["ema"] == {"decay": 0.7, "updates": 3}
            ema = WeightEMA(build_model("unet", 1, 2, base_channels=4, depth=2), 0.7)
            ema.load(tmp_path / "ema.safetensors")
            assert ema.updates == 3
        loss = model(torch.randn(2, 1, 16, 16)).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        ema.update(model)
        snapshots.append({k: v.detach().clone() for k, v in model.state_dict().items()})
    assert ema.updates == 6
    assert_matches(ema.module.state_dict(), closed_form(snapshots, 0.7))


def test_ema_decay_is_validated() -> None:
    with pytest.raises(ConfigError, match="ema_decay") as info:
        TrainConfig(dataset="d", data_root=".", out_dir=".", ema_decay=1.0)
    assert info.value.parameter == "ema_decay"
    with pytest.raises(ConfigError, match="ema_decay"):
        WeightEMA(_toy(), 0.0)
    assert TrainConfig(dataset="d", data_root=".", out_dir=".").ema_decay is None


class RecordingEMA(WeightEMA):
    """Records the trained weights at every update (what the closed form is computed from)."""

    snapshots: ClassVar[list[dict[str, torch.Tensor]]] = []

    def update(self, model: nn.Module) -> None:
        super().update(model)
        RecordingEMA.snapshots.append({k: v.detach().clone() for k, v in model.state_dict().items()})


def _fit(root: Path, desc: Path, out: Path, epochs: int, **kw: Any) -> list[dict[str, Any]]:
    cfg = TrainConfig(dataset=str(desc), data_root=str(root), out_dir=str(out), model="unet",
                      model_options={"base_channels": 4, "depth": 2}, batch_size=2, patch_size=(16, 16), folds=3,
                      fold=0, seed=1, device="cpu", epochs=epochs, **kw)
    return list(engine.fit(cfg))


def test_fit_validates_and_saves_the_average_and_resume_continues_it(disc_dataset, tmp_path, monkeypatch) -> None:
    root, desc = disc_dataset
    out = tmp_path / "run"
    monkeypatch.setattr(engine, "WeightEMA", RecordingEMA)
    RecordingEMA.snapshots = []
    events = _fit(root, desc, out, 2, ema_decay=0.6)
    assert events[0]["ema_decay"] == 0.6
    vals = [e for e in events if e["event"] == "validation"]
    assert len(vals) == 2
    assert all(e["weights"] == "ema" for e in vals)
    steps = events[-1]["steps"]
    assert len(RecordingEMA.snapshots) == steps > 2

    _, meta = load_checkpoint(out / "best.safetensors")
    assert meta["weights"] == "ema"
    assert meta["ema"]["decay"] == 0.6
    assert meta["ema"]["updates"] == meta["step"]
    last_ema, ema_meta = load_checkpoint(out / "last_ema.safetensors")
    assert ema_meta["ema"] == {"decay": 0.6, "updates": steps}
    assert_matches(last_ema.state_dict(), closed_form(RecordingEMA.snapshots, 0.6))
    raw, raw_meta = load_checkpoint(out / "last.safetensors")
    assert raw_meta["weights"] == "raw"
    for name, value in RecordingEMA.snapshots[-1].items():  # last.safetensors keeps the trained weights
        torch.testing.assert_close(raw.state_dict()[name], value, msg=name)

    # resume: two more epochs; the average goes on over all steps as if never interrupted
    events = _fit(root, desc, out, 4, ema_decay=0.6, resume=True)
    assert events[0]["ema_updates"] == steps
    total = events[-1]["steps"]
    assert len(RecordingEMA.snapshots) == total == 2 * steps
    last_ema, ema_meta = load_checkpoint(out / "last_ema.safetensors")
    assert ema_meta["ema"]["updates"] == total
    assert_matches(last_ema.state_dict(), closed_form(RecordingEMA.snapshots, 0.6))


def test_without_ema_nothing_changes_and_resume_into_ema_is_refused(disc_dataset, tmp_path) -> None:
    root, desc = disc_dataset
    out = tmp_path / "run"
    events = _fit(root, desc, out, 1)
    assert events[0]["ema_decay"] is None
    assert not (out / "last_ema.safetensors").exists()
    _, meta = load_checkpoint(out / "best.safetensors")
    assert meta["weights"] == "raw"
    assert meta["ema"] is None
    with pytest.raises(ConfigError, match=r"last_ema\.safetensors") as info:
        _fit(root, desc, out, 2, ema_decay=0.9, resume=True)
    assert info.value.parameter == "ema_decay"
