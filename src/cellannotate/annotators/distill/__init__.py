"""An offline human model in Pan-Human Azimuth's vocabulary: actinn-jax's ``panhuman_distill_v1``.

A small ACTINN network distilled from Pan-Human Azimuth (a coarse network over 140 groups and
a fine one per group, 324 labels) that ships inside the actinn-jax wheel: no account, no
download at run time, no TensorFlow or JAX. It is a different model from Azimuth and is
reported under its own name; it runs only when asked for, so results never change with
what happens to be cached. Genes are matched by Ensembl id, else by symbol; a mouse sample
is labelled through one-to-one human orthologs (:mod:`cellannotate.genes`), and says so.
"""

from __future__ import annotations

from pathlib import Path

from cellannotate.annotators.base import CHUNK_CELLS, UMAP_CELLS, Annotator, ModelOption


class DistilledAnnotator(Annotator):
    """actinn-jax's panhuman_distill_v1: offline, human (mouse through orthologs), only when asked for."""

    name = "panhuman_distill"
    folder = "PanHumanDistill"
    title = "Pan-human distilled (actinn-jax)"
    step = "ANNOTATE_DISTILL"
    choices = ("panhuman_distill",)
    species = ("human", "mouse")
    exclusive = True
    options = (
        ModelOption("distill_reference", "Folder of actinn-jax's panhuman_distill_v1 reference (default: "
                    "$CELLANNOTATE_DISTILL_REFERENCE, then the installed actinn-jax 0.3.1 package's).", type=Path,
                    path_kind="directory",
                    details="The offline model distilled from Pan-Human Azimuth ships in the actinn-jax 0.3.1 package, "
                            "which the image installs; give a folder only to use another copy. Its weights are CC BY "
                            "4.0: cite Pan-human Azimuth (see CITATIONS.md)."),
        CHUNK_CELLS,
        UMAP_CELLS,
    )

    def prepare(self, options) -> tuple[Path, int]:
        from cellannotate.annotators.distill.engine import CHUNK_CELLS as DEFAULT_CHUNK
        from cellannotate.annotators.distill.reference import load_reference, locate_reference

        path = locate_reference(options["distill_reference"])
        load_reference(path)
        return path, options["chunk_cells"] or DEFAULT_CHUNK

    def annotate(self, matrix, report, inputs: tuple[Path, int], scratch):
        from cellannotate.annotators.distill.run import annotate_distilled

        return annotate_distilled(matrix, *inputs, self.folder, scratch, report.species)


MODEL = DistilledAnnotator()
