"""zslbench: the realistic zero-shot video classification benchmark (Brattoli et al., CVPR 2020)."""

__version__ = "0.1.0"
