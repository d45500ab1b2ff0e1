"""Fine-tuning on corrected cases with a versioned model registry (``akmamba finetune``, ``akmamba versions``).

Modules, one job each:

- :mod:`~akmamba.finetune.data` - the fine-tuning folder, correction masks (edits / journals / before), the frozen
  train / held-out split (numpy);
- :mod:`~akmamba.finetune.weights` - the edit weight map and the weighted Dice + CE loss (torch);
- :mod:`~akmamba.finetune.budget` - measured step rates and the time-budget plan (torch);
- :mod:`~akmamba.finetune.evaluate` - held-out Dice of a checkpoint (torch);
- :mod:`~akmamba.finetune.registry` - ``ModelRegistry``: versions, atomic active pointer, rollback, check (no torch);
- :mod:`~akmamba.finetune.promote` - the promotion rule (no torch);
- :mod:`~akmamba.finetune.runner` - ``finetune()`` events and the ``akmamba finetune`` CLI;
- :mod:`~akmamba.finetune.versions_cli` - ``akmamba versions``.

Importing this package imports no torch; the viewer reads the registry with it.
"""

from akmamba.finetune.promote import Decision, PromotionRule, decide
from akmamba.finetune.registry import ModelRegistry, Version, default_registry_root

__all__ = ["Decision", "ModelRegistry", "PromotionRule", "Version", "decide", "default_registry_root"]
