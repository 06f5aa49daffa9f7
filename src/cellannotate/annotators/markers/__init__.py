"""The offline markers model: curated positive and negative markers, human or mouse, no download."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cellannotate.annotators.base import CHUNK_CELLS, UMAP_CELLS, Annotator, ModelOption

NEIGHBOURS = 15       # scanpy's and umap-learn's default neighbourhood
TISSUES = ("auto", "all", "immune", "brain", "lung", "liver")


@dataclass(frozen=True)
class MarkersInputs:
    """What :meth:`MarkersAnnotator.prepare` resolved: the database (``None``: pegasus's), the
    chunk size, the tissue asked for (``None``: detect) and the neighbourhood size."""

    database: Path | None
    chunk_cells: int
    tissue: str | None
    neighbours: int


class MarkersAnnotator(Annotator):
    """Curated markers (pegasuspy), human or mouse, offline; mouse's model when nothing else runs."""

    name = "markers"
    folder = "Markers"
    title = "Markers"
    step = "ANNOTATE_MARKERS"
    choices = ("markers",)
    species = ("human", "mouse")
    # Space Ranger serves mouse only from the cloud; this is the local model for a mouse
    # sample when nothing else runs.
    fallback_for = ("mouse",)
    exclusive = True
    options = (
        ModelOption("markers_db", "Marker file or folder in pegasus JSON format (default: the pegasuspy package's "
                    "curated markers).", type=Path, path_kind="path",
                    details="A pegasus-format JSON file or a folder of <species>_<tissue>_cell_markers.json files; "
                            "by default the curated human or mouse markers of pegasuspy 1.10.2."),
        ModelOption("markers_tissue", "Tissue whose cell types the markers model uses, with the immune ones "
                    "(default auto: detected per sample; the report says which).", choices=TISSUES,
                    details="immune is blood or lymphoid tissue; brain, lung and liver (mouse only) add that tissue's "
                            "own types to the immune ones; all scores every file together; auto picks, per sample, the "
                            "tissue whose own types explain its cells, and the report says which and why."),
        ModelOption("markers_neighbours", "Nearest cells whose marker scores each cell's are weighed against "
                    "(default 15; 0: each cell alone).", type=int, minimum=0,
                    details="The markers model weighs each cell's scores half against the mean of its nearest cells' "
                            "in a PCA of the counts: one cell holds few reads of its markers, its neighbourhood many. "
                            "0 labels each cell on its own reads."),
        CHUNK_CELLS,
        UMAP_CELLS,
    )

    def prepare(self, options):
        from cellannotate.annotators.markers.database import check_database_path
        from cellannotate.io.tenx_h5 import DEFAULT_CHUNK_CELLS

        check_database_path(options["markers_db"])
        neighbours = NEIGHBOURS if options["markers_neighbours"] is None else options["markers_neighbours"]
        return MarkersInputs(options["markers_db"], options["chunk_cells"] or DEFAULT_CHUNK_CELLS,
                             options["markers_tissue"], neighbours)

    def annotate(self, matrix, report, inputs: MarkersInputs, scratch):
        from cellannotate.annotators.markers.run import annotate_sample

        return annotate_sample(matrix, report.species, inputs, self.folder, scratch)


MODEL = MarkersAnnotator()
