"""experiments/noc_ceiling.py: NoC at lower targets read from a report's runs, and the split by structure size."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def noc_ceiling(import_experiment):
    return import_experiment("noc_ceiling")


def _report() -> dict:
    def lab(dice: list[float]) -> dict:
        return {"dice_after": dice, "noc": 0, "clicks": []}

    return {"protocol": {"max_clicks": 3, "target": 0.85},
            "images": [{"image": "a", "labels": {"tumor": lab([0.5, 0.82, 0.86])}},
                       {"image": "b", "labels": {"tumor": lab([0.9])}},
                       {"image": "c", "labels": {"tumor": lab([0.1, 0.2, 0.3, 0.81])}}]}


def test_noc_at_reads_lower_targets_and_counts_the_limit_plus_one(noc_ceiling) -> None:
    assert noc_ceiling.noc_at([0.5, 0.82, 0.86], 0.85, 20) == 2
    assert noc_ceiling.noc_at([0.5, 0.82, 0.86], 0.8, 20) == 1
    assert noc_ceiling.noc_at([0.1, 0.2], 0.8, 20) == 21


def test_ceiling_rows_by_label_and_size(noc_ceiling) -> None:
    rows = noc_ceiling.ceiling_rows(_report(), [0.8, 0.85])
    assert len(rows) == 1
    r = rows[0]
    assert (r["label"], r["slices"], r["n"]) == ("tumor", "all", 3)
    assert r["noc@80"] == pytest.approx((1 + 0 + 3) / 3)
    assert r["noc@85"] == pytest.approx((2 + 0 + 4) / 3)  # c never reaches 0.85: limit 3 + 1
    assert r["best_dice"] == pytest.approx((0.86 + 0.9 + 0.81) / 3)
    assert r["never_reached"] == pytest.approx(1 / 3)
    sizes = {("a", "tumor"): 300, ("b", "tumor"): 5000, ("c", "tumor"): 100}
    split = {row["slices"]: row for row in noc_ceiling.ceiling_rows(_report(), [0.85], sizes)}
    assert split["smaller half"]["n"] == 1  # c (100 px)
    assert split["smaller half"]["noc@85"] == 4
    assert split["larger half"]["n"] == 2  # a, b
    assert split["larger half"]["median_px"] == 2650
    with pytest.raises(ValueError, match="cannot be read"):
        noc_ceiling.ceiling_rows(_report(), [0.9])
