"""How many times each step reads the counts (issue: a million cells at close to the speed of reading them).

One pass per stage that needs the counts: validation reads every count once (it checks them all);
a model reads them once for its labels plus a spread-out sample (the organ call; for the markers
model also the genes' spread and the PCA's axes, projected in the scoring pass); output
assembly reads them once, writing the .h5ad with every model's differential expression alongside.
"""

from __future__ import annotations

import shutil

import pytest

from conftest import REPO
from pass_counter import counting_passes
from cellannotate.pipeline import AnnotateRequest, run_annotate
from cellannotate.validation.matrix import validate_matrix
from cellannotate.outputs import assemble


@pytest.mark.parametrize("model, annotate_passes", [("markers", 1), ("panhuman_distill", 1)])
def test_each_step_reads_the_counts_once(model, annotate_passes, tmp_path, monkeypatch):
    import cellannotate.annotators.markers.run as markers_run
    import cellannotate.annotators.markers.tissue as tissue

    matrix = tmp_path / "demo.h5"       # 200 real T cells, whole-transcriptome
    shutil.copyfile(REPO / "assets" / "demo" / "wu2020_200_filtered_feature_bc_matrix.h5", matrix)
    # Samples of a tenth of the cells, as 50,000 are of half a million.
    monkeypatch.setattr(markers_run, "PCA_SAMPLE_CELLS", 20)
    monkeypatch.setattr(tissue, "SAMPLE_CELLS", 20)
    steps = {}

    def timed(name, function):
        def run(*args, **kwargs):
            with counting_passes() as counts:
                result = function(*args, **kwargs)
            steps[name] = counts[str(matrix)]
            return result
        return run

    import cellannotate.pipeline as pipeline
    monkeypatch.setattr(pipeline, "validate_matrix", timed("validate", validate_matrix))
    monkeypatch.setattr(pipeline, "run_model", timed("annotate", pipeline.run_model))
    monkeypatch.setattr(pipeline, "assemble_outputs", timed("assemble", assemble.assemble_outputs))
    with counting_passes() as total:
        run_annotate(AnnotateRequest("s1", matrix, tmp_path / "run", cell_annotation_model=model))
    assert steps["validate"] == pytest.approx(1.0)
    assert steps["annotate"] == pytest.approx(annotate_passes + 0.1, abs=0.03)
    assert steps["assemble"] == pytest.approx(1.0)
    assert total[str(matrix)] == pytest.approx(sum(steps.values()))
