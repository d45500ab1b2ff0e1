"""End-to-end CPU latency of every shipped model: ``Predictor.predict`` on a DRIVE image and a bladder slice,
whole-image inference beside the old 512-tile path, with each configuration's peak resident memory.

Usage:
    nice -n -5 python benchmarks/bench_latency.py [--repeats 5] [--threads 2] [--out docs/benchmarks/latency_cpu.md]
    python benchmarks/bench_latency.py --models unet-drive --size 48x40 --roi-size 32 --repeats 1 --in-process

For each shipped model (``resources/models/*.safetensors``, loaded with ``Predictor.from_checkpoint(name,
device="cpu")``) and each image, the time of ``Predictor.predict`` (normalisation, network, softmax, labels) is the
median of ``--repeats`` runs after one warm-up, with ``torch.set_num_threads(--threads)``. Two modes:

* ``whole``: the predictor as it ships (an image of at most ``akmamba.infer.tiling.WHOLE_MAX_PIXELS`` pixels runs
  as one forward);
* ``tiled``: the old behaviour, ``WHOLE_MAX_PIXELS = 0`` inside this benchmark only, so an image larger than the
  tile (``--roi-size``, default 512) in either axis goes through overlapping tiles blended by MONAI's sliding
  window. An image that fits one tile runs whole either way, so its ``tiled`` row is not run.

Each (model, image, mode) runs in its own subprocess so that its peak RSS (``VmHWM`` of ``/proc/self/status``)
belongs to it alone: ``peak`` is the process's high-water mark, ``predict`` its growth over the resident set after
loading the model and the image (what segmenting costs on top of a loaded model). The two modes of an image run
one after the other, so their ratio is measured under the same load. Numba (the Akmamba-Net scan kernel on the
CPU) gets ``NUMBA_NUM_THREADS=--threads`` too. ``--in-process`` runs everything in this process instead (quick; no
memory column; Numba's threads left as they are) for a dry run. ``--modes whole`` skips the old path.

Images: ``../shared/data/DRIVE/training/images/21_training.tif`` (584x565 RGB) and a 512x512 slice of
``../shared/data/BladderMRI/Images``; when those files are absent, synthetic images of the same sizes.
``--size HxW`` replaces both by one synthetic image of that size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from report import publish  # noqa: E402

SHARED = ROOT.parent / "shared" if (ROOT.parent / "shared").is_dir() else Path("/work/shared")
DRIVE_IMAGE = SHARED / "data/DRIVE/training/images/21_training.tif"
BLADDER_IMAGE = SHARED / "data/BladderMRI/Images/12-IM10.png"
MODES = ("whole", "tiled")
TARGET_S = 2.0
"""Issue 21 item 5: each shipped model segments a DRIVE image and a bladder slice in at most this many seconds."""


def shipped_models() -> list[str]:
    """Names of the models in resources/models (the ones :func:`akmamba.infer.models.resolve_model` finds)."""
    return sorted(p.name.removesuffix(".safetensors") for p in (ROOT / "resources/models").glob("*.safetensors"))


def images(size: str | None) -> dict[str, tuple[str, tuple[int, ...]]]:
    """``{label: (source, shape)}`` of the benchmark images; ``source`` is a path or ``"synthetic"``."""
    if size:
        h, w = (int(s) for s in size.lower().split("x"))
        return {f"{h}x{w}": ("synthetic", (h, w))}
    return {
        "DRIVE 584x565": (str(DRIVE_IMAGE) if DRIVE_IMAGE.is_file() else "synthetic", (584, 565, 3)),
        "bladder 512x512": (str(BLADDER_IMAGE) if BLADDER_IMAGE.is_file() else "synthetic", (512, 512)),
    }


def load_image(source: str, shape: tuple[int, ...]) -> np.ndarray:
    """The image array, ``(H, W)`` or ``(H, W, 3)``: read with akmamba's reader, or seeded uint8 noise."""
    if source == "synthetic":
        return np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    from akmamba.io.readers import read_image

    return read_image(source).array


def runs_whole(shape: tuple[int, ...], roi_size: int) -> bool:
    """Whether an image of ``shape`` fits one tile, so the old (tiled) path also ran it whole."""
    return all(s <= roi_size for s in shape[:2])


