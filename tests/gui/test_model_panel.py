"""The segmentation panel shows an installed model's card limits next to its result."""

from __future__ import annotations

from pathlib import Path

from akmamba.infer.models import ModelEntry


def test_result_shows_the_model_cards_limits(qtbot) -> None:
    from app.panels.model_panel import ModelPanel

    panel = ModelPanel()
    qtbot.addWidget(panel)
    limits = "EXPERIMENTAL: it misses much of the tumour " + "and more words " * 12
    panel.set_models([ModelEntry("bladder-model", Path("/models/bladder-model.safetensors"), {"limits": limits}),
                      ModelEntry("plain", Path("/models/plain.safetensors"), {"architecture": "unet"})])
    sha = "ab" * 32
    panel.set_info({"name": "bladder-model", "version": "1", "sha256": sha}, "on cpu")
    text = panel.info_label.text()
    assert text.endswith("<i>Limits: EXPERIMENTAL ... (hover for the model card)</i>")  # one line in the panel ...
    assert limits in panel.info_label.toolTip()  # ... and whole in the tooltip
    panel.set_info({"name": "plain", "version": "1", "sha256": sha}, "on cpu")
    assert "Limits" not in panel.info_label.text()
    panel.set_models([ModelEntry("drive", Path("/models/drive.safetensors"), {"limits": "trained far shorter than "
                                                                              "the paper; no external test set"})])
    panel.set_info({"name": "drive", "version": "1", "sha256": sha}, "on cpu")
    assert panel.info_label.text().endswith("<i>Limits: trained far shorter than the paper; no ... (hover for "
                                            "the model card)</i>")
    panel.set_info({"name": "<b>x</b>", "version": "1", "sha256": sha}, "on cpu")  # a checkpoint of the user's
    assert "&lt;b&gt;x&lt;/b&gt;" in panel.info_label.text()
