"""Zoom-in for small structures (docs/prompt.md, "Zoom-in"): does answering later clicks on an enlarged crop around
the clicked object lower NoC@85 where the clicks stop at 80-85 % Dice (small tumours)?

RITM's ZoomIn (Sofiiuk et al., 2022): after the first click, the network runs on a crop around the current object
and the clicks, enlarged to a fixed size, and its answer is shrunk back and pasted into the whole-plane answer.
Here: the crop holds the positive clicks and the connected parts of the current answer (of the clicked label) they
touch, grown by ``--expand`` of its size on each side, at least ``--min-side`` pixels; it is resized (bilinear) so
that its longer side is ``--size``; the clicks are encoded in the resized crop's pixels; the probabilities are
resized back (bilinear with antialiasing) and pasted. The first click, and crops that would not be enlarged, keep
the whole-plane answer (which is computed for every click: it guides the crop). An experiment, not a product path:
the viewer and ``akmamba prompt-eval`` do not use it.

    python experiments/zoom_in.py MODEL --out report.json [--size 192] [--expand 0.4] [--min-side 48]
        [--cases 19,20,21,25,5] [--label tumor] [--every 2]

The report is prompt-eval's (``akmamba.prompt.evaluate.prompt_eval``, rule ``clicked``, whole-plane reference
``window=None`` otherwise) with a ``zoom`` record added.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from akmamba.decision import labels_from_probs
from akmamba.infer.predictor import Prediction
from akmamba.prompt.encode import Click, Prompt, encode_guidance
from akmamba.prompt.predictor import PromptPredictor


def focus_crop(labels: np.ndarray, clicks: Sequence[Click], expand: float, min_side: int) -> tuple[int, int, int, int]:
    """``(y0, y1, x0, x1)``: the positive clicks and the parts of ``labels == click.label`` (``(H, W)``) they touch,
    grown by ``expand`` of the box's size on each side, each side at least ``min_side``, inside the plane."""
    h, w = labels.shape
    ys = [c.y for c in clicks]
    xs = [c.x for c in clicks]
    for c in clicks:
        if not c.positive:
            continue
        comps, _ = ndi.label(labels == c.label)
        k = comps[c.y, c.x]
        if k:
            yy, xx = np.nonzero(comps == k)
            ys += [int(yy.min()), int(yy.max())]
            xs += [int(xx.min()), int(xx.max())]
    out = []
    for lo, hi, size in ((min(ys), max(ys) + 1, h), (min(xs), max(xs) + 1, w)):
        grow = round(expand * (hi - lo))
        lo, hi = lo - grow, hi + grow
        if hi - lo < min_side:
            pad = (min_side - (hi - lo) + 1) // 2
            lo, hi = lo - pad, hi + pad
        lo, hi = max(lo, 0), min(hi, size)
        out += [lo, hi]
    return out[0], out[1], out[2], out[3]


class ZoomInPredictor(PromptPredictor):
    """A whole-plane :class:`PromptPredictor` (``window=None``) whose answers after the first click come from an
    enlarged crop around the clicked object (module docstring)."""

    def __init__(self, *args: Any, size: int = 192, expand: float = 0.4, min_side: int = 48, **kw: Any) -> None:
        super().__init__(*args, window=None, **kw)
        self.size, self.expand, self.min_side = size, expand, min_side
        self.zoomed_calls = 0
        self.scales: list[float] = []

    def predict_prompts(self, image: np.ndarray, prompts: Sequence[Prompt], should_stop: Any = None,
                        *, guidance: np.ndarray | None = None) -> Prediction:
        clicks = [p for p in prompts if isinstance(p, Click)]
        whole = super().predict_prompts(image, prompts, should_stop)  # the reference answer, also the crop's guide
        if len(clicks) < 2 or len(clicks) != len(prompts):
            return whole
        y0, y1, x0, x1 = focus_crop(whole.labels, clicks, self.expand, self.min_side)
        scale = self.size / max(y1 - y0, x1 - x0)
        if scale <= 1:
            return whole
        hz, wz = max(16, round((y1 - y0) * scale / 16) * 16), max(16, round((x1 - x0) * scale / 16) * 16)
        sy, sx = hz / (y1 - y0), wz / (x1 - x0)
        img = torch.from_numpy(self._prepare(image)[:, y0:y1, x0:x1].copy())[None]
        big = F.interpolate(img, size=(hz, wz), mode="bilinear", align_corners=False)
        moved = [Click(min(int((c.y - y0 + 0.5) * sy), hz - 1), min(int((c.x - x0 + 0.5) * sx), wz - 1), c.label,
                       c.positive) for c in clicks]
        g = torch.from_numpy(encode_guidance(moved, self.layout, (hz, wz)))[None]
        probs, _, device = self._probs(torch.cat([big, g], 1), None, should_stop)
        small = F.interpolate(probs[None], size=(y1 - y0, x1 - x0), mode="bilinear", align_corners=False,
                              antialias=True)[0]
        assert whole.probs is not None  # predict_prompts always returns probabilities
        p = whole.probs.copy()
        p[:, y0:y1, x0:x1] = small.numpy()
        self.zoomed_calls += 1
        self.scales.append(float(scale))
        return Prediction(p, labels_from_probs(p), dict(self.model_info), whole.roi_size, str(device), self.tta)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--size", type=int, default=192)
    p.add_argument("--expand", type=float, default=0.4)
    p.add_argument("--min-side", type=int, default=48)
    p.add_argument("--data-root", type=Path, default=Path("/work/shared/data/BladderMRI"))
    p.add_argument("--cases", default="19,20,21,25,5")
    p.add_argument("--label", default="tumor")
    p.add_argument("--every", type=int, default=2)
    p.add_argument("--off", action="store_true", help="the whole-plane reference (no zoom), same code path")
    args = p.parse_args(argv)
    from akmamba.prompt.eval_cli import _items
    from akmamba.prompt.evaluate import prompt_eval

    cls = PromptPredictor if args.off else ZoomInPredictor
    extra = {"window": None} if args.off else {"size": args.size, "expand": args.expand, "min_side": args.min_side}
    predictor = cls.from_checkpoint(args.model, device="cpu", **extra)
    assert isinstance(predictor, PromptPredictor)
    names = {k: v for k, v in predictor.label_names.items() if k != 0}
    index = {v: k for k, v in names.items()}[args.label]
    ns = argparse.Namespace(dataset="bladder", cases=args.cases, every=args.every, data_root=None,
                            images=args.data_root / "Images", gt=args.data_root / "Labels", with_label=args.label)
    table = predictor.metadata.get("label_table") or []
    report = prompt_eval(predictor, _items(ns, table, names), labels={index: args.label}, regions="clicked",
                         progress=lambda line: print(line, flush=True))
    scales: list[float] = getattr(predictor, "scales", [])
    report["zoom"] = None if args.off else {
        "size": args.size, "expand": args.expand, "min_side": args.min_side,
        "zoomed_calls": getattr(predictor, "zoomed_calls", 0),
        "median_scale": float(np.median(scales)) if scales else None}
    report["command"] = " ".join(sys.argv)
    args.out.write_text(json.dumps(report, indent=1), encoding="utf-8")
    s = report["summary"][args.label]
    print(f"{args.label}: NoC@85 {s['noc']:.2f}, Dice after 0/1/3/5 clicks "
          + "/".join(f"{100 * d:.1f}" for d in (s['dice_after'][0], s['dice_after'][1], s['dice_after'][3],
                                               s['dice_after'][5])) + f"; zoom {report['zoom']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
