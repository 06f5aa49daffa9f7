"""Step 5-6: everything written for the user: cell type tables, differential expression, the report,
the .h5ad, Loupe categories and the annotated .cloupe, assembled into one ``outs/`` folder."""

from cellannotate.outputs.assemble import assemble_outputs

__all__ = ["assemble_outputs"]
