"""The viewer offers an installed model that suits the open image, and asks before running one that does not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from akmamba.infer.models import list_shipped_models
from akmamba.io import Image, write_image
from akmamba.nn import build_model, save_checkpoint

pytestmark = pytest.mark.gui


@pytest.fixture
def installed(tmp_path: Path) -> list:
    """Two installed tiny models: a grey (1-channel) and a colour (3-channel) one, both 2-class."""
    folder = tmp_path / "installed"
    table = [{"name": "background", "index": 0, "value_in_file": 0, "color": [0, 0, 0]},
             {"name": "thing", "index": 1, "value_in_file": 255, "color": [255, 0, 0]}]
    torch.manual_seed(0)
    for name, channels, modality in (("tiny-grey", 1, "grey test images"), ("tiny-colour", 3, "colour test images")):
        model = build_model("akmamba", channels, 2, base_channels=4, depth=2, d_state=4).eval()
        save_checkpoint(model, folder / f"{name}.safetensors",
                        metadata={"label_table": table, "normalisation": "zscore", "modality": modality})
    return list_shipped_models(dirs=[folder])


@pytest.fixture
def colour_png(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "fundus.png"
    write_image(Image(rng.integers(0, 255, (48, 40, 3), dtype=np.uint8), "2d"), path)
    return path


def test_opening_an_image_offers_a_suitable_model(window, open_case, installed, grey_png, colour_png) -> None:
    panel = window.model_panel
    panel.set_models(installed)
    assert panel.model_combo.currentText() == "tiny-colour"  # first by name, before any image
    open_case(window, grey_png)
    assert panel.model_combo.currentText() == "tiny-grey"
    assert "model: tiny-grey (suits this grey (1-channel) image)" in window.statusBar().currentMessage()
    open_case(window, colour_png)
    assert panel.model_combo.currentText() == "tiny-colour"
    open_case(window, grey_png)
    panel.model_combo.setCurrentIndex(panel.model_combo.findText("tiny-grey"))
    open_case(window, grey_png)  # a choice that suits stands, and nothing is said about it
    assert panel.model_combo.currentText() == "tiny-grey"
    assert "model:" not in window.statusBar().currentMessage()


def test_models_listed_after_the_image_opened_are_offered_too(window, open_case, installed, grey_png) -> None:
    open_case(window, grey_png)
    window._on_probed({"backends": [], "auto_device": "cpu", "models": installed})  # tiny-colour listed first
    assert window.model_panel.model_combo.currentText() == "tiny-grey"
    assert window.statusBar().currentMessage() == "Model: tiny-grey (suits this grey (1-channel) image)"


@pytest.mark.slow
def test_running_a_model_that_does_not_suit_asks_first(window, open_case, installed, grey_png, qtbot) -> None:
    panel = window.model_panel
    panel.set_models(installed)
    open_case(window, grey_png)
    panel.select_path(next(e.path for e in installed if e.name == "tiny-colour"))
    asked: list[str] = []
    window.ask_model_mismatch = lambda note: asked.append(note) is not None  # answers No
    panel.run_button.click()
    assert len(asked) == 1
    assert asked[0].startswith("tiny-colour was trained on colour (3-channel) images: colour test images.")
    assert window.statusBar().currentMessage().startswith("Segmentation not started. tiny-colour was trained")
    assert window.session.pending is None
    assert panel.run_button.isEnabled()
    window.ask_model_mismatch = lambda note: True  # Yes: it runs
    with qtbot.waitSignal(window.segmenter.done, timeout=60000):
        panel.run_button.click()
    qtbot.waitUntil(lambda: window.session.pending is not None)
    assert window.session.pending.model_info["name"] == "tiny-colour"
