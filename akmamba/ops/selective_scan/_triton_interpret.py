"""Make Triton's CPU interpreter (``TRITON_INTERPRET=1``) usable with NumPy >= 2.4. Imports triton: import lazily.

Triton 3.6's interpreter converts one-element arrays to Python ints with ``int(array)``, which NumPy 2.4 refuses
("only 0-dimensional arrays can be converted to Python scalars"); every ``for i in range(n)`` over a kernel
argument then fails. Upstream fixed it in triton-lang/triton#9172 (issue #9171). :func:`patch_interpreter` wraps
the interpreter's tensor patching with the same fix; it does nothing where the interpreter already works.
"""

from __future__ import annotations

import functools
import os

import numpy as np


def interpreting() -> bool:
    """Whether Triton kernels defined from now on will be interpreted on the CPU (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on", "yes")


@functools.lru_cache(maxsize=1)
def patch_interpreter() -> bool:
    """Apply the NumPy 2.4 fix to Triton's interpreter once; returns whether a patch was needed."""
    try:
        int(np.array([1]))
    except TypeError:
        pass
    else:
        return False  # NumPy < 2.4: nothing to fix
    from triton.runtime import interpreter

    original = getattr(interpreter, "_patch_lang_tensor", None)
    if original is None or getattr(original, "_akmamba_patched", False):
        return False

    def patched(tensor: object, scope: object) -> None:
        original(tensor, scope)
        scope.set_attr(  # type: ignore[attr-defined]
            tensor, "__index__", lambda self: int(np.asarray(self.handle.data).reshape(-1)[0])
        )

    patched._akmamba_patched = True  # type: ignore[attr-defined]
    interpreter._patch_lang_tensor = patched
    return True
