"""End-to-end CPU latency of every shipped model: ``Predictor.predict`` on a DRIVE image and a bladder slice,
whole-image inference beside the old 512-tile path, with each configuration's peak resident memory.

Usage:
    nice -n -5 python benchmarks/bench_latency.py [--repeats 5] [--threads 2] [--out docs/benchmarks/latency_cpu.md]
    python benchmarks/bench_latency.py --models unet-drive --size 32x24 --roi-size 16 --repeats 1 --in-process

For each shipped model (``akmamba/resources/models/*.safetensors``, loaded with ``Predictor.from_checkpoint(name,
device="cpu")``) and each image, the time of ``Predictor.predict`` (normalisation, network, softmax, labels) is the
median of ``--repeats`` runs after one warm-up, with ``torch.set_num_threads(--threads)``. Two modes:

* ``whole``: the predictor as it ships (an image of at most ``akmamba.infer.tiling.WHOLE_MAX_PIXELS`` pixels runs
  as one forward);
* ``tiled``: the old behaviour, ``WHOLE_MAX_PIXELS = 0`` inside this benchmark only, so an image larger than the
  tile (``--roi-size``, default 512) in either axis goes through overlapping tiles blended by MONAI's sliding
  window. An image that fits one tile runs whole either way, so its ``tiled`` row is not run.

The two modes of an image are timed in one subprocess, alternating run by run (whole, tiled, whole, ...), so
their ratio is measured under the same load on a shared machine. Peak memory is measured in a fresh subprocess per
(model, image, mode), so that its peak RSS (``VmHWM`` of ``/proc/self/status``) belongs to it alone: ``peak`` is
the process's high-water mark, ``predict`` its growth over the resident set after loading the model and the image
(what segmenting costs on top of a loaded model). Numba (the Akmamba-Net scan kernel on the CPU) gets
``NUMBA_NUM_THREADS=--threads`` too. ``--in-process`` runs everything in this process instead (quick; no memory
column; Numba's threads left as they are) for a dry run. ``--modes whole`` skips the old path.

Images: ``../shared/data/DRIVE/training/images/21_training.tif`` (584x565 RGB) and a 512x512 slice of
``../shared/data/BladderMRI/Images``; when those files are absent, synthetic images of the same sizes.
``--size HxW`` replaces both by one synthetic image of that size.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
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
    """Names of the models shipped in the package (the ones :func:`akmamba.infer.models.resolve_model` finds)."""
    from akmamba.paths import resources_dir

    models = sorted(p.name.removesuffix(".safetensors") for p in (resources_dir() / "models").glob("*.safetensors"))
    if not models:
        raise SystemExit(f"no shipped models in {resources_dir() / 'models'}")
    return models


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


@contextlib.contextmanager
def old_tiling() -> Iterator[None]:
    """Inside the block the predictor follows the old rule: only images that fit one tile run whole."""
    from akmamba.infer import tiling

    saved = tiling.WHOLE_MAX_PIXELS
    tiling.WHOLE_MAX_PIXELS = 0
    try:
        yield
    finally:
        tiling.WHOLE_MAX_PIXELS = saved


def predictors(model: str, modes: list[str], roi_size: int) -> dict:
    """``{mode: Predictor}`` sharing one network: ``whole`` with the predictor's defaults (as shipped), ``tiled``
    with tiles of ``roi_size``."""
    from akmamba.infer import Predictor

    shipped = Predictor.from_checkpoint(model, device="cpu")
    return {m: shipped if m == "whole" else Predictor(shipped.model, shipped.metadata, "cpu", roi_size=roi_size)
            for m in modes}


def predict_once(predictor, image: np.ndarray, mode: str) -> int:
    """Run ``predictor.predict(image)`` in ``mode``; returns the network's forwards (the tiles)."""
    forwards: list[int] = []
    hook = predictor.model.register_forward_hook(lambda *_: forwards.append(1))
    try:
        with old_tiling() if mode == "tiled" else contextlib.nullcontext():
            predictor.predict(image)
    finally:
        hook.remove()
    return len(forwards)


