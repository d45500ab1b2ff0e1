"""Work-around for a reference-count bug of PySide6 6.12.0 on Python 3.11.

With shiboken6 6.12.0, every call of a C++ ``void`` method (``widget.setEnabled(True)``, ``painter.drawImage``,
a ``paint`` override returning None, ...) releases one reference to ``None`` that it never took, and every
``Signal.emit`` does the same to ``True``/``False``. From Python 3.12 these objects are immortal, so nothing
happens; on 3.11 their count reaches zero after a few thousand calls and the interpreter aborts with
"Fatal Python error: none_dealloc: deallocating None" (or ``bool_dealloc``) - a viewer session would die within
minutes of painting. Reproduce: ``sys.getrefcount(None)`` drops by one per ``QWidget().setEnabled(True)``.

:func:`protect_singletons` adds 2**40 references to ``None``, ``True``, ``False``, ``Ellipsis`` and
``NotImplemented`` once at start-up (years of calls at any realistic rate), which is what 3.12's immortal objects
do. It is a no-op on Python >= 3.12 and with other PySide6 releases; pyproject.toml excludes 6.12.0 on 3.11,
so this only guards an environment where it was installed anyway. Remove it once PySide6 is fixed or Python
3.11 is dropped.
"""

from __future__ import annotations

import ctypes
import sys

_EXTRA_REFERENCES = 1 << 40
_done = False


def _buggy_pyside() -> bool:
    """True for the PySide6 release known to over-release singletons (pyproject excludes it on 3.11); False where
    Qt is not installed (the viewer's Qt-free jobs, e.g. on a GPU machine without Qt)."""
    try:
        import PySide6
    except ImportError:
        return False

    return PySide6.__version__.startswith("6.12.0")


def protect_singletons() -> bool:
    """Make the interpreter's singletons effectively immortal on Python < 3.12; True when applied."""
    global _done
    if _done or sys.version_info >= (3, 12) or not _buggy_pyside():
        return False
    for obj in (None, True, False, Ellipsis, NotImplemented):
        # ob_refcnt is the first field of every PyObject in CPython 3.11 (not the limited API's concern here).
        ctypes.c_ssize_t.from_address(id(obj)).value += _EXTRA_REFERENCES
    _done = True
    return True
