"""Cost of one brush stamp plus its undo bookkeeping on a 2048 x 2048 uint8 label map (numpy side only).

Usage:
    python benchmarks/bench_brush.py [--repeats 1000] [--out docs/benchmarks/brush_numpy.md]

Rows (median and p90 of ``--repeats`` calls, microseconds):
- stamp in a stroke: ``paint_disc`` while a stroke is open (rasterise, protect check, write, save old values);
- stamp as its own undo item: ``paint_disc`` with no stroke open (the above plus building and pushing the atom);
- end of a 20-stamp stroke: ``end_stroke`` folding 20 stamps into one atom;
- the same with the journal on (zlib + CRC + write, fsync off so that the disk does not dominate).
Every stamp changes pixels (labels alternate), at random centres.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from report import publish  # noqa: E402

from akmamba.annotations import LabelMap  # noqa: E402

SIZE = 2048


def _time(
    fn: Callable[[int], object], repeats: int, before: Callable[[int], object] | None = None
) -> tuple[float, float]:
    samples = []
    for i in range(repeats):
        if before is not None:
            before(i)  # untimed set-up
        t0 = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - t0) * 1e6)
    samples.sort()
    return statistics.median(samples), samples[int(0.9 * (len(samples) - 1))]


def bench(radius: int, repeats: int, rng: np.random.Generator) -> dict[str, tuple[float, float]]:
    """Median and p90 (µs) of each row for one brush radius."""
    centres = rng.integers(radius, SIZE - radius, size=(repeats * 20 + 1, 2))
    out: dict[str, tuple[float, float]] = {}

    lm = LabelMap(np.zeros((SIZE, SIZE), np.uint8), history_depth=500)
    lm.begin_stroke()

    def new_stroke_every_20(i: int) -> None:  # keep strokes of 20 stamps, as a drag would
        if i % 20 == 19:
            lm.end_stroke()
            lm.begin_stroke()

    out["stamp in a stroke"] = _time(
        lambda i: lm.paint_disc(centres[i], radius, 1 + i % 2), repeats, before=new_stroke_every_20
    )
    lm.end_stroke()

    lm = LabelMap(np.zeros((SIZE, SIZE), np.uint8), history_depth=500)
    out["stamp as its own undo item"] = _time(lambda i: lm.paint_disc(centres[i], radius, 1 + i % 2), repeats)

    for journal in (False, True):
        lm = LabelMap(np.zeros((SIZE, SIZE), np.uint8), history_depth=500)
        with tempfile.TemporaryDirectory() as tmp:
            if journal:
                lm.start_journal(Path(tmp) / "bench.akj", fsync=False)
            reps = max(repeats // 10, 20)
            samples = []
            for i in range(reps):
                lm.begin_stroke()
                walk = centres[20 * i] + np.cumsum(rng.integers(-8, 9, size=(20, 2)), axis=0)
                for j, c in enumerate(np.clip(walk, 0, SIZE - 1)):
                    lm.paint_disc(c, radius, 1 + (i + j) % 2)
                t0 = time.perf_counter()
                lm.end_stroke()
                samples.append((time.perf_counter() - t0) * 1e6)
            if lm.journal is not None:
                lm.detach_journal().close()
        samples.sort()
        name = "end of a 20-stamp stroke" + (" + journal record" if journal else "")
        out[name] = statistics.median(samples), samples[int(0.9 * (len(samples) - 1))]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    results = {r: bench(r, args.repeats, rng) for r in (10, 50)}
    lines = [
        f"# Brush stamp cost, numpy side ({SIZE} x {SIZE} uint8 map)",
        "",
        f"{dt.date.today()} · Python {platform.python_version()} · numpy {np.__version__} · "
        f"{platform.machine()} {platform.system()} · `python benchmarks/bench_brush.py --repeats {args.repeats}` · "
        "shared 2-core machine, so p90 is noisy",
        "",
        "| operation | radius 10: median µs | radius 10: p90 µs | radius 50: median µs | radius 50: p90 µs |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in results[10]:
        (m10, p10), (m50, p50) = results[10][name], results[50][name]
        lines.append(f"| {name} | {m10:.1f} | {p10:.1f} | {m50:.1f} | {p50:.1f} |")
    text = "\n".join(lines) + "\n"
    publish(text, args.out)


if __name__ == "__main__":
    main()
