"""Where the prompt window's answer differs from the whole slice's (docs/prompt.md, "The prompt window").

For every 3rd slice of a prompt-eval report, the first 3 recorded clicks of each label are answered twice, by the
whole slice (``window=None``) and with the window (``--side``), and the label maps compared: in the band within 32
pixels of the window's edge, in the window's interior, and outside the window.

    python experiments/window_disagreement.py REPORT.json MODEL [--side 256] [--images DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import cast

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("model")
    parser.add_argument("--side", type=int, default=256)
    parser.add_argument("--images", type=Path, default=Path("/work/shared/data/BladderMRI/Images"))
    args = parser.parse_args()
    from akmamba.io import read_image
    from akmamba.prompt.encode import Click
    from akmamba.prompt.predictor import PromptPredictor

    report = json.loads(args.report.read_text(encoding="utf-8"))
    ref = cast(PromptPredictor, PromptPredictor.from_checkpoint(args.model, "cpu", window=None))
    fast = cast(PromptPredictor, PromptPredictor.from_checkpoint(args.model, "cpu", window=args.side))
    index = {name: k for k, name in ref.label_names.items()}
    totals = {"band": [0, 0], "interior": [0, 0], "outside": [0, 0]}
    print("| image | label | window | differing pixels: band / interior / outside |\n|---|---|---|---|")
    for row in report["images"][::3]:
        image = np.asarray(read_image(next(args.images.glob(f"{row['image']}.*"))).array)
        fast.predict(image)
        for name, run in row["labels"].items():
            clicks = [Click(y, x, index[name], positive) for y, x, positive in run["clicks"][:3]]
            win = fast.window_for(clicks, image.shape[:2])
            if not clicks or win is None:
                continue
            differ = ref.predict_prompts(image, clicks).labels != fast.predict_prompts(image, clicks).labels
            y0, y1, x0, x1 = win
            inside = np.zeros(differ.shape, bool)
            inside[y0:y1, x0:x1] = True
            interior = np.zeros(differ.shape, bool)
            interior[y0 + 32:y1 - 32, x0 + 32:x1 - 32] = True
            parts = {"band": inside & ~interior, "interior": interior, "outside": ~inside}
            for key, where in parts.items():
                totals[key][0] += int(differ[where].sum())
                totals[key][1] += int(where.sum())
            print(f"| {row['image']} | {name} | {win} | "
                  + " / ".join(str(int(differ[w].sum())) for w in parts.values()) + " |")
    print("\nshare of pixels that differ: " + ", ".join(f"{k} {100 * d / max(n, 1):.2f} %"
                                                       for k, (d, n) in totals.items()))


if __name__ == "__main__":
    main()
