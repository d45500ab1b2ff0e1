"""The Fine-tune dialog: what will be used (cases, labels, train / held-out split, device, a measured time
estimate), options, then the run itself with a progress bar, ETA, live loss and held-out Dice curves, Stop, and the
outcome (new version promoted or kept).

The work happens in a child process (:class:`app.finetune_process.FinetuneProcess`): first ``--plan-only`` (it
measures a few training steps on this machine), then the run. No maths here: a changed time budget is re-planned
by :func:`akmamba.finetune.budget.plan` from the measured rates.
"""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from app.finetune_process import FinetuneProcess

PREPARING, PLANNING, READY, RUNNING, FINISHED, FAILED = "preparing", "planning", "ready", "running", "finished", \
    "failed"


def _minutes(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


class FinetuneDialog(QtWidgets.QDialog):
    """Signals: ``finished_run(object finished_event)`` after a run that registered a version.

    Args:
        model_path: the active model's checkpoint (the warm start).
        device: ``auto``, ``cpu`` or ``cuda``.
        registry: the registry folder.
        extra_args: more ``akmamba finetune`` flags (tests: tiny patches and step counts).
        cuda_available: what the start-up check found (None: not known yet); with ``auto`` it picks the default
            time budget of the device the run will use (CPU 10 min, GPU 20 min: akmamba.finetune.budget).
    """

    finished_run = QtCore.Signal(object)

    def __init__(self, model_path: str, device: str, registry: Path, extra_args: list[str] | None = None,
                 parent: QtWidgets.QWidget | None = None, cuda_available: bool | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Fine-tune on corrected cases")
        self.model_path, self.device, self.registry = model_path, device, Path(registry)
        self.run_device = "cuda" if device.startswith("cuda") or (device == "auto" and cuda_available) else "cpu"
        self._stage = ""
        self._stage_t0 = time.monotonic()
        self._ticker = QtCore.QTimer(self)
        self._ticker.setInterval(1000)
        self._ticker.timeout.connect(self._tick)
        self.extra_args = list(extra_args or [])
        self.data_dir: Path | None = None
        self.case_names: list[str] = []
        self.split_note = ""  # how the images group into cases for the split (app.finetune_actions.prepare_folder)
        self.plan_event: dict[str, Any] | None = None
        self.run_result: dict[str, Any] | None = None
        self.evaluation: dict[str, Any] | None = None  # the last run's held-out evaluation event
        self.state = PREPARING
        self.events: list[dict[str, Any]] = []
        self._loss: tuple[list[float], list[float]] = ([], [])
        self._dice: tuple[list[float], list[float]] = ([], [])
        self.process = FinetuneProcess(self)
        self.process.event.connect(self._on_event)
        self.process.finished.connect(self._on_process_finished)
        self._build()
        self._set_state(PREPARING)

    # ------------------------------------------------------------------ layout

    def _build(self) -> None:
        layout = QtWidgets.QVBoxLayout(self)
        self.summary = QtWidgets.QLabel("Gathering the corrected cases...")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.summary.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary.setMinimumWidth(560)
        layout.addWidget(self.summary)
        form = QtWidgets.QFormLayout()
        self.edit_weight = QtWidgets.QDoubleSpinBox()
        self.edit_weight.setRange(1.0, 50.0)
        self.edit_weight.setValue(5.0)
        self.edit_weight.setToolTip("Loss weight of the pixels you edited (the rest weigh 1)")
        form.addRow("Weight of edited pixels", self.edit_weight)
        self.budget = QtWidgets.QSpinBox()
        self.budget.setRange(1, 240)
        self.budget.setSuffix(" min")
        from akmamba.finetune.budget import defaults_for

        self.budget.setValue(round(defaults_for(self.run_device).time_budget_s / 60))
        self.budget.setToolTip("Time for the whole run; the step count is fitted to it from measured step times")
        self.budget.valueChanged.connect(self._replan)
        form.addRow("Time budget", self.budget)
        self.force = QtWidgets.QCheckBox("Promote even if not better on held-out cases")
        form.addRow("", self.force)
        layout.addLayout(form)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("Idle")
        layout.addWidget(self.progress)
        self.eta_label = QtWidgets.QLabel("")
        layout.addWidget(self.eta_label)
        plots = QtWidgets.QHBoxLayout()
        self.loss_plot = pg.PlotWidget(title="Training loss")
        self.loss_plot.setLabel("bottom", "step")
        self.loss_curve = self.loss_plot.plot([], [], pen=pg.mkPen((80, 160, 255), width=1.5))
        self.dice_plot = pg.PlotWidget(title="Held-out Dice")
        self.dice_plot.setLabel("bottom", "step")
        self.dice_curve = self.dice_plot.plot([], [], pen=pg.mkPen((255, 170, 0), width=2), symbol="o", symbolSize=6)
        for plot in (self.loss_plot, self.dice_plot):
            plot.setMinimumHeight(170)
            plot.showGrid(x=True, y=True, alpha=0.3)
            plots.addWidget(plot)
        layout.addLayout(plots, 1)
        self.outcome = QtWidgets.QLabel("")
        self.outcome.setWordWrap(True)
        self.outcome.setTextFormat(QtCore.Qt.TextFormat.RichText)
        layout.addWidget(self.outcome)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addStretch(1)
        self.start_button = QtWidgets.QPushButton("Start")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QtWidgets.QPushButton("Stop")
        self.stop_button.setToolTip("Stop now; nothing is registered and the active model stays")
        self.stop_button.clicked.connect(self.stop)
        self.close_button = QtWidgets.QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        for b in (self.start_button, self.stop_button, self.close_button):
            buttons.addWidget(b)
        layout.addLayout(buttons)

    def _set_state(self, state: str) -> None:
        self.state = state
        self.start_button.setEnabled(state in (READY, FAILED) and self.data_dir is not None)
        self.stop_button.setEnabled(state in (PLANNING, RUNNING))
        for w in (self.edit_weight, self.budget, self.force):
            w.setEnabled(state in (PLANNING, READY, FAILED))

    # ------------------------------------------------------------------ flow

    def _common_args(self) -> list[str]:
        assert self.data_dir is not None
        args = ["--model", self.model_path, "--data", str(self.data_dir), "--registry", str(self.registry),
                "--device", self.device, "--edit-weight", f"{self.edit_weight.value():g}",
                "--time-budget", str(self.budget.value())]
        return args + self.extra_args

    def set_data(self, folder: Path, case_names: list[str], split_note: str = "") -> None:
        """The prepared fine-tuning folder is ready: measure and plan in a child process. ``split_note`` says how
        the images group into cases (the dataset's case-id pattern), or that the split is per image."""
        self.data_dir, self.case_names, self.split_note = Path(folder), list(case_names), split_note
        self.summary.setText(f"{len(case_names)} corrected image(s) gathered. {html.escape(split_note)} Measuring "
                             "the training speed on this machine (one or two training steps and three small "
                             "forward passes, each shown below as it is timed)...")
        self._set_state(PLANNING)
        self._set_stage("Starting the fine-tuning process (Python, torch)")
        self.process.start([*self._common_args(), "--plan-only"])

    def set_failed(self, message: str) -> None:
        """Show why the run cannot start or did not finish."""
        self.outcome.setText(f"<b>Not fine-tuned:</b> {html.escape(message)}")
        self.progress.setFormat("Stopped")
        self._set_state(FAILED)

    def start(self) -> None:
        """Start the fine-tune."""
        if self.data_dir is None or self.process.running:
            return
        self._loss, self._dice = ([], []), ([], [])
        self.loss_curve.setData([], [])
        self.dice_curve.setData([], [])
        self.outcome.setText("")
        self.run_result = self.evaluation = None
        args = self._common_args() + (["--force-promote"] if self.force.isChecked() else [])
        if self.plan_event is not None:  # the rates measured by the plan: the run does not measure again
            measured = self.plan_event["measured"]
            args += ["--measured", f"{measured['step_s']:.6g}", f"{measured['forward_s']:.6g}"]
        self._set_state(RUNNING)
        self.progress.setValue(0)
        self._set_stage("Starting the fine-tuning process (Python, torch)")
        self.process.start(args)

    def _set_stage(self, text: str) -> None:
        """Show what the child is doing now, with the seconds spent on it (ticking while it runs)."""
        self._stage, self._stage_t0 = text, time.monotonic()
        self.progress.setFormat(f"{text}...")
        self._ticker.start()

    def _tick(self) -> None:
        if not self.process.running or not self._stage:
            self._ticker.stop()
            return
        self.progress.setFormat(f"{self._stage}... {time.monotonic() - self._stage_t0:.0f} s")

    def stop(self) -> None:
        """Stop the child (planning or training); nothing is registered."""
        if self.process.running:
            self.progress.setFormat("Stopping...")
            self.process.stop()

    def closeEvent(self, event: Any) -> None:
        if self.process.running:
            self.process.kill()
        super().closeEvent(event)

    # ------------------------------------------------------------------ events

    def _on_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        kind = event.get("event")
        handler = getattr(self, f"_ev_{kind}", None)
        if handler is not None:
            handler(event)

    def _ev_stage(self, e: dict[str, Any]) -> None:
        self._set_stage(str(e["stage"]).capitalize())

    def _ev_measuring(self, e: dict[str, Any]) -> None:
        self.progress.setValue(round(1000 * e["done"] / max(1, e["total"])))
        self.eta_label.setText(f"Measured {e['what']}: {e['seconds']:.2f} s; measuring {e['done']} of {e['total']}, "
                               f"about {_minutes(e['eta_s'])} left")

    def _ev_plan(self, e: dict[str, Any]) -> None:
        self.plan_event = e
        self._stage = ""
        self._ticker.stop()
        self.eta_label.setText(f"Measured in {e['measured']['measure_s']:.1f} s: {e['step_s']:.2f} s per training "
                               f"step, {e['forward_s']:.2f} s per whole image")
        self._show_plan(e)

    def _ev_step(self, e: dict[str, Any]) -> None:
        self._stage = ""
        self._ticker.stop()
        steps = max(1, int((self.plan_event or {}).get("steps") or e["step"]))
        self.progress.setValue(min(1000, round(1000 * e["step"] / steps)))
        self.progress.setFormat(f"Training: step {e['step']} / {steps}")
        self.eta_label.setText(f"Loss {e['loss']:.4f} - about {_minutes(e.get('eta_total_s', e['eta_s']))} left "
                               "(measured live)")
        self._loss[0].append(e["step"])
        self._loss[1].append(e["loss"])
        self.loss_curve.setData(*self._loss)

    def _ev_validation(self, e: dict[str, Any]) -> None:
        self._dice[0].append(e["step"])
        self._dice[1].append(e["dice"])
        self.dice_curve.setData(*self._dice)

    def _ev_early_stop(self, e: dict[str, Any]) -> None:
        self.eta_label.setText(f"Early stop: no better held-out Dice for a while (best {e['best_dice']:.4f}).")

    def _ev_done(self, _e: dict[str, Any]) -> None:
        self.progress.setValue(1000)
        self.progress.setFormat("Evaluating on the held-out cases...")

    def _ev_evaluation(self, e: dict[str, Any]) -> None:
        parts = [f"{k}: {v['mean_dice']:.4f}" for k, v in e.items() if isinstance(v, dict) and "mean_dice" in v]
        self.eta_label.setText("Held-out mean Dice - " + ", ".join(parts))
        self.evaluation = e

    def _heldout_text(self, e: dict[str, Any]) -> str:
        """``Held-out set: N cases (M images); Dice before -> after`` from the evaluation event."""
        ev = self.evaluation or {}
        size = f"{len(ev.get('heldout_cases', []))} case(s), {ev.get('heldout_images', '?')} image(s)"
        before, after = (ev.get("active") or {}).get("mean_dice"), (ev.get("candidate") or {}).get("mean_dice")
        dice = f"Dice {after:.4f}" if after is not None else ""
        if before is not None and after is not None:
            dice = (f"Dice before {before:.4f} ({html.escape(str(ev['active'].get('version', 'active')))}) "
                    f"&rarr; after {after:.4f} ({after - before:+.4f})")
        return f"<br>Fixed held-out set: {size}; {dice}."

    def _ev_promoted(self, e: dict[str, Any]) -> None:
        self.outcome.setText(f"<b>New version {e['version']} is active.</b> {html.escape(e['reason'])}"
                             + self._heldout_text(e))

    def _ev_kept(self, e: dict[str, Any]) -> None:
        self.outcome.setText(f"<b>Version {e['version']} was registered but not promoted</b>: "
                             f"{html.escape(e['reason'])}. Activate it by hand in the Versions panel if you wish."
                             + self._heldout_text(e))

    def _ev_cancelled(self, _e: dict[str, Any]) -> None:
        self.outcome.setText("<b>Stopped.</b> Nothing was registered; the active model is unchanged.")

    def _ev_finished(self, e: dict[str, Any]) -> None:
        if not e.get("plan_only"):
            self.run_result = e
            self.progress.setFormat(f"Done in {_minutes(e['elapsed_s'])}")

    def _on_process_finished(self, code: int, why: str) -> None:
        if self.state == PLANNING:
            if self.plan_event is not None and not why:
                self.progress.setFormat("Ready")
                self._set_state(READY)
            else:
                self.set_failed(why or "the plan could not be made")
            return
        if self.run_result is not None:
            self._set_state(FINISHED)
            self.start_button.setEnabled(False)
            self.finished_run.emit(self.run_result)
        elif why:
            self.set_failed(why)
        else:
            self.progress.setFormat("Stopped")
            self._set_state(READY)

    # ------------------------------------------------------------------ plan display

    def _replan(self) -> None:
        e = self.plan_event
        if e is None or self.state not in (READY, FAILED, PLANNING):
            return
        from akmamba.finetune.budget import Rates, plan

        p = plan(Rates(**e["measured"]), batch_size=e["batch_size"], max_steps=e["max_steps"],
                 time_budget_s=self.budget.value() * 60.0, heldout_images=e["heldout_images"],
                 final_evaluations=e["evaluations"])
        self._show_plan({**e, **p.to_dict()})

    def _split_text(self, e: dict[str, Any]) -> str:
        """How the split groups images: the note of the prepared folder, else what the plan's data says; then the
        plan's notes on an earlier per-image split regrouped into cases."""
        note = self.split_note or (f"By case (case-id pattern '{e['split_rule']}')." if e.get("split_rule") else
                                   "Per image: the data's description has no case-id pattern, so images of one "
                                   "patient can be both trained on and held out.")
        per_image = not e.get("split_rule")
        text = f"<span style='color:#a15c00'>{html.escape(note)}</span>" if per_image else html.escape(note)
        # an earlier per-image split regrouped into cases (runner plan event): what kept its side, what trains now
        notes = "".join(f"<br><span style='color:#a15c00'>{html.escape(n)}</span>" for n in e.get("split_notes") or [])
        return text + notes

    def _show_plan(self, e: dict[str, Any]) -> None:
        esc = html.escape
        train, held = e["train_cases"], e["heldout_cases"]
        edited = sum(1 for v in e["edited_pixels"].values() if v)
        device = e["device"] + (" (mixed precision bf16)" if e.get("amp") else "")
        limit = "time budget" if e["budget_limited"] else "step limit"
        rows = [
            ("Model", f"{esc(e['line'])} - starts from {esc(e['parent'])}; active {esc(str(e['active']))}"),
            ("Cases", f"{e['cases']} corrected ({e['images']} images); {edited} with recorded edits"),
            ("Training", f"{len(train)} case(s): {esc(', '.join(train))}"),
            ("Held out", f"{len(held)} case(s), {e['heldout_images']} image(s): {esc(', '.join(held))} - a fixed "
                         f"set that judges every version ({len(e.get('heldout_carried', []))} kept from earlier "
                         "versions, never re-drawn; it grows with new corrected cases)"),
            ("Split", self._split_text(e)),
            ("Labels", esc(", ".join(e["labels"]))),
            ("Device", esc(device)),
            ("Steps", f"{e['steps']} x batch {e['batch_size']} of {e['patch_size'][0]}x{e['patch_size'][1]} "
                      f"({limit}), {e['validations']} validations"),
            ("Estimate", f"<b>{_minutes(e['estimate_s'])}</b> (measured here: {e['step_s']:.2f} s per step, "
                         f"{e['forward_s']:.2f} s per whole image)"),
        ]
        if e.get("baseline"):
            rows.append(("Baseline", esc(Path(e["baseline"]).name) + " (reported, does not gate)"))
        cells = "".join(f"<tr><td><b>{k}</b>&nbsp;&nbsp;</td><td>{v}</td></tr>" for k, v in rows)
        self.summary.setText(f"<table>{cells}</table>")
