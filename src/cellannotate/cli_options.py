"""One definition per command-line option, shared by ``cellannotate`` and the ``bin/`` steps.

So that a flag means the same and says the same in every command. Paths are never
checked by Click (``readable=False``): the code that opens them reports a problem in one
line with our exit codes, where Click would print a usage block.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

import typer

from cellannotate.annotators import registry
from cellannotate.sample_id import check_sample_id

CellAnnotationModel = Enum("CellAnnotationModel", {choice: choice for choice in registry.choices()}, type=str)


def _path(default: Any, *flags: str, help: str):
    return typer.Option(default, *flags, readable=False, help=help)


def sample_id(help: str):
    """``--id``, checked as soon as it is parsed (Space Ranger's rule, see :mod:`cellannotate.sample_id`)."""
    return typer.Option(..., "--id", callback=check_sample_id, help=help)


def matrix():
    return _path(..., "--matrix", help="Filtered feature-barcode matrix (10x HDF5), cell-segmented preferred.")


def validation():
    return _path(..., "--validation", help="validation.json that validate_matrix.py wrote for this matrix "
                                           "(species, cell counts, the plan of models).")


def outdir(default: Path | None, help: str):
    return _path(default, "--outdir", help=help)


def cell_annotation_model():
    described = "; ".join(f"{' / '.join(m.choices)}: {m.title}" + (" alone" if m.exclusive else "")
                          for m in registry.models() if m.choices)
    return typer.Option(None, "--cell-annotation-model", help=f"The model to run ({described}). Default: "
                        "Pan-Human Azimuth for human samples, markers for mouse samples.")


def tenx_cloud_token_path(help: str = "File holding the 10x Cloud token (default: $TENX_CLOUD_TOKEN, then the "
                                      "location `cellannotate cloud auth setup` saved)."):
    return _path(None, "--tenx-cloud-token-path", help=help)


def cloud_url():
    return typer.Option(None, "--cloud-url", help="10x Cloud server (default: $CELLANNOTATE_CLOUD_URL or "
                                                  "https://cloud.10xgenomics.com).")


def azimuth_model():
    return _path(None, "--azimuth-model", help="Pan-Human Azimuth v1 weights (.keras); default: "
                 "$CELLANNOTATE_AZIMUTH_MODEL, then the cache `cellannotate models fetch` fills, then panhumanpy's.")


def distill_reference():
    return _path(None, "--distill-reference", help="Folder of actinn-jax's panhuman_distill_v1 reference (default: "
                 "$CELLANNOTATE_DISTILL_REFERENCE, then the installed actinn-jax 0.3.1 package's).")


def markers_db():
    return _path(None, "--markers-db", help="Marker file or folder in pegasus JSON format (default: the "
                 "pegasuspy package's curated markers).")


def markers_tissue():
    return typer.Option(None, "--markers-tissue", help="Tissue whose cell types the markers model uses, with the "
                        "immune ones: immune (blood, lymphoid), brain, lung, liver (mouse), all, or auto (default: "
                        "detected per sample from which tissue's markers fit its cells; the report says which).")


def markers_neighbours():
    return typer.Option(None, "--markers-neighbours", help="Average each cell's marker scores with those of its "
                        "nearest cells in a PCA of the counts before labelling (default 15; 0: each cell alone).")


def cloupe(default: Any = None, help: str = "Loupe .cloupe file of the sample."):
    return _path(default, "--cloupe", help=help)


def annotations():
    return _path(..., "--annotations", help="A model's annotation folder (e.g. Markers/); repeat per model.")


def loupe_converter():
    return _path(None, "--loupe-converter", help="10x's louper executable, to write the annotated .cloupe "
                 "(default: $CELLANNOTATE_LOUPE_CONVERTER; without one no .cloupe is made).")


def spaceranger_outs():
    return _path(None, "--spaceranger-outs", help="The Space Ranger output folder of a Visium HD run (outs/ or "
                 "outs/segmented_outputs/): adds where each cell lies (report tissue view, obsm['spatial']).")
