"""CPU cost of the input normalisations (akmamba/data/normalize.py) on one 584 x 565 RGB image.

Usage:
    python benchmarks/bench_normalise.py [--image DRIVE/training/images/21_training.tif] [--repeats 5]
        [--threads 1,2] [--output docs/benchmarks/normalise_cpu.md]

Without ``--image`` a synthetic fundus-like image of that size is used (bright textured disc, black surround).
Prints a markdown table: median wall time of ``--repeats`` calls after one warm-up, for ``zscore``, ``clahe`` and
``clahe``'s parts (dark border, nearest-inside fill, SimpleITK equalisation of one channel), at each SimpleITK
thread count. The image is normalised once per training run (all images at load) and once per prediction.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

import akmamba.data.normalize as norm


def synthetic(height: int = 584, width: int = 565) -> np.ndarray:
    """``(height, width, 3)`` uint8: a smooth textured disc (60..255) on a noisy black surround (0..15)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:height, :width]
    disc = (yy - height / 2) ** 2 + (xx - width / 2) ** 2 < (0.47 * min(height, width)) ** 2
    texture = ndimage.gaussian_filter(rng.random((height, width, 3)), (3, 3, 0))
    texture = 60 + 195 * (texture - texture.min()) / np.ptp(texture)
    return np.where(disc[..., None], texture, rng.integers(0, 16, (height, width, 3))).astype(np.uint8)


def median_s(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image", type=Path, default=None)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", default="1,2", help="comma-separated SimpleITK thread counts")
    p.add_argument("--output", type=Path, default=None)
    args = p.parse_args(argv)
    if args.image is not None:
        from akmamba.io import read_image

        array = read_image(args.image).array
        source = str(args.image)
    else:
        array, source = synthetic(), "synthetic 584 x 565 fundus-like image"
    x = norm.to_channels_first(array, 3)
    border = norm.dark_border(x)
    height, width = x.shape[-2:]
    radius = [max(1, round(width * norm.CLAHE_RADIUS_FRACTION)), max(1, round(height * norm.CLAHE_RADIUS_FRACTION))]
    channel = sitk.GetImageFromArray((np.rint(x[1] / 255 * 255) / 255).astype(np.float32))
    default_threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    rows = []
    try:
        for threads in (int(t) for t in args.threads.split(",")):
            sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
            parts = {
                "zscore (whole call)": lambda: norm.normalise(x, "zscore"),
                "clahe (whole call, 3 channels)": lambda: norm.normalise(x, "clahe"),
                "  dark border": lambda: norm.dark_border(x),
                "  nearest-inside fill indices": lambda: ndimage.distance_transform_edt(
                    border, return_distances=False, return_indices=True),
                "  SimpleITK equalisation, 1 channel": lambda: sitk.AdaptiveHistogramEqualization(
                    channel, radius, norm.CLAHE_ALPHA, norm.CLAHE_BETA),
            }
            for name, fn in parts.items():
                rows.append((name, threads, 1000 * median_s(fn, args.repeats)))
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(default_threads)
    command = " ".join(["python", "benchmarks/bench_normalise.py", *(argv if argv is not None else sys.argv[1:])])
    cpu = platform.processor() or platform.machine()
    lines = [
        f"Command: `{command}`",
        f"Input: {source}, shape {tuple(x.shape)}; border {border.mean():.1%} of the image; window radius "
        f"{radius} (x, y), alpha {norm.CLAHE_ALPHA}, beta {norm.CLAHE_BETA}",
        f"SimpleITK {sitk.Version.VersionString()}, numpy {np.__version__}, {cpu}, "
        f"{datetime.date.today().isoformat()}; median of {args.repeats} after one warm-up",
        "",
        "| step | SimpleITK threads | ms |",
        "|---|---|---|",
        *(f"| {name} | {threads} | {ms:.1f} |" for name, threads, ms in rows),
    ]
    text = "\n".join(lines)
    print(text)
    if args.output is not None:
        args.output.write_text(f"# Input normalisation, CPU\n\n{text}\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
