"""Self-contained HTML for a Report, its inline-SVG chart, and overlay thumbnails (numpy + Pillow, no Qt).

The page needs no network and no files beside it: the chart is inline SVG written here (no matplotlib) and
the thumbnails are base64 PNG ``data:`` URIs.

Overlay colours (Okabe-Ito palette, distinguishable with the common colour-vision deficiencies), blended
at ``alpha`` over the grey image:

===============  ===============  ================================================================
name             RGB              pixels
===============  ===============  ================================================================
agreement        (0, 158, 115)    ``pred == gt > 0`` (bluish green)
false_positive   (213, 94, 0)     ``pred > 0`` and ``pred != gt``, including a wrong class (vermillion)
false_negative   (0, 114, 178)    ``pred == 0`` and ``gt > 0`` (blue)
===============  ===============  ================================================================

Without ``gt`` each predicted class ``k`` gets ``LABEL_COLOURS[(k - 1) % len(LABEL_COLOURS)]``.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from akmamba.errors import ConfigError, ShapeError
from akmamba.metrics.aggregate import MEAN_OVER_LABELS, METRIC_ORDER, summarise
from akmamba.metrics.overlap import require_same_shape

if TYPE_CHECKING:
    from akmamba.reports.report import Report

OVERLAY_COLOURS: dict[str, tuple[int, int, int]] = {
    "agreement": (0, 158, 115),
    "false_positive": (213, 94, 0),
    "false_negative": (0, 114, 178),
}
LABEL_COLOURS: tuple[tuple[int, int, int], ...] = (
    (230, 159, 0),
    (86, 180, 233),
    (0, 158, 115),
    (240, 228, 66),
    (0, 114, 178),
    (213, 94, 0),
    (204, 121, 167),
)


def _to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """``(y, x)`` or ``(y, x, 3|4)`` of any dtype -> ``(y, x, 3)`` uint8; non-uint8 data is stretched 1-99 %."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] in (3, 4):
        img = img[..., :3]
    elif img.ndim != 2:
        raise ShapeError(
            f"Thumbnail image shape {img.shape} is not (y, x) or (y, x, 3). Pass one 2-D slice.",
            parameter="image",
            expected="(y, x) or (y, x, 3)",
            got=img.shape,
        )
    if img.dtype != np.uint8:
        f = img.astype(np.float64)
        finite = f[np.isfinite(f)]
        lo, hi = np.percentile(finite, (1, 99)) if finite.size else (0.0, 1.0)
        hi = hi if hi > lo else lo + 1.0
        img = (np.clip((np.nan_to_num(f, nan=lo) - lo) / (hi - lo), 0, 1) * 255).round().astype(np.uint8)
    return np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img


def make_overlay_thumbnail(
    image: np.ndarray,
    pred: np.ndarray,
    gt: np.ndarray | None = None,
    max_size: int = 256,
    alpha: float = 0.5,
) -> bytes:
    """PNG thumbnail of an image with the prediction (or its difference from the truth) blended on top.

    Args:
        image: ``(y, x)`` grey or ``(y, x, 3|4)`` colour, any dtype (non-uint8 is stretched to 1-99 %).
        pred: predicted class indices, ``(y, x)``; non-zero is foreground.
        gt: optional true class indices, ``(y, x)``; with it, agreement / false positive / false negative
            pixels get the colours of ``OVERLAY_COLOURS`` (module docstring).
        max_size: longest side of the thumbnail in pixels (smaller images are not enlarged).
        alpha: opacity of the colour over the image, in [0, 1].

    Returns:
        PNG file bytes (RGB).

    Raises:
        ShapeError: when the image is not 2-D (grey or colour) or the masks do not match its (y, x) shape.
        ConfigError: when ``max_size < 1`` or ``alpha`` is outside [0, 1].
    """
    if max_size < 1 or not 0.0 <= alpha <= 1.0:
        raise ConfigError(
            f"max_size must be >= 1 and alpha in [0, 1], got max_size={max_size}, alpha={alpha}.",
            parameter="max_size" if max_size < 1 else "alpha",
            got=max_size if max_size < 1 else alpha,
        )
    rgb = _to_rgb_uint8(image)
    pred = np.asarray(pred)
    require_same_shape(pred, rgb[..., 0], "pred", "image (y, x)")
    layers: list[tuple[np.ndarray, tuple[int, int, int]]] = []
    if gt is None:
        for k in np.unique(pred[pred != 0]):
            layers.append((pred == k, LABEL_COLOURS[(int(k) - 1) % len(LABEL_COLOURS)]))
    else:
        gt = np.asarray(gt)
        require_same_shape(gt, pred, "gt", "pred")
        layers.append(((pred != 0) & (pred == gt), OVERLAY_COLOURS["agreement"]))
        layers.append(((pred != 0) & (pred != gt), OVERLAY_COLOURS["false_positive"]))
        layers.append(((pred == 0) & (gt != 0), OVERLAY_COLOURS["false_negative"]))
    out = rgb.astype(np.float32)
    for mask, colour in layers:
        out[mask] = (1 - alpha) * out[mask] + alpha * np.asarray(colour, dtype=np.float32)
    pil = Image.fromarray(out.round().astype(np.uint8), mode="RGB")
    scale = max_size / max(pil.size)
    if scale < 1:
        size = (max(1, round(pil.width * scale)), max(1, round(pil.height * scale)))
        pil = pil.resize(size, Image.Resampling.BOX)
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return buf.getvalue()


