"""Pan-Human Azimuth, run locally without TensorFlow (Space Ranger runs it for every human sample)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cellannotate.annotators.base import CHUNK_CELLS, UMAP_CELLS, Annotator, ModelOption

ENGINES = ("numpy", "panhumanpy")


@dataclass(frozen=True)
class AzimuthInputs:
    """The weights found, the engine and the chunk size, resolved once before any cell is read."""

    weights: Path
    engine: str
    chunk_cells: int


class AzimuthAnnotator(Annotator):
    """Pan-Human Azimuth v1, run in numpy (or panhumanpy itself): every human sample, as in Space Ranger."""

    name = "azimuth"
    folder = "Azimuth"
    title = "Pan-Human Azimuth"
    step = "ANNOTATE_AZIMUTH"
    choices = ("azimuth",)
    species = ("human",)
    default_for = ("human",)
    exclusive = True
    needs = ("azimuth_weights",)
    options = (
        ModelOption("azimuth_model", "Pan-Human Azimuth v1 weights (.keras); default: $CELLANNOTATE_AZIMUTH_MODEL, "
                    "then the cache `cellannotate models fetch` fills, then panhumanpy's.", type=Path,
                    details="The Azimuth image carries the v1 weights (checked against their published md5). Give a "
                            ".keras file with -profile conda, for an image built without weights (air-gapped sites), "
                            "or to use other weights of the v1 signature."),
        ModelOption("azimuth_engine", "numpy (ours: streamed, no TensorFlow) or panhumanpy (panhumanpy 1.0.0 itself: "
                    "TensorFlow 2.17, all in memory, for comparison).", choices=ENGINES, default="numpy", hidden=True,
                    details="The numpy engine gives panhumanpy's labels (tested against it); the panhumanpy engine "
                            "needs an image with TensorFlow 2.17 and panhumanpy installed."),
        CHUNK_CELLS,
        UMAP_CELLS,
    )

    def prepare(self, options) -> AzimuthInputs:
        from cellannotate.annotators.azimuth.engine import CHUNK_CELLS as DEFAULT_CHUNK
        from cellannotate.annotators.azimuth.weights import locate_model

        return AzimuthInputs(locate_model(options["azimuth_model"]), options["azimuth_engine"],
                             options["chunk_cells"] or DEFAULT_CHUNK)

    def annotate(self, matrix, report, inputs: AzimuthInputs, scratch):
        from cellannotate.annotators.azimuth.engine import annotate_azimuth

        return annotate_azimuth(matrix, inputs.weights, self.folder, scratch, inputs.engine, inputs.chunk_cells)


MODEL = AzimuthAnnotator()
