"""``akmamba finetune`` and ``akmamba versions`` end to end on CPU with a tiny U-Net and tiny data."""

from __future__ import annotations

import json

import pytest
import torch

from akmamba.cli import main
from akmamba.finetune.registry import ModelRegistry

pytestmark = pytest.mark.finetune

TINY = ["--device", "cpu", "--patch-size", "16", "16", "--batch-size", "2", "--max-steps", "12", "--no-baseline",
        "--threads", "1", "--lr", "5e-3"]


@pytest.fixture(autouse=True)
def _restore_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _events(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_finetune_registers_promotes_and_rolls_back(corrected_folder, parent_ckpt, tmp_path, capsys) -> None:
    reg_dir = tmp_path / "reg"
    code = main(["finetune", "--model", str(parent_ckpt), "--data", str(corrected_folder), "--registry",
                 str(reg_dir), "--jsonl", "--force-promote", *TINY])
    assert code == 0
    events = _events(capsys.readouterr().out)
    kinds = [e["event"] for e in events]
    for kind in ("imported", "line", "plan", "start", "step", "validation", "done", "evaluation", "registered",
                 "promoted", "finished"):
        assert kind in kinds
    plan = events[kinds.index("plan")]
    assert plan["heldout_cases"]
    assert plan["train_cases"]
    assert not set(plan["heldout_cases"]) & set(plan["train_cases"])
    assert plan["step_s"] > 0
    assert plan["estimate_s"] > 0
    assert plan["steps"] <= 12
    assert all(n > 0 for n in plan["edited_pixels"].values())
    reg = ModelRegistry(reg_dir)
    assert reg.active("tiny-discs").id == "v2"
    v2 = reg.version("tiny-discs", "v2")
    rec = v2.record
    assert rec["parent"] == "v1"
    assert rec["gate"]["promote"]
    assert rec["config"]["train"]["edit_weight"] == 5.0
    assert rec["config"]["train"]["init_from"]
    assert any(k.startswith("edit_masks/") for k in rec["data"]["sha256"])  # correction masks are checksummed too
    assert set(rec["metrics"]) >= {"candidate", "active"}
    assert rec["heldout"]["cases"] == plan["heldout_cases"]  # size and before/after Dice in the version record
    assert rec["heldout"]["images"] == plan["heldout_images"]
    assert rec["heldout"]["dice_after"] == rec["metrics"]["candidate"]["mean_dice"]
    assert rec["heldout"]["dice_before"] == rec["metrics"]["active"]["mean_dice"]
    assert reg.split_record("tiny-discs")["heldout"] == plan["heldout_cases"]  # the fixed set, kept in the registry
    assert (v2.folder / "events.jsonl").is_file()
    from akmamba.nn import load_checkpoint

    load_checkpoint(v2.model_path)
    # a second run from the line name warm-starts from the active v2 and must beat it
    code = main(["finetune", "--model", "tiny-discs", "--data", str(corrected_folder), "--registry", str(reg_dir),
                 "--jsonl", "--min-gain", "0.5", *TINY])
    assert code == 0
    events = _events(capsys.readouterr().out)
    assert next(e for e in events if e["event"] == "plan")["heldout_carried"] == plan["heldout_cases"]
    kept = [e for e in events if e["event"] == "kept"]
    assert kept
    assert kept[0]["version"] == "v3"
    assert reg.active("tiny-discs").id == "v2"
    assert reg.version("tiny-discs", "v3").record["parent"] == "v2"
    assert main(["versions", "--registry", str(reg_dir), "list", "tiny-discs"]) == 0
    out = capsys.readouterr().out
    assert "* v2" in out
    assert "v3" in out
    assert main(["versions", "--registry", str(reg_dir), "rollback", "tiny-discs"]) == 0
    assert reg.active("tiny-discs").id == "v1"
    assert main(["versions", "--registry", str(reg_dir), "activate", "tiny-discs", "v3"]) == 0
    assert reg.active("tiny-discs").id == "v3"
    assert main(["versions", "--registry", str(reg_dir), "check"]) == 0
    capsys.readouterr()
    assert main(["versions", "--registry", str(reg_dir), "--json", "list"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"line": "tiny-discs", "versions": 3, "active": "v3"}]


def test_plan_only_and_stop_file(corrected_folder, parent_ckpt, tmp_path, capsys) -> None:
    reg_dir = tmp_path / "reg"
    assert main(["finetune", "--model", str(parent_ckpt), "--data", str(corrected_folder), "--registry",
                 str(reg_dir), "--jsonl", "--plan-only", *TINY]) == 0
    events = _events(capsys.readouterr().out)
    assert events[-1] == {**events[-1], "event": "finished", "plan_only": True}
    # progress from the first second: what is being done, then each measured piece with its seconds and an ETA
    assert events[0]["event"] == "stage"
    measuring = [e for e in events if e["event"] == "measuring"]
    assert measuring[0]["what"].startswith("training step 1")
    assert all(e["seconds"] > 0 and e["eta_s"] >= 0 for e in measuring)
    assert measuring[-1]["done"] == measuring[-1]["total"]
    plan = next(e for e in events if e["event"] == "plan")
    assert plan["time_budget_s"] == 600.0  # the documented CPU default: 10 minutes
    assert [v.id for v in ModelRegistry(reg_dir).versions("tiny-discs")] == ["v1"]  # imported only
    stop = tmp_path / "stop"
    stop.write_text("", encoding="utf-8")
    code = main(["finetune", "--model", str(parent_ckpt), "--data", str(corrected_folder), "--registry",
                 str(reg_dir), "--jsonl", "--stop-file", str(stop), *TINY])
    assert code == 1
    events = _events(capsys.readouterr().out)
    assert events[-1]["event"] == "cancelled"
    assert [v.id for v in ModelRegistry(reg_dir).versions("tiny-discs")] == ["v1"]
    assert ModelRegistry(reg_dir).active("tiny-discs").id == "v1"


@pytest.mark.parametrize(("args", "words"), [
    (["--data", "{missing}"], "does not exist"),
    (["--model", "no-such-model"], "neither a checkpoint file nor an installed model"),
    (["--edit-weight", "0"], "edit_weight must be > 0"),
    (["--force-promote", "--no-promote"], "contradict"),
])
def test_bad_input_messages(corrected_folder, parent_ckpt, tmp_path, capsys, args, words) -> None:
    base = {"--model": str(parent_ckpt), "--data": str(corrected_folder)}
    extra = []
    it = iter(args)
    for a in it:
        if a in base:
            base[a] = next(it).format(missing=tmp_path / "nope")
        else:
            extra.append(a)
    argv = ["finetune", *[x for kv in base.items() for x in kv], "--registry", str(tmp_path / "reg"), *extra, *TINY]
    assert main(argv) == 2
    assert words in capsys.readouterr().err


def _corrupt_copy(ckpt, dest):
    """A copy of ``ckpt`` whose last weight bytes are flipped: a valid header, weights that miss their SHA-256."""
    data = bytearray(ckpt.read_bytes())
    for i in range(1, 9):
        data[-i] ^= 0xFF
    dest.write_bytes(bytes(data))
    return dest


def test_a_corrupt_model_is_never_registered_and_check_verifies_weights(corrected_folder, parent_ckpt, tmp_path,
                                                                        capsys) -> None:
    corrupt = _corrupt_copy(parent_ckpt, tmp_path / "tiny-discs.safetensors")
    reg_dir = tmp_path / "reg"
    code = main(["finetune", "--model", str(corrupt), "--data", str(corrected_folder), "--registry", str(reg_dir),
                 *TINY])
    err = capsys.readouterr().err
    assert code == 2
    assert f"Refusing to register {str(corrupt)!r}" in err
    assert "do not match their recorded SHA-256" in err
    assert "Traceback" not in err
    assert ModelRegistry(reg_dir).lines() == []  # nothing copied in, nothing activated

    # A registry that holds a corrupt model (registered unchecked, as before): `versions check` finds it.
    old = ModelRegistry(reg_dir, verify=None)
    old.activate("tiny-discs", old.add_version("tiny-discs", corrupt, {"origin": "imported"}).id)
    assert main(["versions", "--registry", str(reg_dir), "check"]) == 1
    out = capsys.readouterr().out
    assert "tiny-discs v1: Weights of" in out
    assert "consistent" not in out
    good = ModelRegistry(tmp_path / "good")
    good.add_version("tiny-discs", parent_ckpt, {"origin": "imported"})
    assert main(["versions", "--registry", str(tmp_path / "good"), "check"]) == 0
    assert "consistent" in capsys.readouterr().out


def test_a_line_split_per_image_keeps_each_patients_side_in_a_by_case_run(folder_factory, parent_ckpt, tmp_path,
                                                                           capsys) -> None:
    """An earlier version split the line per image (bladder slices); this run groups them by patient: case 5
    (all held out) stays held out, case 9 (all trained on) stays trained on, case 7 (both) trains and the plan line
    says why; split.json then holds case ids and keeps the old ids."""
    stems = ["5-IM081", "5-IM082", "7-IM1", "7-IM2", "9-IM3", "9-IM4", "11-IM5", "11-IM6"]
    folder = folder_factory(tmp_path / "bladder", ids=stems, case_id_regex=r"^(\d+)-")
    reg_dir = tmp_path / "reg"
    reg = ModelRegistry(reg_dir)
    reg.activate("tiny-discs", reg.add_version("tiny-discs", parent_ckpt, {"parent": None, "origin": "imported"}).id)
    reg.add_to_split("tiny-discs", ["5-IM081", "5-IM082", "7-IM1"], ["7-IM2", "9-IM3", "9-IM4"])  # per image
    code = main(["finetune", "--model", "tiny-discs", "--data", str(folder), "--registry", str(reg_dir),
                 *TINY, "--max-steps", "2"])
    err = capsys.readouterr().err
    assert code == 0, err
    v2 = reg.version("tiny-discs", "v2")
    assert v2.record["data"]["heldout_cases"] == ["11", "5"]  # the old code drew 9 and 11 (by hash), trained 5
    assert v2.record["data"]["train_cases"] == ["7", "9"]
    assert ("split: case 7: earlier versions held out some of its images (7-IM1) and trained on others, so it "
            "trains now and cannot judge a version.") in err  # on the plan line's heels
    assert "stay held out (every image held out): 5; stay trained on: 9; train now (held out in part, " \
        "trained on in part): 7." in err
    assert reg.split_record("tiny-discs") == {"heldout": ["11", "5"], "train": ["7", "9"]}  # case ids from now on
    saved = json.loads((reg_dir / "tiny-discs" / "split.json").read_text(encoding="utf-8"))
    assert saved["regrouped"][0]["heldout"] == {"5-IM081": "5", "5-IM082": "5", "7-IM1": "7"}  # nothing lost
    assert saved["regrouped"][0]["mixed"] == ["7"]
    # the next run sees case ids: nothing to regroup, the same fixed held-out set
    assert main(["finetune", "--model", "tiny-discs", "--data", str(folder), "--registry", str(reg_dir),
                 "--jsonl", "--plan-only", *TINY]) == 0
    plan = next(e for e in _events(capsys.readouterr().out) if e["event"] == "plan")
    assert plan["heldout_carried"] == ["11", "5"]
    assert plan["split_notes"] == []
