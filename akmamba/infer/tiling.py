"""Tiled inference over large 2-D images: MONAI's sliding window with progress, cancel and OOM fallback.

* :func:`tiled_logits` runs a network over a ``(1, C, H, W)`` tensor. Images no larger than the tile (``roi``)
  in both axes, or of at most :data:`WHOLE_MAX_PIXELS` pixels while the tile is at least :data:`DEFAULT_ROI`,
  run whole (one pass, no seams: a 584 x 565 fundus image is one forward, not four overlapping tiles); larger
  ones go through ``monai.inferers.sliding_window_inference`` with overlapping
  tiles blended by a Gaussian weight map (``mode="gaussian"``). The network is wrapped in
  :class:`ProgressNetwork`, which checks ``should_stop`` before every batch of tiles (raising
  :class:`~akmamba.errors.CancelledError`) and reports the fraction of tiles done after it.
* Tiles are moved to the compute device one batch at a time and the blended output is gathered on the CPU,
  so the whole image never has to fit in GPU memory.
* :func:`with_oom_fallback` retries a run after an out-of-memory error (``torch.cuda.OutOfMemoryError``, or on
  the CPU ``MemoryError`` / torch's "DefaultCPUAllocator: can't allocate memory") with halved tiles down to
  :data:`MIN_ROI`, then once on the CPU, warning (:class:`MemoryFallbackWarning`) at each step; when the CPU runs
  out too it raises :class:`~akmamba.errors.OutOfMemoryError` with advice instead of the allocator's traceback.
  :func:`cpu_memory_errors` does the same for the allocations around a run (the output arrays of a volume).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable, Iterator
from typing import TypeVar

import torch
from monai.data.utils import dense_patch_slices
from monai.inferers import sliding_window_inference

from akmamba.errors import AkmambaError, AkmambaWarning, CancelledError, ConfigError, OutOfMemoryError

log = logging.getLogger(__name__)

T = TypeVar("T")
ProgressFn = Callable[[float], None]
StopFn = Callable[[], bool]

DEFAULT_ROI = 512
"""Default tile side in pixels."""
DEFAULT_OVERLAP = 0.25
"""Default fraction of a tile shared with its neighbour."""
MIN_ROI = 128
"""Smallest tile side tried after an out-of-memory error before falling back to the CPU."""
WHOLE_MAX_PIXELS = 1024 * 1024
"""Images of at most this many pixels run whole while the tile side is at least :data:`DEFAULT_ROI` (after an
out-of-memory error the tile shrinks and they are tiled)."""


class MemoryFallbackWarning(AkmambaWarning):
    """Inference ran out of GPU memory and is retried with smaller tiles or on the CPU."""


def count_windows(image_size: tuple[int, ...], roi_size: tuple[int, ...], overlap: float) -> int:
    """Number of tiles ``sliding_window_inference`` visits for one image (same rules as MONAI).

    Args:
        image_size: spatial size ``(H, W)``.
        roi_size: tile size ``(h, w)``.
        overlap: fraction in [0, 1).
    """
    size = tuple(max(i, r) for i, r in zip(image_size, roi_size, strict=True))
    interval = tuple(r if r == s else max(int(r * (1 - overlap)), 1) for s, r in zip(size, roi_size, strict=True))
    return len(dense_patch_slices(size, roi_size, interval))


class ProgressNetwork:
    """Callable wrapper of a network for ``sliding_window_inference``: cancel before, progress after each batch.

    Args:
        net: maps ``(B, C, h, w)`` to logits ``(B, K, h, w)``.
        total: number of tiles expected (progress is ``done / total``, capped at 1).
        device: where the network runs; each batch of tiles is moved there and the logits back to the CPU.
        progress: called with the fraction of tiles done, in [0, 1].
        should_stop: polled before each batch; True raises ``CancelledError``.
    """

    def __init__(
        self,
        net: Callable[[torch.Tensor], torch.Tensor],
        total: int,
        device: torch.device,
        progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
    ) -> None:
        self.net = net
        self.total = max(int(total), 1)
        self.device = device
        self.progress = progress
        self.should_stop = should_stop
        self.done = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Run one batch ``(B, C, h, w)`` and return float32 logits ``(B, K, h, w)`` on the CPU."""
        check_stop(self.should_stop)
        out = self.net(x.to(self.device)).float().cpu()
        self.done += int(x.shape[0])
        if self.progress is not None:
            self.progress(min(self.done / self.total, 1.0))
        return out