def measure_times(model: str, source: str, shape: tuple[int, ...], modes: list[str], repeats: int, threads: int,
                  roi_size: int) -> dict[str, dict]:
    """Time ``Predictor.predict`` of ``model`` on one image in every mode, the modes alternating run by run (so
    their ratio sees the same load) after one warm-up each (Numba's JIT compiles there).

    Returns:
        ``{mode: {"s": median wall seconds, "times": every run, "cpu_s": median CPU seconds of the process (all
        its threads), "tiles": the network's forwards per image, "shape": the image's shape}}``.
    """
    import torch

    saved_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        preds = predictors(model, modes, roi_size)
        image = load_image(source, shape)
        tiles = {m: predict_once(preds[m], image, m) for m in modes}
        times: dict[str, list[float]] = {m: [] for m in modes}
        cpu: dict[str, list[float]] = {m: [] for m in modes}
        for _ in range(repeats):
            for m in modes:
                t0, c0 = time.perf_counter(), time.process_time()
                predict_once(preds[m], image, m)
                times[m].append(time.perf_counter() - t0)
                cpu[m].append(time.process_time() - c0)
    finally:
        torch.set_num_threads(saved_threads)
    return {m: {"s": statistics.median(times[m]), "times": times[m], "cpu_s": statistics.median(cpu[m]),
                "tiles": tiles[m], "shape": list(np.shape(image))} for m in modes}


def measure_memory(model: str, source: str, shape: tuple[int, ...], mode: str, threads: int,
                   roi_size: int) -> dict:
    """Peak resident memory of this process (meant to be fresh) segmenting one image in one mode, in MiB:
    ``peak_mib`` its VmHWM, ``predict_mib`` the VmHWM above the resident set after loading model and image."""
    import torch

    torch.set_num_threads(threads)
    predictor = predictors(model, [mode], roi_size)[mode]
    image = load_image(source, shape)
    rss0 = vm_kib("VmRSS")
    predict_once(predictor, image, mode)
    hwm = vm_kib("VmHWM")
    return {"peak_mib": None if hwm is None else hwm / 1024,
            "predict_mib": None if hwm is None or rss0 is None else (hwm - rss0) / 1024}


def child(args: argparse.Namespace, job: list) -> dict:
    """Run ``job`` (``["times" | "memory", model, source, shape, modes]``) in a fresh Python, its JSON back."""
    cmd = [sys.executable, __file__, "--repeats", str(args.repeats), "--threads", str(args.threads), "--roi-size",
           str(args.roi_size), "--single", json.dumps(job)]
    env = {**os.environ, "NUMBA_NUM_THREADS": str(args.threads)}  # the CPU scan kernel's prange threads
    res = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return json.loads(res.stdout.strip().splitlines()[-1])


def run_single(args: argparse.Namespace, job: list) -> dict:
    """What a child process does with its job."""
    kind, model, source, shape, modes = job
    if kind == "memory":
        return measure_memory(model, source, tuple(shape), modes[0], args.threads, args.roi_size)
    return measure_times(model, source, tuple(shape), modes, args.repeats, args.threads, args.roi_size)


def run_image(args: argparse.Namespace, model: str, source: str, shape: tuple[int, ...],
              modes: list[str]) -> dict[str, dict]:
    """Times of every mode (one process, alternating) and, unless ``--in-process``, each mode's peak memory in a
    process of its own; ``{mode: result}``."""
    job = [model, source, list(shape)]
    if args.in_process:
        r = measure_times(model, source, shape, modes, args.repeats, args.threads, args.roi_size)
        return {m: {**r[m], "peak_mib": None, "predict_mib": None} for m in modes}  # this process's peak mixes all
    r = child(args, ["times", *job, modes])
    return {m: {**r[m], **child(args, ["memory", *job, [m]])} for m in modes}


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
        print(json.dumps(run_single(args, json.loads(args.single))))
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
            try:
                results = run_image(args, model, source, shape, modes)
            except subprocess.CalledProcessError as exc:
                err = (exc.stderr or "").strip().splitlines()
                print(f"{model} / {label}: failed: {err[-1] if err else exc}", file=sys.stderr)
                continue
            for mode, r in results.items():
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
        "in either axis go through overlapping tiles (overlap 0.25, Gaussian blending), as before. The two modes of "
        "an image are timed in one process, alternating run by run, so their ratio sees the same load; times are "
        "median (fastest). Memory is measured in one fresh process per mode: *peak RSS* is its VmHWM, *predict RSS "
        "growth* the VmHWM above the resident set after loading the model and the image. *CPU time*: "
        "`time.process_time()` of the process (all its threads) per `predict`, median; a compute-bound run on an "
        "otherwise idle machine takes at most this wall time (at least half of it with 2 threads).",
        "",
        *table(rows, args.roi_size),
    ]
    publish("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
