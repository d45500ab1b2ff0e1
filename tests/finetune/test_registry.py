"""ModelRegistry: versions, atomic activation, rollback, checks; the promotion rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from akmamba.errors import CheckpointError, ConfigError
from akmamba.finetune.promote import PromotionRule, decide
from akmamba.finetune.registry import ModelRegistry, default_registry_root

pytestmark = pytest.mark.finetune


def _file(tmp_path: Path, name: str, content: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(content)
    return p


def test_versions_activate_rollback(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path / "reg", verify=None)  # stand-in model files: the storage mechanics only
    assert reg.lines() == []
    assert reg.check() == []
    v1 = reg.add_version("m", _file(tmp_path, "a", b"one"), {"parent": None, "origin": "imported"})
    assert reg.active("m") is None  # adding never activates
    reg.activate("m", v1.id)
    v2 = reg.add_version("m", _file(tmp_path, "b", b"two"), {"parent": "v1", "origin": "finetune"})
    v3 = reg.add_version("m", _file(tmp_path, "c", b"three"), {"parent": "v1", "origin": "finetune"})
    assert [v.id for v in reg.versions("m")] == ["v1", "v2", "v3"]
    assert v3.model_path.read_bytes() == b"three"
    reg.activate("m", v2.id)
    reg.activate("m", v3.id)
    assert reg.active("m").id == "v3"
    assert reg.rollback("m").id == "v2"
    assert reg.rollback("m").id == "v1"
    with pytest.raises(ConfigError, match="no earlier active version"):
        reg.rollback("m")
    assert reg.check() == []
    assert reg.find_by_sha256("m", v2.record["model_sha256"]).id == "v2"
    assert reg.locate(v3.model_path).id == "v3"
    assert not list((tmp_path / "reg" / "m" / "staging").iterdir())


def test_check_finds_damage_and_activate_refuses_it(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path / "reg", verify=None)  # stand-in model files: the storage mechanics only
    v1 = reg.add_version("m", _file(tmp_path, "a", b"one"), {})
    v1.model_path.write_bytes(b"tampered")
    assert any("SHA-256" in p for p in reg.check())
    with pytest.raises(CheckpointError, match="Refusing to activate"):
        reg.activate("m", "v1")
    (tmp_path / "reg" / "m" / "active.json").write_text(json.dumps({"version": "v9"}), encoding="utf-8")
    assert any("does not exist" in p for p in reg.check())
    with pytest.raises(ConfigError, match="has no version 'v7'"):
        reg.version("m", "v7")
    with pytest.raises(ConfigError, match="line name"):
        reg.line_dir("../evil")


def test_gc_removes_only_dead_staging(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path / "reg", verify=None)  # stand-in model files: the storage mechanics only
    reg.add_version("m", _file(tmp_path, "a", b"one"), {})
    dead = tmp_path / "reg" / "m" / "staging" / "abc-999999999"
    dead.mkdir(parents=True)
    assert reg.gc("m") == [dead]
    assert [v.id for v in reg.versions("m")] == ["v1"]


def test_a_regrouped_split_records_case_ids_and_keeps_the_old_ids(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path / "reg", verify=None)
    reg.add_to_split("m", ["5-IM081", "5-IM082", "7-IM1"], ["7-IM2", "9-IM3", "9-IM4"])  # an earlier, per image
    regrouped = {"rule": "^(\\d+)-", "heldout": {"5-IM081": "5", "5-IM082": "5", "7-IM1": "7"},
                 "train": {"7-IM2": "7", "9-IM3": "9", "9-IM4": "9"}, "mixed": ["7"]}
    record = reg.add_to_split("m", ["11", "5"], ["7", "9"], regrouped)
    assert record == {"heldout": ["11", "5"], "train": ["7", "9"]}  # case ids only; mixed 7 trains
    assert reg.split_record("m") == record
    reg.add_to_split("m", ["12"], ["13"])  # a later run keeps the record of the regrouping
    saved = json.loads((tmp_path / "reg" / "m" / "split.json").read_text(encoding="utf-8"))
    assert saved["heldout"] == ["11", "12", "5"]
    assert [{k: v for k, v in h.items() if k != "at"} for h in saved["regrouped"]] == [regrouped]  # old ids kept
    assert saved["regrouped"][0]["at"]
    # a mixed case recorded by case id on the held-out side leaves it too
    reg.add_to_split("n", ["5", "7"], ["9"])
    assert reg.add_to_split("n", ["5"], ["7", "9"], {"rule": "r", "heldout": {}, "train": {"7-IM2": "7"},
                                                     "mixed": ["7"]}) == {"heldout": ["5"], "train": ["7", "9"]}


def test_default_root_follows_akmamba_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AKMAMBA_HOME", str(tmp_path))
    assert default_registry_root() == tmp_path / "registry"


@pytest.mark.parametrize(("cand", "active", "rule", "promote"), [
    (0.80, 0.79, PromotionRule(), True),
    (0.79, 0.79, PromotionRule(), False),  # a tie keeps the active model
    (0.78, 0.79, PromotionRule(), False),
    (0.80, 0.79, PromotionRule(min_gain=0.02), False),
    (0.78, 0.79, PromotionRule(force=True), True),
    (0.99, 0.10, PromotionRule(never=True), False),
    (0.50, None, PromotionRule(), True),  # nothing to beat
    (None, 0.50, PromotionRule(), False),
])
def test_promotion_rule(cand, active, rule, promote) -> None:
    d = decide(cand, active, rule)
    assert d.promote is promote
    assert d.reason


def test_contradictory_rule() -> None:
    with pytest.raises(ConfigError, match="contradict"):
        PromotionRule(force=True, never=True)


def _runner_record(parent: str, active: str, candidate: float, active_dice: float, heldout: list[str]) -> dict:
    """A version record as ``akmamba finetune`` writes it: the candidate's and the active model's held-out Dice."""
    images = {f"{c}-IM1": candidate for c in heldout}
    return {"parent": parent, "origin": "finetune", "active_at_start": active,
            "data": {"heldout_cases": heldout, "train_cases": ["9"]},
            "metrics": {"candidate": {"mean_dice": candidate, "per_image": images},
                        "active": {"mean_dice": active_dice, "per_image": dict.fromkeys(images, active_dice),
                                   "version": active}},
            "gate": {"promote": False, "candidate_dice": candidate, "active_dice": active_dice,
                     "gain": candidate - active_dice}}


def test_the_base_model_gets_the_held_out_dice_its_fine_tunes_measured(tmp_path: Path) -> None:
    from akmamba.finetune.registry import heldout_score
    from akmamba.finetune.versions_cli import version_row

    reg = ModelRegistry(tmp_path / "reg", verify=None)
    reg.add_version("m", _file(tmp_path, "a", b"one"), {"parent": None, "origin": "imported"})
    reg.activate("m", "v1")
    assert heldout_score(reg.versions("m"), "v1") is None  # imported, no fine-tune yet: truly not measured
    assert version_row(reg.versions("m")[0], "v1", reg.versions("m"))["heldout_dice"] is None
    reg.add_version("m", _file(tmp_path, "b", b"two"), _runner_record("v1", "v1", 0.70, 0.61, ["5", "12"]))
    reg.add_version("m", _file(tmp_path, "c", b"three"), _runner_record("v1", "v1", 0.72, 0.64, ["5", "12", "18"]))
    versions = reg.versions("m")
    score = heldout_score(versions, "v1")
    assert score is not None
    assert score.mean_dice == pytest.approx(0.64)  # the latest run that judged it (the larger held-out set)
    assert score.measured_in == "v3"
    assert score.cases == ["5", "12", "18"]
    assert set(score.per_image) == {"5-IM1", "12-IM1", "18-IM1"}
    assert heldout_score(versions, "v2").mean_dice == pytest.approx(0.70)  # its own score wins
    assert heldout_score(versions, "v2").measured_in == "v2"
    row = version_row(versions[0], "v1", versions)
    assert row["heldout_dice"] == pytest.approx(0.64)  # was None: shown as "-"
    assert row["heldout_measured_in"] == "v3"


def test_versions_list_shows_the_base_score_and_says_not_measured(tmp_path: Path, capsys) -> None:
    import argparse

    from akmamba.finetune.versions_cli import add_arguments, run

    reg = ModelRegistry(tmp_path / "reg", verify=None)
    reg.add_version("m", _file(tmp_path, "a", b"one"), {"parent": None, "origin": "imported"})
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    run(parser.parse_args(["--registry", str(reg.root), "list", "m"]))
    assert "not measured" in capsys.readouterr().out
    reg.add_version("m", _file(tmp_path, "b", b"two"), _runner_record("v1", "v1", 0.70, 0.61, ["5", "12"]))
    run(parser.parse_args(["--registry", str(reg.root), "list", "m"]))
    out = capsys.readouterr().out
    assert "0.6100 (v2)" in out
    assert "measured during the fine-tune" in out
