"""One place decides which models run; every model has the same face; adding one touches nothing else."""

import json
import re
import sys

import numpy as np
import pandas as pd
import pytest

from cellannotate.annotators import Annotator, registry
from cellannotate.annotators.plan import plan_models
from cellannotate.celltypes import CellTypeTable
from cellannotate.errors import ModelError, UsageError
from cellannotate.pipeline import AnnotateRequest, run_annotate
from cellannotate.validation.matrix import validate_matrix
from conftest import REPO, small_matrix


class ToyAnnotator(Annotator):
    """Calls every cell a toy cell: all a model needs to be planned, run, written and reported."""

    name = "toy"
    folder = "Toy"
    title = "Toy model"
    step = "ANNOTATE_TOY"
    choices = ("toy",)
    exclusive = True

    def annotate(self, matrix, report, inputs, scratch):
        labels = np.full(matrix.n_cells, "Toy cell", dtype=object)
        return CellTypeTable(self.folder, matrix.barcodes, labels, labels, labels, np.ones(matrix.n_cells),
                             info={"model_name": "toy"})


@pytest.fixture
def toy():
    model = registry.register(ToyAnnotator())
    yield model
    registry.unregister(model.name)


def test_a_registered_toy_model_is_planned_run_written_and_reported(toy, example_h5, tmp_path):
    report = validate_matrix(example_h5)
    plan = plan_models(report, "toy")
    assert [m.name for m in plan.models] == ["toy"] and plan.steps == ["ANNOTATE_TOY"]
    assert plan.left_out["azimuth"] == "--cell-annotation-model toy runs alone"
    assert "toy" in plan_models(report).left_out  # runs only when asked for

    outs = run_annotate(AnnotateRequest("s1", example_h5, tmp_path / "run", cell_annotation_model="toy"))
    table = pd.read_csv(outs / "cell_types" / "Toy" / "cell_types.csv")
    assert len(table) == 600 and set(table["coarse_cell_type"]) == {"Toy cell"}
    assert sorted(p.name for p in (outs / "cell_types").iterdir()) == ["Toy"]
    assert "Toy model" in (outs / "web_summary_cell_types.html").read_text()
    assert json.loads((outs / "validation.json").read_text())["models"] == ["toy"]
    assert "Toy" in json.loads((outs / "summary.json").read_text())["models"]


HUMAN_600 = dict(species="human", n_cells=600)


@pytest.mark.parametrize("species,request_,models", [
    ("human", None, ["azimuth"]),
    ("human", "markers", ["markers"]),
    ("human", "azimuth", ["azimuth"]),
    ("human", "auto", ["10x_cloud", "azimuth"]),
    ("human", "human_pca_v1_beta", ["10x_cloud", "azimuth"]),
    ("mouse", None, ["markers"]),
    ("mouse", "markers", ["markers"]),
    ("mouse", "auto", ["10x_cloud"]),
    ("mouse", "mouse_pca_v1_beta", ["10x_cloud"]),
])
def test_the_plan_follows_space_ranger_and_says_why_the_others_are_left_out(species, request_, models, example_h5, tmp_path):
    path = example_h5 if species == "human" else small_matrix(tmp_path / "m.h5", n_cells=150, genome="mm10",
                                                              ids=[f"ENSMUSG{i:011d}" for i in range(30)])
    report = validate_matrix(path)
    plan = plan_models(report, request_)
    assert [m.name for m in plan.models] == models
    assert sorted(plan.left_out) == sorted({m.name for m in registry.models()} - set(models))
    assert all(plan.left_out.values())
    written = plan.apply(report)
    assert (written.requested_model, written.models, written.models_left_out) == (request_, models, plan.left_out)
    assert written.steps == (["CHECK_TOKEN"] if "10x_cloud" in models else []) + [registry.get(m).step for m in models]


@pytest.mark.parametrize("request_,message", [
    ("azimuth", "Pan-Human Azimuth is for human samples; this one is mouse"),
    ("human_pca_v1_beta", "is for human samples; this one is mouse"),
])
def test_a_model_asked_for_that_cannot_run_is_an_error_with_the_reason(request_, message, tmp_path):
    report = validate_matrix(small_matrix(tmp_path / "m.h5", n_cells=150, genome="mm10",
                                          ids=[f"ENSMUSG{i:011d}" for i in range(30)]))
    with pytest.raises(ModelError, match=message):
        plan_models(report, request_)


def test_an_unknown_request_lists_the_choices(example_h5):
    with pytest.raises(UsageError, match="choose one of auto, human_pca_v1_beta, mouse_pca_v1_beta, azimuth, panhuman_distill, markers"):
        plan_models(validate_matrix(example_h5), "celltypist")


def test_models_must_not_clash(toy):
    class Clash(ToyAnnotator):
        name = "other"
        folder = "Other"

    with pytest.raises(ValueError, match="clashes"):
        registry.register(Clash())


def test_the_workflow_names_no_model_and_no_species():
    """It wires steps (and hands each step its own input files, e.g. params.azimuth_model); it decides
    nothing. The models' steps are called by the subworkflow generated from the registry."""
    text = (REPO / "workflows" / "annotate.nf").read_text()
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(("include", "//", "*", "/*")))
    code = re.sub(r"\b(ANNOTATE_[A-Z]+|CHECK_TOKEN|VALIDATE_MATRIX|ASSEMBLE_OUTPUTS|params\.\w+|ch_\w+)\b", "WIRING", code)
    names = {"human", "mouse"} | {n for m in registry.models() for n in (m.name, m.folder, m.title, *m.choices)}
    found = [n for n in names if re.search(re.escape(n), code, re.IGNORECASE)]
    assert found == []
    generated = (REPO / "subworkflows" / "local" / "annotate_models" / "main.nf").read_text()
    for model in registry.models():
        assert f"'{model.step}' in meta.steps" in generated, model.step
        assert (REPO / "modules" / "local" / model.step.lower() / "main.nf").is_file()


def test_the_pipeline_schema_offers_the_registry_choices():
    schema = json.loads((REPO / "nextflow_schema.json").read_text())
    enum = next(group["properties"]["cell_annotation_model"]["enum"] for group in schema["$defs"].values()
                if "cell_annotation_model" in group["properties"])
    assert enum == list(registry.choices())


def test_a_model_registered_after_import_is_a_cli_choice(toy, example_h5, tmp_path):
    from cellannotate.cli_support import run_app
    from cellannotate.cli import app

    with pytest.raises(SystemExit) as exit_:
        sys.argv = ["cellannotate", "annotate", "--id", "s", "--matrix", str(example_h5), "--outdir",
                    str(tmp_path / "run"), "--cell-annotation-model", "toy"]
        run_app(app)
    assert exit_.value.code == 0
    assert (tmp_path / "run" / "outs" / "cell_types" / "Toy" / "cell_types.csv").is_file()
