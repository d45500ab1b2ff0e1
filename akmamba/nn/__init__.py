"""Networks: ``build_model``, ``list_models``, ``model_options`` and safetensors checkpoints."""

from akmamba.nn.build import build_model, list_models, model_options

__all__ = ["build_model", "list_models", "model_options"]
