"""``akmamba prompt-train`` across interrupted sessions (CPU, tiny U-Net): a run of N steps equals N/2 steps plus a
resumed N/2, a used --out is refused without --resume, a resume with other settings is refused, the time limit
stops and saves, and the batch stream is seekable."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from akmamba.errors import CheckpointError, ConfigError
from akmamba.nn import load_checkpoint
from akmamba.prompt.batches import StepSampler
from akmamba.prompt.train import train_prompt
from akmamba.prompt.train_cli import PromptTrainConfig, main


def _cfg(init: Path, data: Path, out: Path, **kw: Any) -> PromptTrainConfig:
    base = dict(init=str(init), dataset="bladder", data_root=str(data), out_dir=str(out), patch_size=32,
                batch_size=2, max_steps=4, save_every=2, threads=1, p_no_prompt=0.0, device="cpu")
    return PromptTrainConfig(**{**base, **kw})  # type: ignore[arg-type]


def _losses(events: list[dict[str, Any]]) -> dict[int, float]:
    return {e["step"]: e["loss"] for e in events if e["event"] == "step"}


@pytest.mark.parametrize("recipe", [dict(optimizer="adam", lr_schedule="constant", augmentation="basic"),
                                    dict(optimizer="sgd", lr_schedule="poly", augmentation="strong", lr=0.01,
                                         weight_decay=3e-5, oversample_factor=2, ema_decay=0.9)],
                         ids=["adam-constant-basic", "sgd-poly-strong"])
def test_two_halves_with_resume_equal_one_run(tmp_path: Path, plain_ckpt: Path, tiny_data: Path,
                                              recipe: dict[str, Any]) -> None:
    whole = list(train_prompt(_cfg(plain_ckpt, tiny_data, tmp_path / "whole", **recipe)))
    assert whole[-1]["stopped_by"] == "max_steps"
    first: list[dict[str, Any]] = []
    for event in train_prompt(_cfg(plain_ckpt, tiny_data, tmp_path / "cut", **recipe)):
        first.append(event)
        if event["event"] == "checkpoint":  # the call is cut off right after the step-2 checkpoint
            break
    assert first[-1]["step"] == 2
    second = list(train_prompt(_cfg(plain_ckpt, tiny_data, tmp_path / "cut", resume=True, **recipe)))
    assert second[0]["resumed_at_step"] == 2
    assert second[-1]["steps"] == 4
    assert second[-1]["session_steps"] == 2
    assert {**_losses(first), **_losses(second)} == _losses(whole)
    a, meta_a = load_checkpoint(tmp_path / "whole" / "last.safetensors")
    b, meta_b = load_checkpoint(tmp_path / "cut" / "last.safetensors")
    assert meta_a["step"] == meta_b["step"] == 4
    _assert_same_weights(a, b)
    if "ema_decay" in recipe:  # the weight average resumes with the rest, and is not the raw weights
        ea, ema_meta = load_checkpoint(tmp_path / "whole" / "last_ema.safetensors")
        eb, _ = load_checkpoint(tmp_path / "cut" / "last_ema.safetensors")
        _assert_same_weights(ea, eb)
        assert ema_meta["weights"] == "ema"
        assert ema_meta["ema"] == {"decay": 0.9, "updates": 4}
        assert ema_meta["step"] == 4
        assert not all(torch.equal(x, y) for x, y in zip(ea.parameters(), a.parameters(), strict=True))
        assert whole[-1]["checkpoint_ema"] == str(tmp_path / "whole" / "last_ema.safetensors")
    else:
        assert not (tmp_path / "whole" / "last_ema.safetensors").exists()
    assert [e["lr"] for e in whole if e["event"] == "step"] == [e["lr"] for e in first + second
                                                                if e["event"] == "step"]


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_resume_with_ema_refuses_a_missing_or_older_average(tmp_path: Path, plain_ckpt: Path,
                                                            tiny_data: Path) -> None:
    cfg = _cfg(plain_ckpt, tiny_data, tmp_path / "run", max_steps=3, save_every=1, ema_decay=0.9)
    events = []
    for event in train_prompt(cfg):
        events.append(event)
        if event["event"] == "checkpoint" and event["step"] == 2:
            break
    ema = tmp_path / "run" / "last_ema.safetensors"
    older = tmp_path / "older.safetensors"
    ema.rename(older)
    with pytest.raises(CheckpointError, match=r"holds no last_ema\.safetensors"):
        list(train_prompt(replace(cfg, resume=True)))
    from akmamba.nn import save_checkpoint
    model, meta = load_checkpoint(older)
    save_checkpoint(model, ema, metadata={**meta, "step": 1})  # an average from an earlier save
    with pytest.raises(CheckpointError, match="different steps"):
        list(train_prompt(replace(cfg, resume=True)))


def test_used_out_is_refused_without_resume(tmp_path: Path, plain_ckpt: Path, tiny_data: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _cfg(plain_ckpt, tiny_data, tmp_path / "run", max_steps=1)
    list(train_prompt(cfg))
    before = (tmp_path / "run" / "last.safetensors").read_bytes()
    with pytest.raises(ConfigError, match="already holds a run"):
        list(train_prompt(cfg))
    code = main(["--init", str(plain_ckpt), "--dataset", "bladder", "--data-root", str(tiny_data),
                 "--out", str(tmp_path / "run"), "--patch-size", "32", "--device", "cpu"])
    assert code == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err
    assert "--resume" in err
    assert (tmp_path / "run" / "last.safetensors").read_bytes() == before
    with pytest.raises(ConfigError, match=r"other settings .*lr 0.0001 -> 0.001"):
        list(train_prompt(replace(cfg, resume=True, lr=1e-3)))


def test_time_limit_stops_saves_and_the_run_resumes(tmp_path: Path, plain_ckpt: Path, tiny_data: Path) -> None:
    cfg = _cfg(plain_ckpt, tiny_data, tmp_path / "run", save_every=100, time_limit_s=1e-6, resume=True)
    events = list(train_prompt(cfg))  # --resume on a new folder starts afresh
    assert events[0]["resumed_at_step"] == 0
    assert events[-1]["stopped_by"] == "time_limit"
    assert events[-1]["steps"] == 1
    assert [e["step"] for e in events if e["event"] == "checkpoint"] == [1]
    again = list(train_prompt(replace(cfg, time_limit_s=None)))
    assert again[0]["resumed_at_step"] == 1
    assert again[-1]["steps"] == 4
    done = list(train_prompt(cfg))  # a finished run resumes to nothing
    assert done[0]["resumed_at_step"] == 4
    assert done[-1]["session_steps"] == 0


def test_resume_refuses_state_files_of_different_steps(tmp_path: Path, plain_ckpt: Path, tiny_data: Path) -> None:
    cfg = _cfg(plain_ckpt, tiny_data, tmp_path / "run", max_steps=1)
    list(train_prompt(cfg))
    rng_json = tmp_path / "run" / "last_rng.json"
    meta = json.loads(rng_json.read_text())
    meta["record"]["step"] = 7
    rng_json.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="different steps"):
        list(train_prompt(replace(cfg, resume=True, max_steps=2)))


def test_the_batch_stream_is_seekable_and_visits_every_item_once_per_epoch() -> None:
    whole = list(StepSampler(epoch_len=5, batch_size=2, seed=3, start=0, stop=6))
    assert list(StepSampler(5, 2, 3, start=4, stop=6)) == whole[8:]
    assert sorted(whole[:5]) == list(range(5))
    assert sorted(whole[5:10]) == list(range(5, 10))
    assert whole[:5] != [0, 1, 2, 3, 4] or whole[5:10] != [5, 6, 7, 8, 9]


@pytest.mark.slow
def test_dataloader_workers_draw_the_same_batches(tmp_path: Path, plain_ckpt: Path, tiny_data: Path) -> None:
    """Each worker's copy of the data set is set to the epoch of its item: the losses equal the in-process run's."""
    kw = dict(max_steps=5, save_every=100, augmentation="strong")  # 10 items cross the 6-item epochs
    inline = list(train_prompt(_cfg(plain_ckpt, tiny_data, tmp_path / "a", **kw)))
    workers = list(train_prompt(_cfg(plain_ckpt, tiny_data, tmp_path / "b", num_workers=2, **kw)))
    assert inline[0]["epoch_len"] == 6  # 2 training images, each with tumour, oversampled 3 times
    assert _losses(workers) == _losses(inline)


def test_a_deep_supervision_model_trains_with_the_trainers_head_weights(tmp_path: Path, tiny_data: Path) -> None:
    """A plain model trained with deep supervision (the recipe of ``akmamba train``) gives a tuple of logits in
    training mode; the loop weighs its heads as the trainer does (the loop before called the loss on the tuple)."""
    from akmamba.nn import build_model, save_checkpoint
    from tests.prompt.conftest import LABEL_TABLE

    torch.manual_seed(0)
    init = tmp_path / "ds.safetensors"
    save_checkpoint(build_model("unet", 1, 3, base_channels=4, depth=2, deep_supervision=1), init,
                    metadata={"name": "tiny-ds", "label_table": LABEL_TABLE, "version": "1"})
    events = list(train_prompt(_cfg(init, tiny_data, tmp_path / "run", max_steps=2)))
    assert events[-1]["steps"] == 2
    assert all(torch.isfinite(torch.tensor(e["loss"])) for e in events if e["event"] == "step")
