from __future__ import annotations

import pytest

pytestmark = pytest.mark.gui


def test_main_window_shows_backends(qtbot) -> None:
    from app.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: "Scan backends" in window.backend_label.text(), timeout=20000)
    assert "torch" in window.backend_label.text()
    assert "mamba_ssm" in window.backend_label.toolTip()
