"""Run the click protocol (:mod:`akmamba.prompt.protocol`) over images and build the ``prompt-eval`` report.

Two ways to answer the simulated user's clicks:

* ``"prompt"``: a prompt-aware model, given all the label's clicks so far (:class:`PromptPredictor`);
* ``"region-grow"``: the classical baseline: the model's prompt-free segmentation, each click answered by
  region growing on the image (:class:`~akmamba.prompt.protocol.RegionGrow`); works with any model.

The report's keys are documented in docs/prompt-eval.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from akmamba.errors import ConfigError
from akmamba.infer.predictor import Predictor
from akmamba.prompt.encode import Click
from akmamba.prompt.protocol import Answer, RegionGrow, carried, run_label
from akmamba.prompt.regions import apply_rule, check_rule

MODES = ("prompt", "region-grow")


@dataclass(frozen=True)
class EvalImage:
    """One image with its truth: ``image`` ``(H, W)`` or ``(H, W, 3)``, ``gt`` ``(H, W)`` class indices, and
    optionally ``fov`` ``(H, W)`` bool, the field of view: where Dice is scored and the simulated user clicks
    (DRIVE's masks; None: the whole image)."""

    name: str
    case: str
    image: np.ndarray
    gt: np.ndarray
    fov: np.ndarray | None = None


def prompt_eval(
    predictor: Predictor,
    images: Iterable[EvalImage],
    *,
    mode: str = "prompt",
    max_clicks: int = 20,
    target: float = 0.85,
    labels: dict[int, str] | None = None,
    region_grow: RegionGrow | None = None,
    regions: str = "clicked",
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The protocol on every image and foreground label present in its truth.

    Args:
        predictor: a :class:`~akmamba.prompt.predictor.PromptPredictor` for ``mode="prompt"``; any predictor
            for ``"region-grow"``.
        images: the images and their truth (class indices of the model's label table).
        mode: ``"prompt"`` or ``"region-grow"``.
        max_clicks: the click limit.
        target: the Dice to reach.
        labels: ``{index: name}`` of the labels to evaluate (default: every foreground label of the model).
        region_grow: the baseline's settings (default :class:`RegionGrow()`).
        regions: ``"prompt"`` mode: the rule applied to each answer (:mod:`akmamba.prompt.regions`: ``"clicked"``
            keeps the regions the clicks point at, ``"model"`` the model's whole answer).
        progress: called with one line per image done.

    Returns:
        The report (see docs/prompt-eval.md): ``images`` (per image and label ``dice_after``, ``noc``,
        ``clicks``) and ``summary`` (per label name ``noc``, ``dice_after``, ``n``, ``reached``).

    Raises:
        ConfigError: unknown mode or region rule, or ``"prompt"`` with a model that is not prompt-aware.
    """
    from akmamba.prompt.predictor import PromptPredictor

    if mode not in MODES:
        raise ConfigError(f"Unknown mode {mode!r}; valid: {', '.join(MODES)}.", parameter="mode",
                          expected=list(MODES), got=mode)
    check_rule(regions)
    if mode == "prompt" and not isinstance(predictor, PromptPredictor):
        raise ConfigError(f"Model {predictor.model_info['name']!r} is not prompt-aware; evaluate it with the "
                          "region-growing baseline (--baseline region-grow).", parameter="model",
                          expected="a prompt-aware model", got=predictor.model_info["name"])
    names = labels or {k: v for k, v in predictor.label_names.items() if k != 0}
    grow = region_grow or RegionGrow()
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    calls = [0]
    for item in images:
        plain = predictor.predict(item.image).labels
        calls[0] += 1
        per_label: dict[str, Any] = {}
        for index, name in names.items():
            gt = item.gt == index
            if item.fov is not None:
                gt &= item.fov
            if not gt.any():
                continue
            if mode == "region-grow":
                answer = grow.answerer(item.image, plain == index)
            else:
                answer = _model_answer(predictor, item.image, plain, index, calls, regions)
            if item.fov is not None:
                answer = _inside(answer, item.fov)
            run = run_label(answer, gt, index, max_clicks=max_clicks, target=target)
            per_label[name] = {"dice_after": [round(d, 6) for d in run.dice_after], "noc": run.noc,
                               "clicks": [[y, x, pos] for y, x, pos in run.clicks]}
        rows.append({"image": item.name, "case": item.case, "labels": per_label, "fov": item.fov is not None})
        if progress is not None:
            progress(f"{item.name}: " + ", ".join(f"{n} NoC {v['noc']}" for n, v in per_label.items()))
    elapsed = time.perf_counter() - t0
    return {
        "protocol": {"max_clicks": max_clicks, "target": target, "connectivity": 4,
                     "click": "interior-most pixel (distance-transform maximum) of the largest error region",
                     "noc_when_not_reached": max_clicks + 1,
                     "inside_fov": any(r.get("fov") for r in rows)},
        "mode": mode,
        "baseline": asdict(grow) if mode == "region-grow" else None,
        "regions": regions if mode == "prompt" else None,
        "window": getattr(predictor, "window", None) if mode == "prompt" else None,
        "model": {**predictor.model_info, "architecture": predictor.architecture,
                  "prompt_aware": isinstance(predictor, PromptPredictor)},
        "model_sha256": predictor.model_info.get("sha256"),
        "images": rows,
        "summary": summarise(rows, list(names.values()), max_clicks),
        "timing": {"elapsed_s": round(elapsed, 3), "model_calls": calls[0],
                   "s_per_call": round(elapsed / max(calls[0], 1), 4)},
    }


def _inside(answer: Answer, fov: np.ndarray) -> Answer:
    """``answer`` cut to the field of view ``fov`` ``(H, W)`` bool: Dice and the next click see only the FOV."""

    def cut(clicks: Sequence[Click]) -> np.ndarray:
        return np.asarray(answer(clicks), bool) & fov

    return cut


def _model_answer(predictor: Predictor, image: np.ndarray, plain: np.ndarray, index: int, calls: list[int],
                  regions: str = "clicked") -> Answer:
    """The prompt-aware model's answer for label ``index`` (no click: the prompt-free mask ``plain``) after the
    region rule ``regions``; counts the model calls in ``calls[0]``."""

    def answer(clicks: Sequence[Click]) -> np.ndarray:
        if not clicks:
            return plain == index
        calls[0] += 1
        labels = predictor.predict_prompts(image, list(clicks)).labels  # type: ignore[attr-defined]
        return apply_rule(labels, clicks, regions) == index

    return answer


def summarise(rows: list[dict[str, Any]], names: list[str], max_clicks: int) -> dict[str, Any]:
    """Per label name: ``noc`` (mean NoC), ``dice_after`` (mean Dice after 0..max_clicks clicks, each run's last
    Dice carried forward once it stopped), ``n`` (image-label runs) and ``reached`` (fraction reaching the
    target within the limit). A label with no run has ``n`` 0 and null figures."""
    out: dict[str, Any] = {}
    for name in names:
        runs = [r["labels"][name] for r in rows if name in r["labels"]]
        if not runs:
            out[name] = {"n": 0, "noc": None, "dice_after": None, "reached": None}
            continue
        curves = np.array([carried(r["dice_after"], max_clicks) for r in runs])
        nocs = [r["noc"] for r in runs]
        out[name] = {"n": len(runs), "noc": float(np.mean(nocs)),
                     "dice_after": [round(float(v), 6) for v in curves.mean(0)],
                     "reached": float(np.mean([n <= max_clicks for n in nocs]))}
    return out
