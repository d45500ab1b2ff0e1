"""Networks: ``build_model``, ``list_models``, ``model_options`` and safetensors checkpoints."""

from akmamba.nn.build import build_model, list_models, model_config, model_options
from akmamba.nn.checkpoint import load_checkpoint, read_metadata, save_checkpoint, verify_checkpoint

__all__ = [
    "build_model",
    "list_models",
    "load_checkpoint",
    "model_config",
    "model_options",
    "read_metadata",
    "save_checkpoint",
    "verify_checkpoint",
]
