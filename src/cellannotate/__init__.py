"""cellannotate: automated cell type annotation for 10x feature-barcode matrices.

An open re-implementation of ``spaceranger annotate``. The package holds all logic;
the ``bin/`` scripts and the ``cellannotate`` command are thin wrappers around it.
"""

__version__ = "0.1.0"
