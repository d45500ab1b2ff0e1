"""Building blocks: AKConv, Mamba-out (SS2D) and plain U-Net parts."""