def check_stop(should_stop: StopFn | None) -> None:
    """Raise ``CancelledError`` when ``should_stop`` is given and returns True."""
    if should_stop is not None and should_stop():
        raise CancelledError("Inference was cancelled on request; no result was produced.")


def tiled_logits(
    net: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    device: torch.device,
    *,
    roi_size: int = DEFAULT_ROI,
    overlap: float = DEFAULT_OVERLAP,
    sw_batch_size: int = 1,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> torch.Tensor:
    """Logits of ``net`` over a whole image, tiled when it is larger than ``roi_size``.

    Args:
        net: a network in eval mode on ``device``, ``(B, C, h, w) -> (B, K, h, w)``.
        x: ``(1, C, H, W)`` normalised float32 image on the CPU.
        device: where the network runs.
        roi_size: tile side in pixels; an image with ``H <= roi_size`` and ``W <= roi_size`` runs whole, and so
            does one of at most :data:`WHOLE_MAX_PIXELS` pixels when ``roi_size >= DEFAULT_ROI``.
        overlap: fraction of a tile shared with each neighbour, in [0, 1).
        sw_batch_size: tiles per network call.
        progress: called with the fraction of tiles done (monotone, ending at 1.0).
        should_stop: polled before every batch of tiles.

    Returns:
        ``(1, K, H, W)`` float32 logits on the CPU (Gaussian-blended where tiles overlap).

    Raises:
        ConfigError: ``roi_size < 1``, ``overlap`` outside [0, 1) or ``sw_batch_size < 1``.
        CancelledError: ``should_stop`` returned True.
        torch.cuda.OutOfMemoryError: passed on (see :func:`with_oom_fallback`).
    """
    check_options(roi_size, overlap, sw_batch_size)
    image_size = tuple(int(s) for s in x.shape[2:])
    roi = (roi_size,) * len(image_size)
    pixels = 1
    for s in image_size:
        pixels *= s
    whole = all(s <= roi_size for s in image_size) or (roi_size >= DEFAULT_ROI and pixels <= WHOLE_MAX_PIXELS)
    total = 1 if whole else count_windows(image_size, roi, overlap)
    wrapped = ProgressNetwork(net, total, device, progress, should_stop)
    with torch.inference_mode():
        if whole:
            return wrapped(x)
        # the wrapper moves each batch of tiles to ``device`` and its logits back, so MONAI works on the CPU
        # throughout: its weight map and the blended output live where the tiles it sees do (with sw_device=cuda,
        # MONAI >= 1.5 multiplies a CUDA weight map by the CPU logits and fails)
        out = sliding_window_inference(
            x, roi, sw_batch_size, wrapped, overlap=overlap, mode="gaussian", sw_device="cpu", device="cpu"
        )
    assert isinstance(out, torch.Tensor)  # one network output, so one tensor back (internal invariant)
    return out


def check_options(roi_size: int, overlap: float, sw_batch_size: int) -> None:
    """Raise ConfigError unless ``roi_size >= 1``, ``0 <= overlap < 1`` and ``sw_batch_size >= 1``."""
    if not isinstance(roi_size, int) or roi_size < 1:
        raise ConfigError(f"roi_size must be a positive integer, got {roi_size!r}.", parameter="roi_size",
                          expected=">= 1", got=roi_size)
    if not 0.0 <= overlap < 1.0:
        raise ConfigError(f"overlap must be in [0, 1), got {overlap!r}. 0.25 is a good default.",
                          parameter="overlap", expected="[0, 1)", got=overlap)
    if not isinstance(sw_batch_size, int) or sw_batch_size < 1:
        raise ConfigError(f"sw_batch_size must be a positive integer, got {sw_batch_size!r}.",
                          parameter="sw_batch_size", expected=">= 1", got=sw_batch_size)


def with_oom_fallback(
    run: Callable[[int, torch.device], T], roi_size: int, device: torch.device, *, min_roi: int = MIN_ROI
) -> T:
    """Call ``run(roi_size, device)``, retrying after CUDA out-of-memory errors.

    On ``torch.cuda.OutOfMemoryError`` the tile side is halved (never below ``min_roi``) and ``run`` called
    again; when even ``min_roi`` fails, ``run`` is called once more with the original tile on the CPU. Each
    retry warns with :class:`MemoryFallbackWarning` and logs a warning.

    Args:
        run: the computation, given a tile side and a device.
        roi_size: first tile side tried.
        device: first device tried.
        min_roi: smallest tile side tried on ``device``.

    Returns:
        What ``run`` returns.

    Raises:
        OutOfMemoryError: memory ran out on the CPU attempt too (or ``device`` already was the CPU), even with
            ``min_roi`` tiles; the message gives the tile size and what to do.
    """
    roi = roi_size
    while True:
        try:
            return run(roi, device)
        except (torch.cuda.OutOfMemoryError, MemoryError, RuntimeError) as exc:
            if not is_out_of_memory(exc):
                raise
            _free_cuda_memory()
            if roi // 2 >= min_roi:
                roi //= 2
                _warn(f"Out of memory on {device} ({_short(exc)}); retrying with {roi}x{roi} tiles.")
            elif device.type != "cpu":
                _warn(f"Out of memory on {device} even with {roi}x{roi} tiles ({_short(exc)}); retrying on the "
                      f"CPU with {roi_size}x{roi_size} tiles (slower).")
                roi, device = roi_size, torch.device("cpu")
            else:
                raise out_of_memory(exc, f"segmenting with {roi}x{roi} tiles on the CPU") from exc


#: Text of the errors torch (and numpy) raise when host memory runs out.
_CPU_OOM_TEXT = ("DefaultCPUAllocator: can't allocate memory", "not enough memory", "Unable to allocate",
                 "std::bad_alloc", "CUDA out of memory", "out of memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says memory ran out: ``torch.cuda.OutOfMemoryError``, ``MemoryError``, or a
    ``RuntimeError`` from torch's CPU allocator. An :class:`~akmamba.errors.AkmambaError` (already explained)
    is not."""
    if isinstance(exc, AkmambaError):
        return False
    if isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(exc, RuntimeError) and any(t.lower() in str(exc).lower() for t in _CPU_OOM_TEXT)


def out_of_memory(exc: BaseException, doing: str) -> OutOfMemoryError:
    """The user-facing error for memory running out while ``doing`` (e.g. ``"segmenting ... on the CPU"``)."""
    return OutOfMemoryError(
        f"Out of memory while {doing} ({_short(exc)}). Close other programs or cases to free memory, segment a "
        "smaller image (crop or downsample it), use smaller tiles (--roi-size 128), turn test-time augmentation "
        "off (--tta none), or for volumes leave out the probabilities (no --probs).",
        parameter="roi_size",
        expected="enough free memory",
        got=_short(exc),
        hint="free memory, use a smaller image or tiles, or turn TTA off",
    )


@contextlib.contextmanager
def cpu_memory_errors(doing: str) -> Iterator[None]:
    """Turn an out-of-memory error raised inside the block into :func:`out_of_memory`'s message."""
    try:
        yield
    except (MemoryError, RuntimeError) as exc:
        if not is_out_of_memory(exc):
            raise
        raise out_of_memory(exc, doing) from exc


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:120] if text else type(exc).__name__


def _warn(message: str) -> None:
    log.warning(message)
    warnings.warn(message, MemoryFallbackWarning, stacklevel=3)


def _free_cuda_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
