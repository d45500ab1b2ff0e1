"""Registered networks. Importing this package registers every builder in ``akmamba.nn.build.MODELS``."""

from akmamba.nn.nets import (  # noqa: F401  (imported for their @MODELS.register side effect)
    attention_unet,
    transunet,
    unet,  # akmamba, unet_akconv, unet_mambaout, unet
    unet3plus,
    unetpp,
)