def bar_chart_svg(
    items: Sequence[tuple[str, float]], title: str, y_label: str = "Dice", width: int = 640, height: int = 260
) -> str:
    """Inline SVG bar chart of values in [0, 1], one bar per item, with the mean as a dashed line.

    Args:
        items: ``(bar label, value)``; nan values are drawn as "n/a" without a bar.
        title: chart title (escaped).
        y_label: y-axis caption.
        width: SVG width in px; grows with the number of bars so that labels stay readable.
        height: SVG height in px.

    Returns:
        An ``<svg>`` element as text.
    """
    left, right, top, bottom = 48, 12, 28, 84
    width = max(width, left + right + 18 * len(items))
    plot_w, plot_h = width - left - right, height - top - bottom
    slot = plot_w / max(len(items), 1)

    def y_of(v: float) -> float:
        return top + plot_h * (1 - min(max(v, 0.0), 1.0))

    esc = html.escape
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{esc(title)}" font-family="sans-serif" font-size="11">',
        f'<text x="{left}" y="16" font-size="13" font-weight="bold">{esc(title)}</text>',
        f'<text x="12" y="{top + plot_h / 2:.1f}" transform="rotate(-90 12 {top + plot_h / 2:.1f})" '
        f'text-anchor="middle">{esc(y_label)}</text>',
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = y_of(tick)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{tick:.2f}</text>')
    for i, (name, value) in enumerate(items):
        x = left + i * slot
        cx = x + slot / 2
        if math.isfinite(value):
            y = y_of(value)
            parts.append(
                f'<rect x="{x + slot * 0.15:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" '
                f'height="{top + plot_h - y:.1f}" fill="#0072b2"><title>{esc(name)}: {value:.4f}</title></rect>'
            )
        else:
            parts.append(f'<text x="{cx:.1f}" y="{top + plot_h - 4}" text-anchor="middle">n/a</text>')
        ly = top + plot_h + 10
        parts.append(
            f'<text x="{cx:.1f}" y="{ly}" transform="rotate(-60 {cx:.1f} {ly})" text-anchor="end">{esc(name)}</text>'
        )
    finite = [v for _, v in items if math.isfinite(v)]
    if finite:
        mean = sum(finite) / len(finite)
        y = y_of(mean)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d55e00" '
            f'stroke-dasharray="5 3"><title>per-image mean {mean:.4f}</title></line>'
        )
    parts.append(
        f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}" stroke="#333"/>'
        f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#333"/></svg>'
    )
    return "\n".join(parts)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "n/a" if not math.isfinite(v) else f"{v:.4f}"
    return html.escape(str(v))


def _kv_table(pairs: Sequence[tuple[str, Any]]) -> str:
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td><code>{_fmt(v)}</code></td></tr>" for k, v in pairs)
    return f"<table>{rows}</table>"


def _summary_table(name: str, s: dict[str, Any]) -> str:
    metrics = [m for m in METRIC_ORDER if m in s.get("per_image_mean", {}) or m in s.get("pooled", {})]
    head = "<tr><th>metric</th><th>per-image mean ± std (n)</th><th>pooled</th></tr>"
    body = ""
    for m in metrics:
        mean, std = s["per_image_mean"].get(m, float("nan")), s["per_image_std"].get(m, float("nan"))
        n = s.get("per_image_count", {}).get(m, "")
        pooled = s["pooled"].get(m, float("nan"))
        body += f"<tr><th>{m}</th><td>{_fmt(mean)} ± {_fmt(std)} ({n})</td><td>{_fmt(pooled)}</td></tr>"
    title = "mean over labels" if name == MEAN_OVER_LABELS else f"label {html.escape(name)}"
    return f"<h3>{title} ({s.get('n_cases', '')} cases)</h3><table>{head}{body}</table>"


def _cases_table(report: Report) -> str:
    cols = [c for c in ("model", "case", "label_name", *METRIC_ORDER) if any(c in r for r in report.cases)]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(r.get(c, ''))}</td>" for c in cols) + "</tr>" for r in report.cases)
    return f"<table><tr>{head}</tr>{body}</table>"


