"""Where akmamba keeps things: the files shipped inside the package, and the user's own folders.

One function, :func:`user_data_dir`, decides the user's folder; everything per-user derives from it, for the
command line and the viewer alike (the viewer no longer asks Qt, so the two always agree):

==========  ===========================================================================================
``$AKMAMBA_HOME``  when set, on every platform (tests, portable installs, a shared lab folder)
Linux, BSD  ``$XDG_DATA_HOME/akmamba``, else ``~/.local/share/akmamba``
macOS       ``~/Library/Application Support/akmamba``
Windows     ``%LOCALAPPDATA%\\akmamba``, else ``%APPDATA%\\akmamba``, else ``~\\AppData\\Local\\akmamba``
==========  ===========================================================================================

These are the folders Qt's ``QStandardPaths.GenericDataLocation`` gives on each platform, so the viewer's registry,
journals and demo cases stay where earlier versions put them. Under it:

* ``registry/``: fine-tuned model versions (:mod:`akmamba.finetune.registry`);
* ``models/``: the user's own named models (:mod:`akmamba.infer.models`);
* ``akmamba-viewer/``: the viewer's ``journals/`` (crash recovery), ``settings.ini`` and ``demo-v1/`` cases.

No Qt, no torch.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

ENV_HOME = "AKMAMBA_HOME"
APP_NAME = "akmamba"
VIEWER_NAME = "akmamba-viewer"


def resources_dir() -> Path:
    """The package's shipped files (``akmamba/resources``: ``models/*.safetensors``, ``datasets/*.json``).

    Inside the package, so a wheel install (``pip install .``) carries them like the source tree does.
    """
    return Path(__file__).resolve().parent / "resources"


def user_data_dir(platform: str | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """The user's akmamba folder (see the module docstring for the rule per platform).

    Args:
        platform: a ``sys.platform`` value (default the running one).
        environ: the environment to read (default ``os.environ``).

    Returns:
        The folder (not created here; writers create what they need).
    """
    env = os.environ if environ is None else environ
    plat = sys.platform if platform is None else platform
    if env.get(ENV_HOME):
        return Path(env[ENV_HOME]).expanduser()
    home_var = env.get("USERPROFILE" if plat.startswith("win") else "HOME")
    home = Path(home_var) if home_var else Path.home()
    if plat.startswith("win"):
        base = env.get("LOCALAPPDATA") or env.get("APPDATA")
        return (Path(base) if base else home / "AppData" / "Local") / APP_NAME
    if plat == "darwin":
        return home / "Library" / "Application Support" / APP_NAME
    xdg = env.get("XDG_DATA_HOME")
    # The XDG spec ignores relative paths in XDG_DATA_HOME.
    base_dir = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".local" / "share"
    return base_dir / APP_NAME


def registry_dir() -> Path:
    """Fine-tuned model versions: ``<user_data_dir>/registry``."""
    return user_data_dir() / "registry"


def user_models_dir() -> Path:
    """The user's named models: ``<user_data_dir>/models``."""
    return user_data_dir() / "models"


def viewer_dir() -> Path:
    """The viewer's own files: ``<user_data_dir>/akmamba-viewer``."""
    return user_data_dir() / VIEWER_NAME


def journal_dir() -> Path:
    """The viewer's crash-recovery journals: ``<user_data_dir>/akmamba-viewer/journals``."""
    return viewer_dir() / "journals"


def settings_file() -> Path:
    """The viewer's preferences (an INI file): ``<user_data_dir>/akmamba-viewer/settings.ini``."""
    return viewer_dir() / "settings.ini"


def demo_dir() -> Path:
    """Where ``akmamba-viewer --demo`` writes its generated cases: ``<user_data_dir>/akmamba-viewer/demo-v1``."""
    return viewer_dir() / "demo-v1"
