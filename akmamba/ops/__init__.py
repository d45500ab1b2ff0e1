"""Compute kernels with several backends: the selective scan (and deformable sampling)."""

from akmamba.ops.selective_scan import BackendInfo, available_backends, selective_scan

__all__ = ["BackendInfo", "available_backends", "selective_scan"]