def _per_case(report: Report) -> str:
    """The files pooled per case (patient), when the report has them: summary and one row per case and label."""
    if not report.per_case:
        return ""
    pc = report.per_case
    summary = "".join(_summary_table(name, s) for name, s in pc["summary"].items())
    cols = [c for c in ("case", "label_name", "n_files", *METRIC_ORDER) if any(c in r for r in pc["cases"])]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(r.get(c, ''))}</td>" for c in cols) + "</tr>" for r in pc["cases"])
    return (f"<h2>Per case ({html.escape(str(pc.get('by', '')))})</h2><p>Each case's files (slices) pooled: its "
            "counts summed, its metrics computed once from the sums. The per-image means below are means over "
            f"cases.</p>{summary}<table><tr>{head}</tr>{body}</table>\n")


def report_models(report: Report) -> list[str]:
    """The models whose rows the report holds (rows' ``"model"`` key), in order of appearance; [] when the rows
    do not say (one model: the report's)."""
    seen: dict[str, None] = {}
    for r in report.cases:
        if "model" in r:
            seen.setdefault(str(r["model"]), None)
    return list(seen)


def summaries_by_model(report: Report) -> dict[str, dict[str, Any]]:
    """``{model: summarise(its rows)}``: each model's metrics over *its* cases (never a mean over models)."""
    return {m: summarise([r for r in report.cases if str(r.get("model")) == m]) for m in report_models(report)}


def _per_model(report: Report) -> str:
    """One summary per model, over that model's cases, when the report compares several models."""
    models = report_models(report)
    if len(models) < 2:
        return ""
    parts = []
    for model, summary in summaries_by_model(report).items():
        tables = "".join(_summary_table(name, s) for name, s in summary.items())
        parts.append(f"<h3>Model {html.escape(model)}</h3>{tables}")
    return ("<h2>Per model</h2><p>Each model's metrics over its own cases; models are never averaged together "
            "(the Summary above covers the report's result).</p>" + "".join(parts) + "\n")


def _charts(report: Report) -> str:
    models = report_models(report)
    by_chart: dict[str, list[tuple[str, float]]] = {}
    for r in report.cases:
        if "dice" in r:
            title = f"Dice per case: {r['label_name']}"
            if len(models) > 1:  # one chart per model: its mean line is over its cases, not over models
                title += f", model {r.get('model', '')}"
            by_chart.setdefault(title, []).append((str(r["case"]), float(r["dice"])))
    return "".join(f"<figure>{bar_chart_svg(items, title)}</figure>" for title, items in by_chart.items())


def _thumbnails(report: Report) -> str:
    if not report.thumbnails:
        return "<p>No thumbnails.</p>"
    legend = " ".join(
        f'<span class="sw" style="background:rgb{c}"></span>{name.replace("_", " ")}'
        for name, c in OVERLAY_COLOURS.items()
    )
    figs = "".join(
        f'<figure><img alt="{html.escape(case)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
        f"<figcaption>{html.escape(case)}</figcaption></figure>"
        for case, png in report.thumbnails.items()
    )
    return f"<p>Legend (when the truth is shown): {legend}</p><div class='thumbs'>{figs}</div>"


_CSS = (
    "body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin:.5em 0}"
    "th,td{border:1px solid #ccc;padding:2px 8px;text-align:left}code{word-break:break-all}"
    ".thumbs{display:flex;flex-wrap:wrap;gap:8px}figure{margin:4px}"
    ".sw{display:inline-block;width:1em;height:1em;margin:0 4px 0 12px;vertical-align:middle}"
)


def render_html(report: Report) -> str:
    """The whole report as one self-contained HTML document (model, software, summary, chart, cases,
    thumbnails, data checksums)."""
    esc = html.escape
    summary = "".join(_summary_table(name, s) for name, s in report.summary.items())
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(report.title)}</title>'
        f"<style>{_CSS}</style></head><body>\n<h1>{esc(report.title)}</h1>\n"
        f"<p>Created {esc(report.created)}</p>\n"
        f"<h2>Model</h2>{_kv_table([(k, report.model.get(k, '')) for k in ('name', 'version', 'checksum')])}\n"
        f"<h2>Software</h2>{_kv_table(list(report.software.items()))}\n"
        "<h2>Summary</h2><p>Values are fractions in [0, 1]. <b>Per-image mean</b>: the metric is computed "
        "per case, then averaged (std over cases, n = cases with a defined value). <b>Pooled</b>: computed "
        "once from TP/FP/FN/TN summed over all cases. Recall is sensitivity; accuracy is not precision.</p>"
        f"{summary}\n{_per_case(report)}{_per_model(report)}<h2>Dice per case</h2>{_charts(report)}\n"
        f"<h2>Cases</h2>{_cases_table(report)}\n<h2>Thumbnails</h2>{_thumbnails(report)}\n"
        f"<h2>Data</h2>{_kv_table(list(report.data.items()))}\n</body></html>\n"
    )
