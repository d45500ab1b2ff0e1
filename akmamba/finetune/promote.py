"""The promotion rule: a new version becomes active only if it beats the active one on held-out corrected cases.

Rule (``PromotionRule``): with ``D_new`` and ``D_active`` the per-image mean Dice (foreground labels averaged, inside
the FOV when there is one) of the candidate and of the active model on the *same* held-out cases,

    promote  iff  D_new - D_active > min_gain        (default min_gain = 0.0: strictly better)

A tie or a loss keeps the active model; the candidate is still registered, so it can be activated by hand
(``akmamba versions activate LINE vN``) or promoted anyway with ``--force-promote``. ``--no-promote`` registers
without ever activating. A U-Net baseline, when one is installed, is evaluated on the same cases and reported; it
does not gate.

No torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from akmamba.errors import ConfigError


@dataclass(frozen=True)
class PromotionRule:
    """``min_gain``: the Dice margin the candidate must exceed; ``force``: promote regardless; ``never``: never."""

    min_gain: float = 0.0
    force: bool = False
    never: bool = False

    def __post_init__(self) -> None:
        if self.force and self.never:
            raise ConfigError("--force-promote and --no-promote contradict each other; pass one.",
                              parameter="promote", expected="one of force / never", got="both")
        if not -1.0 < self.min_gain < 1.0:
            raise ConfigError(f"min_gain must be a Dice difference in (-1, 1); got {self.min_gain!r}.",
                              parameter="min_gain", expected="(-1, 1)", got=self.min_gain)


@dataclass(frozen=True)
class Decision:
    """The outcome: ``promote``, the reason in words, and the numbers it rests on."""

    promote: bool
    reason: str
    candidate_dice: float | None
    active_dice: float | None
    gain: float | None
    rule: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def decide(candidate_dice: float | None, active_dice: float | None, rule: PromotionRule | None = None) -> Decision:
    """Apply ``rule`` to the held-out mean Dice of the candidate and the active model.

    ``active_dice`` None means there is no active model to beat (the candidate is promoted unless ``never``);
    ``candidate_dice`` None means it could not be evaluated (never promoted unless ``force``).
    """
    rule = rule or PromotionRule()
    r = asdict(rule)
    gain = None if candidate_dice is None or active_dice is None else candidate_dice - active_dice
    if rule.never:
        return Decision(False, "registered only (--no-promote)", candidate_dice, active_dice, gain, r)
    if rule.force:
        return Decision(True, "promoted by request (--force-promote), whatever the held-out Dice", candidate_dice,
                        active_dice, gain, r)
    if candidate_dice is None:
        return Decision(False, "the candidate could not be evaluated on held-out cases", None, active_dice, None, r)
    if active_dice is None:
        return Decision(True, "no active model to compare with", candidate_dice, None, None, r)
    assert gain is not None
    if gain > rule.min_gain:
        return Decision(True, f"held-out Dice {candidate_dice:.4f} beats the active {active_dice:.4f} by "
                        f"{gain:+.4f} (> {rule.min_gain:+.4f})", candidate_dice, active_dice, gain, r)
    return Decision(False, f"held-out Dice {candidate_dice:.4f} vs the active {active_dice:.4f} ({gain:+.4f}); "
                    f"it must be higher by more than {rule.min_gain:+.4f}, so the active model stays",
                    candidate_dice, active_dice, gain, r)
