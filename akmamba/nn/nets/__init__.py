"""Registered networks. Importing this package registers every builder in ``akmamba.nn.build.MODELS``."""

from akmamba.nn.nets import (  # noqa: F401  (imported for their @MODELS.register side effect)
    unet,  # akmamba, unet_akconv, unet_mambaout, unet
    attention_unet,
    unetpp,
    unet3plus,
    transunet,
)
