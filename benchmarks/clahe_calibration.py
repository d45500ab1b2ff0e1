"""How ``clahe``'s constants (akmamba/data/normalize.py) were chosen: SimpleITK's adaptive equalisation against
scikit-image's CLAHE at its defaults, and the dark border against DRIVE's field-of-view masks. No vessel label
is read.

Usage (needs scikit-image, which is not an akmamba dependency: e.g. ``pip install --target /tmp/sk scikit-image``
and ``PYTHONPATH=/tmp/sk:.``):
    python benchmarks/clahe_calibration.py DRIVE/training [--every 7]

For every ``--every``-th image and each channel: scale the inside of the field of view to 256 levels, fill the
border from the nearest inside pixel (as ``clahe`` does), then compare, inside the FOV eroded by 20 pixels,
``skimage.exposure.equalize_adapthist`` (kernel 1/8 of the image, clip limit 0.01) with SimpleITK's
``AdaptiveHistogramEqualization`` for several (radius, alpha, beta): the detail (image minus a Gaussian blur of
sigma 6: correlation, and standard deviation relative to scikit-image's, "gain") and the large-scale brightness
(the blur: correlation and gain). Then the dark border's agreement with the provided FOV masks on every image.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

import akmamba.data.normalize as norm
from akmamba.io import read_image

SETTINGS = [(36, 0.3, 0.3), (36, 0.3, 0.0), (36, 0.5, 0.5), (36, 0.6, 0.5), (36, 0.6, 0.6), (36, 0.6, 0.7),
            (36, 0.6, 0.8), (36, 0.7, 0.7), (36, 0.9, 0.6), (27, 0.6, 0.7), (48, 0.6, 0.7), (36, 1.0, 1.0)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("drive", type=Path, help="DRIVE/training (images/ and mask/)")
    p.add_argument("--every", type=int, default=7)
    args = p.parse_args(argv)
    try:
        from skimage.exposure import equalize_adapthist
    except ImportError:
        print("needs scikit-image (not an akmamba dependency); see the module docstring", file=sys.stderr)
        return 2
    images = sorted((args.drive / "images").glob("*.tif"))
    masks = {im: args.drive / "mask" / f"{im.stem}_mask.gif" for im in images}
    found: dict[tuple, list[tuple[float, float, float, float]]] = {s: [] for s in SETTINGS}
    blur = lambda a: ndimage.gaussian_filter(a, 6)  # noqa: E731
    for im in images[:: args.every]:
        x = norm.to_channels_first(read_image(im).array, 3)
        fov = read_image(masks[im]).array > 0
        core = ndimage.binary_erosion(fov, iterations=20)
        nearest = tuple(ndimage.distance_transform_edt(~fov, return_distances=False, return_indices=True))
        for channel in x:
            lo, hi = channel[fov].min(), channel[fov].max()
            levels = (np.rint((channel - lo) / (hi - lo) * 255) / 255)[nearest]
            ref = equalize_adapthist(levels, clip_limit=0.01)
            for setting in SETTINGS:
                r, alpha, beta = setting
                out = sitk.GetArrayFromImage(sitk.AdaptiveHistogramEqualization(
                    sitk.GetImageFromArray(levels.astype(np.float32)), [r, r], alpha, beta))
                stats = []
                for part in (lambda a: a - blur(a), blur):
                    a, b = part(out)[core], part(ref)[core]
                    stats += [float(np.corrcoef(a, b)[0, 1]), float(a.std() / b.std())]
                found[setting].append(tuple(stats))
    print(f"{len(images[:: args.every])} images x 3 channels; SimpleITK {sitk.Version.VersionString()}\n")
    print("| radius | alpha | beta | detail corr | detail gain | brightness corr | brightness gain |")
    print("|---|---|---|---|---|---|---|")
    for (r, alpha, beta), rows in found.items():
        m = np.mean(rows, axis=0)
        print(f"| {r} | {alpha} | {beta} | {m[0]:.3f} | {m[1]:.2f} | {m[2]:.3f} | {m[3]:.2f} |")
    print("\n| image | FOV pixels | FOV pixels called border | non-FOV pixels called inside | IoU |")
    print("|---|---|---|---|---|")
    for im in images:
        inside = ~norm.dark_border(norm.to_channels_first(read_image(im).array, 3))
        fov = read_image(masks[im]).array > 0
        print(f"| {im.stem} | {fov.sum()} | {(fov & ~inside).sum()} | {(inside & ~fov).sum()} | "
              f"{(inside & fov).sum() / (inside | fov).sum():.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
