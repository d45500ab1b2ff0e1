"""Promptable correction: clicks, boxes and scribbles answered by a prompt-aware network (issue 24).

* :mod:`~akmamba.prompt.layout`: which guidance channel means what (recorded in the checkpoint).
* :mod:`~akmamba.prompt.encode`: prompts -> guidance channels (MONAI DeepEdit's Gaussian click signal).
* :mod:`~akmamba.prompt.model`: prompt-aware models, and building one from a plain checkpoint.
* :mod:`~akmamba.prompt.predictor`: :class:`PromptPredictor`, image + prompts -> a prediction.
* :mod:`~akmamba.prompt.protocol`: the simulated user of interactive-segmentation papers, and the
  region-growing baseline.
* :mod:`~akmamba.prompt.simulate` / :mod:`~akmamba.prompt.train`: training with clicks drawn from the model's
  own errors (DeepEdit style).
* :mod:`~akmamba.prompt.evaluate` / :mod:`~akmamba.prompt.eval_cli`: the protocol over images, ``akmamba prompt-eval``.
* :mod:`~akmamba.prompt.regions`: the rule that keeps the regions the prompts point at (viewer and ``prompt-eval``).
* :mod:`~akmamba.prompt.interactive`: the viewer Prompt tool's Qt-free state (preview, accept, propagate).
"""

from akmamba.prompt.encode import Box, Click, Prompt, Scribble, encode_guidance
from akmamba.prompt.layout import GuidanceLayout, layout_of

__all__ = ["Box", "Click", "GuidanceLayout", "Prompt", "Scribble", "encode_guidance", "layout_of"]
