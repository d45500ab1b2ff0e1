"""Evaluation reports (JSON, CSV, self-contained HTML) and overlay thumbnails; numpy + Pillow, no Qt, no torch."""

from akmamba.reports.case_report import build_case_report, report_model_info
from akmamba.reports.html import LABEL_COLOURS, OVERLAY_COLOURS, bar_chart_svg, make_overlay_thumbnail, render_html
from akmamba.reports.report import (
    REPORT_SUFFIXES,
    Report,
    atomic_write_bytes,
    read_json_report,
    sha256_file,
    software_versions,
    write_report,
)

__all__ = [
    "LABEL_COLOURS",
    "OVERLAY_COLOURS",
    "REPORT_SUFFIXES",
    "Report",
    "atomic_write_bytes",
    "bar_chart_svg",
    "build_case_report",
    "make_overlay_thumbnail",
    "read_json_report",
    "render_html",
    "report_model_info",
    "sha256_file",
    "software_versions",
    "write_report",
]
