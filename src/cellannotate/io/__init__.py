"""Reading and writing: 10x HDF5 matrices, and files and folders that appear whole or not at all."""

from cellannotate.io.tenx_h5 import FeatureTable, TenxMatrix, read_10x_h5, write_10x_h5

__all__ = ["FeatureTable", "TenxMatrix", "read_10x_h5", "write_10x_h5"]
