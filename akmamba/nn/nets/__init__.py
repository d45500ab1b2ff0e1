"""Registered networks. Importing this package registers every builder in ``akmamba.nn.build.MODELS``."""

from akmamba.nn.nets import unet  # noqa: F401  (akmamba, unet, unet_akconv, unet_mambaout)
