"""Pan-Human Azimuth, run locally without TensorFlow (Space Ranger runs it for every human sample)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cellannotate.annotators.azimuth.engine import CHUNK_CELLS, ENGINES, annotate_azimuth
from cellannotate.annotators.azimuth.weights import locate_model
from cellannotate.annotators.base import Annotator, ModelOptions
from cellannotate.celltypes import CellTypeTable
from cellannotate.errors import ModelError
from cellannotate.io.tenx_h5 import TenxMatrix
from cellannotate.validation.report import ValidationReport


@dataclass(frozen=True)
class AzimuthInputs:
    weights: Path
    engine: str
    chunk_cells: int


class AzimuthAnnotator(Annotator):
    name = "azimuth"
    folder = "Azimuth"
    title = "Pan-Human Azimuth"
    step = "ANNOTATE_AZIMUTH"
    choices = ("azimuth",)
    species = ("human",)
    default_for = ("human",)
    exclusive = True
    needs = ("azimuth_weights",)

    def prepare(self, options: ModelOptions) -> AzimuthInputs:
        if options.azimuth_engine not in ENGINES:
            raise ModelError(f"unknown Azimuth engine {options.azimuth_engine!r}; use one of {', '.join(ENGINES)}")
        return AzimuthInputs(locate_model(options.azimuth_model), options.azimuth_engine,
                             options.chunk_cells or CHUNK_CELLS)

    def annotate(self, matrix: TenxMatrix, report: ValidationReport, inputs: AzimuthInputs,
                 scratch: Path) -> CellTypeTable:
        return annotate_azimuth(matrix, inputs.weights, self.folder, scratch, inputs.engine, inputs.chunk_cells)