def vm_kib(field: str) -> int | None:
    """``VmHWM`` / ``VmRSS`` of this process in KiB from /proc/self/status (None where there is no /proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def measure(model: str, source: str, shape: tuple[int, ...], mode: str, repeats: int, threads: int,
            roi_size: int) -> dict:
    """Time ``Predictor.predict`` of ``model`` on one image in one mode.

    Returns:
        ``s`` median wall seconds (``times`` every run), ``cpu_s`` median CPU seconds of the process (all its
        threads), ``tiles`` the network's forwards per image, ``peak_mib`` VmHWM and ``predict_mib`` its growth
        over the resident set after loading (None without /proc).
    """
    import torch

    from akmamba.infer import Predictor, tiling

    saved, saved_threads = tiling.WHOLE_MAX_PIXELS, torch.get_num_threads()
    torch.set_num_threads(threads)
    if mode == "tiled":
        tiling.WHOLE_MAX_PIXELS = 0  # the old rule: only images that fit one tile run whole
    try:
        options = {"roi_size": roi_size} if mode == "tiled" else {}  # whole: the predictor's defaults, as shipped
        predictor = Predictor.from_checkpoint(model, device="cpu", **options)
        image = load_image(source, shape)
        rss0 = vm_kib("VmRSS")
        forwards: list[int] = []
        hook = predictor.model.register_forward_hook(lambda *_: forwards.append(1))
        predictor.predict(image)  # warm-up (Numba's JIT compiles here), counting the network's forwards (tiles)
        hook.remove()
        times, cpu = [], []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            predictor.predict(image)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    finally:
        tiling.WHOLE_MAX_PIXELS = saved
        torch.set_num_threads(saved_threads)
    hwm = vm_kib("VmHWM")
    return {"s": statistics.median(times), "times": times, "cpu_s": statistics.median(cpu), "tiles": len(forwards),
            "shape": list(np.shape(image)),
            "peak_mib": None if hwm is None else hwm / 1024,
            "predict_mib": None if hwm is None or rss0 is None else (hwm - rss0) / 1024}


def run_row(args: argparse.Namespace, model: str, source: str, shape: tuple[int, ...], mode: str) -> dict:
    """One configuration, in a subprocess (or in this process with ``--in-process``)."""
    if args.in_process:
        r = measure(model, source, shape, mode, args.repeats, args.threads, args.roi_size)
        return {**r, "peak_mib": None, "predict_mib": None}  # this process's peak mixes every row
    cmd = [sys.executable, __file__, "--repeats", str(args.repeats), "--threads", str(args.threads), "--roi-size",
           str(args.roi_size), "--single", json.dumps([model, source, list(shape), mode])]
    env = {**os.environ, "NUMBA_NUM_THREADS": str(args.threads)}  # the CPU scan kernel's prange threads
    res = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return json.loads(res.stdout.strip().splitlines()[-1])


def table(rows: list[tuple[str, str, str, dict]], roi_size: int) -> list[str]:
    """Markdown rows: one per (model, image), whole beside tiled; times as ``median (fastest)``."""
    def mib(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f}"

    def secs(r: dict) -> str:
        return f"{r['s']:.2f} ({min(r['times']):.2f})"

    lines = [
        f"| model | image | whole (s) | whole CPU time (s) | old {roi_size}-tiled (s) | tiles | tiled / whole | "
        f"<= {TARGET_S:g} s (whole) | peak RSS whole / tiled (MiB) | predict RSS growth whole / tiled (MiB) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    by_key: dict[tuple[str, str], dict[str, dict]] = {}
    for model, image, mode, r in rows:
        by_key.setdefault((model, image), {})[mode] = r
    for (model, image), r in by_key.items():
        w, t = r.get("whole"), r.get("tiled")
        if w is None:
            continue
        if t is not None:
            tiled, tiles, ratio = secs(t), str(t["tiles"]), f"{t['s'] / w['s']:.2f}x"
            peak = f"{mib(w['peak_mib'])} / {mib(t['peak_mib'])}"
            grow = f"{mib(w['predict_mib'])} / {mib(t['predict_mib'])}"
        else:
            one_tile = runs_whole(tuple(w["shape"]), roi_size)
            tiled, tiles, ratio = ("same (one tile)", "1", "1.0x") if one_tile else ("not run", "-", "-")
            peak, grow = mib(w["peak_mib"]), mib(w["predict_mib"])
        lines.append(f"| {model} | {image} | {secs(w)} | {w['cpu_s']:.2f} | {tiled} | {tiles} | {ratio} | "
                     f"{verdict(w['s'], w['cpu_s'])} | {peak} | {grow} |")
    return lines


def verdict(wall_s: float, cpu_s: float) -> str:
    """``yes`` when the wall time meets :data:`TARGET_S`; ``by CPU time`` when only the CPU time does (on an
    otherwise idle machine the wall time of a compute-bound run is at most its CPU time); else ``no``."""
    if wall_s <= TARGET_S:
        return "yes"
    return "by CPU time" if cpu_s <= TARGET_S else "no"


def load_text() -> str:
    """Load averages (1, 5, 15 min) as ``uptime`` prints them."""
    try:
        return ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per configuration (median reported)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--models", default=None, help="comma list of shipped model names (default: all)")
    parser.add_argument("--size", default=None, help="HxW: one synthetic grey image instead of DRIVE and bladder")
    parser.add_argument("--roi-size", type=int, default=512, help="tile side of the old (tiled) path")
    parser.add_argument("--modes", default="whole,tiled", help="comma list of modes to run: whole, tiled")
    parser.add_argument("--in-process", action="store_true", help="no subprocesses (quick; no memory column)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--single", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.single:  # child process: one configuration, JSON on stdout
        model, source, shape, mode = json.loads(args.single)
        print(json.dumps(measure(model, source, tuple(shape), mode, args.repeats, args.threads, args.roi_size)))
        return

    import torch

    models = args.models.split(",") if args.models else shipped_models()
    imgs = images(args.size)
    load_before = load_text()
    rows: list[tuple[str, str, str, dict]] = []
    for model in models:
        for label, (source, shape) in imgs.items():
            modes = [m for m in MODES if m in args.modes.split(",")]
            if runs_whole(shape, args.roi_size):
                modes = [m for m in modes if m == "whole"]
            for mode in modes:
                try:
                    r = run_row(args, model, source, shape, mode)
                except subprocess.CalledProcessError as exc:
                    err = (exc.stderr or "").strip().splitlines()
                    print(f"{model} / {label} / {mode}: failed: {err[-1] if err else exc}", file=sys.stderr)
                    continue
                rows.append((model, label, mode, r))
                runs = " ".join(f"{s:.2f}" for s in r["times"])
                print(f"{model:<16} {label:<18} {mode:<6} {r['s']:7.2f} s  ({runs})  CPU {r['cpu_s']:.2f} s  "
                      f"tiles {r['tiles']}", flush=True)

    sources = "; ".join(f"{label}: " + ("synthetic (seeded uint8 noise)" if src == "synthetic"
                                        else f"`../shared/{Path(src).relative_to(SHARED)}`")
                        for label, (src, _) in imgs.items())
    lines = [
        f"# Shipped models: end-to-end `Predictor.predict` latency on the CPU ({args.threads} threads)",
        "",
        f"Command: `{'nice -n ' + str(os.nice(0)) + ' ' if os.nice(0) else ''}python {' '.join(sys.argv)}`  ",
        f"torch {torch.__version__}; {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"date {dt.date.today()}; median of {args.repeats} runs after one warm-up.  ",
        f"Images: {sources}.  ",
        f"Load average (1, 5, 15 min) before: {load_before}; after: {load_text()}.",
        "",
        "*whole*: the predictor as it ships (images up to `WHOLE_MAX_PIXELS` = 1024x1024 pixels run as one forward); "
        f"*old {args.roi_size}-tiled*: `WHOLE_MAX_PIXELS = 0` in the benchmark only, so images larger than the tile "
        "in either axis go through overlapping tiles (overlap 0.25, Gaussian blending), as before. Each "
        "configuration runs in its own process; *peak RSS* is its VmHWM, *predict RSS growth* the VmHWM above the "
        "resident set after loading the model and the image. *CPU time*: `time.process_time()` of the process (all "
        "its threads) per `predict`, median; a compute-bound run on an otherwise idle machine takes at most this "
        "wall time (at least half of it with 2 threads), so it bounds the latency that contention hides.",
        "",
        *table(rows, args.roi_size),
    ]
    publish("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
