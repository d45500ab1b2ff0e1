"""Segmentation metrics in numpy only (no torch): overlap, ROC AUC, clDice, per-case rows and summaries.

Conventions for empty masks are tabled in ``akmamba.metrics.overlap``; per-image mean versus pooled is
explained in ``akmamba.metrics.aggregate``.
"""

from akmamba.metrics.aggregate import METRIC_ORDER, evaluate_case, label_table, pool_rows, summarise
from akmamba.metrics.cldice import (
    SkeletonCounts,
    cldice,
    cldice_metrics,
    skeleton_backend,
    skeleton_counts,
    skeletonize,
    topology_precision,
    topology_sensitivity,
)
from akmamba.metrics.overlap import (
    OVERLAP_METRICS,
    Confusion,
    accuracy,
    binary_to_labels,
    confusion_counts,
    dice,
    iou,
    overlap_metrics,
    precision,
    recall,
    remap_values,
    specificity,
)
from akmamba.metrics.ranking import pooled_roc_auc, roc_auc

__all__ = [
    "METRIC_ORDER",
    "OVERLAP_METRICS",
    "Confusion",
    "SkeletonCounts",
    "accuracy",
    "binary_to_labels",
    "cldice",
    "cldice_metrics",
    "confusion_counts",
    "dice",
    "evaluate_case",
    "iou",
    "label_table",
    "overlap_metrics",
    "pool_rows",
    "pooled_roc_auc",
    "precision",
    "recall",
    "remap_values",
    "roc_auc",
    "skeleton_backend",
    "skeleton_counts",
    "skeletonize",
    "specificity",
    "summarise",
    "topology_precision",
    "topology_sensitivity",
]
