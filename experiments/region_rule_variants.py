"""``akmamba prompt-eval`` with a variant of the "clicked" region rule (docs/prompt.md, "Keep the clicked regions").

The variants measured against the shipped rule (akmamba.prompt.regions): the first three before it was chosen,
``keeplargest`` after (docs/prompt.md, "The second GPU run"); none was kept:

* ``posonly``: positive prompts select regions; negative clicks are left to the model (no region is dropped);
* ``neg0``: a negative click drops a region only when the region holds the clicked pixel itself (reach 0);
* ``keeplargest``: as the rule, except that a negative click never drops the label's largest region while the
  label has no positive prompt (a single negative click dropped a whole bladder wall, Dice 0);
* ``obey``: before the rule, a click the model did not obey (a positive click outside the answer, a negative one
  inside it) is answered by the region-growing baseline's region at that click.

Usage: ``python experiments/region_rule_variants.py VARIANT <prompt-eval arguments>`` (``--regions clicked``; every
measured run used the whole image, ``--window none`` since the prompt window exists).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

import akmamba.prompt.evaluate as evaluate
import akmamba.prompt.regions as regions
from akmamba.prompt.encode import Click, Prompt
from akmamba.prompt.protocol import RegionGrow

VARIANTS = ("posonly", "neg0", "obey", "keeplargest")


def _keeplargest(mask: np.ndarray, prompts: Sequence[Prompt], label: int, *, reach: int = 2,
                 _rule: Any = regions.keep_clicked) -> np.ndarray:
    from scipy import ndimage as ndi

    kept = _rule(mask, prompts, label, reach=reach)
    m = np.asarray(mask, bool)
    if any(p.label == label and getattr(p, "positive", True) for p in prompts) or not m.any():
        return kept
    comps, _ = ndi.label(m, structure=np.ones((3, 3), bool))
    largest = np.bincount(comps.ravel())[1:].argmax() + 1
    return kept | (comps == largest)


def _posonly(mask: np.ndarray, prompts: Sequence[Prompt], label: int, *, reach: int = 2,
             _rule: Any = regions.keep_clicked) -> np.ndarray:
    return _rule(mask, [p for p in prompts if getattr(p, "positive", True)], label, reach=reach)


def _neg0_anchors(prompts: Sequence[Prompt], label: int, positive: bool, shape: tuple[int, int], reach: int,
                  _anchors: Any = regions._anchors) -> np.ndarray:
    return _anchors(prompts, label, positive, shape, reach if positive else 0)


def _obey_answer(predictor: Any, image: np.ndarray, plain: np.ndarray, index: int, calls: list[int],
                 rule: str = "clicked") -> evaluate.Answer:
    grow = RegionGrow()
    feature = grow.feature(image)

    def answer(clicks: Sequence[Click]) -> np.ndarray:
        if not clicks:
            return plain == index
        calls[0] += 1
        mask = predictor.predict_prompts(image, list(clicks)).labels == index
        for c in clicks:
            if c.positive and not mask[c.y, c.x]:
                mask |= grow.region(feature, c.y, c.x)
            elif not c.positive and mask[c.y, c.x]:
                mask &= ~grow.region(feature, c.y, c.x)
        return regions.keep_clicked(mask, clicks, index) if rule == "clicked" else mask

    return answer


def main(argv: Sequence[str]) -> int:
    """Patch in the variant ``argv[0]`` and run ``prompt-eval`` with the rest."""
    if not argv or argv[0] not in VARIANTS:
        print(f"usage: region_rule_variants.py {{{','.join(VARIANTS)}}} <prompt-eval arguments>", file=sys.stderr)
        return 2
    if argv[0] == "posonly":
        regions.keep_clicked = _posonly  # type: ignore[assignment]  # apply_rule calls it
    elif argv[0] == "keeplargest":
        regions.keep_clicked = _keeplargest  # type: ignore[assignment]
    elif argv[0] == "neg0":
        regions._anchors = _neg0_anchors  # type: ignore[assignment]
    else:
        evaluate._model_answer = _obey_answer  # type: ignore[assignment]
    from akmamba.prompt.eval_cli import main as prompt_eval_main

    return prompt_eval_main(list(argv[1:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
