"""Akmamba: AKConv + Mamba-out (VMamba SS2D) U-Nets for medical image segmentation.

The library never imports Qt. Public entry points:

- ``akmamba.ops.selective_scan`` and ``akmamba.ops.available_backends`` (selective scan with several backends);
- ``akmamba.nn.build_model`` and ``akmamba.nn.list_models`` (Akmamba-Net and the paper's baselines);
- ``akmamba.nn.save_checkpoint`` / ``akmamba.nn.load_checkpoint`` (safetensors + JSON metadata).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
