"""Compute kernels with several backends: the selective scan, SS2D's four-direction scan (and deformable sampling)."""

from akmamba.ops.selective_scan import BackendInfo, available_backends, selective_scan
from akmamba.ops.selective_scan.cross import cross_selective_scan

__all__ = ["BackendInfo", "available_backends", "cross_selective_scan", "selective_scan"]
