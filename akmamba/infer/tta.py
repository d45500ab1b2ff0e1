"""Test-time augmentation (TTA): the dihedral transforms of the image plane and their inverses.

A TTA prediction runs the network on transformed copies of the image, maps each softmax output back with the
inverse transform and averages the probabilities (the arithmetic mean over the passes, then argmax). Modes:

* ``"none"``: one pass, the plain prediction;
* ``"flips"``: 4 passes: identity, left-right flip, up-down flip, both (= rotation by 180 degrees);
* ``"d4"``: 8 passes: the four 90-degree rotations, each with and without a left-right flip (the dihedral
  group of the square; the rotations by 90 and 270 degrees swap height and width, which the networks accept).

The training augmentation uses the same flips and 90-degree rotations, so the network has seen every view.
A network that is itself equivariant to these transforms (a 1x1 convolution, say) gives the same result with
and without TTA.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from akmamba.registry import look_up_option

TTA_MODES = ("none", "flips", "d4")
"""Valid values of the ``tta`` option."""


@dataclass(frozen=True)
class Dihedral:
    """One symmetry of the image plane: a left-right flip (if ``flip``) followed by ``rot90`` quarter turns.

    Both act on the last two dimensions of a tensor ``(..., H, W)``; quarter turns are counter-clockwise as in
    :func:`torch.rot90` with ``dims=(-2, -1)``, so an odd ``rot90`` gives ``(..., W, H)``.
    """

    rot90: int = 0
    flip: bool = False

    @property
    def name(self) -> str:
        """A short label, e.g. ``identity``, ``flip``, ``rot90``, ``flip+rot270``."""
        parts = (["flip"] if self.flip else []) + ([f"rot{90 * self.rot90}"] if self.rot90 else [])
        return "+".join(parts) or "identity"

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """Transform ``x`` ``(..., H, W)``; the identity returns ``x`` itself (no copy)."""
        if self.flip:
            x = torch.flip(x, dims=(-1,))
        return torch.rot90(x, self.rot90, dims=(-2, -1)) if self.rot90 else x

    def invert(self, y: torch.Tensor) -> torch.Tensor:
        """Undo :meth:`apply` on an output ``y`` ``(..., h, w)`` computed on the transformed image."""
        if self.rot90:
            y = torch.rot90(y, -self.rot90, dims=(-2, -1))
        return torch.flip(y, dims=(-1,)) if self.flip else y


_TRANSFORMS: dict[str, tuple[Dihedral, ...]] = {
    "none": (Dihedral(),),
    # identity, left-right, up-down (= left-right then a half turn), both (= a half turn)
    "flips": (Dihedral(), Dihedral(0, True), Dihedral(2, True), Dihedral(2, False)),
    "d4": tuple(Dihedral(k, f) for f in (False, True) for k in range(4)),
}


def check_tta(mode: str) -> str:
    """Return ``mode`` if it is one of :data:`TTA_MODES`.

    Raises:
        ConfigError: an unknown mode (the message names the parameter ``tta``, a close match and the choices).
    """
    return look_up_option(mode, list(TTA_MODES), "tta")


def tta_transforms(mode: str) -> tuple[Dihedral, ...]:
    """The transforms of one TTA mode, identity first (1, 4 or 8 of them).

    Raises:
        ConfigError: an unknown mode.
    """
    return _TRANSFORMS[check_tta(mode)]
