"""Where several models ran: one column per cell says whether they agree on the lineage, and the
report has their agreement table; no model's labels are changed by another's."""

import json

import anndata
import pandas as pd

from cellannotate.lineage import agreement, agreement_table, lineage_of
from conftest import REPO, run_script, validation_json

DEMO = REPO / "assets" / "demo" / "wu2020_200_filtered_feature_bc_matrix.h5"


def test_lineages_of_both_vocabularies():
    assert {lineage_of(x) for x in ("Memory CD4 T cell", "CD8 T cell", "T cell", "Treg")} == {"T cell"}
    assert lineage_of("Microglia") == lineage_of("CD14+ Monocyte") == "Myeloid"
    assert lineage_of("Unassigned") == "Unassigned" and lineage_of("Hepatocyte") == "Epithelial"


class _Table:
    def __init__(self, model, labels):
        self.model, self.fine, self.coarse = model, pd.Series(labels).to_numpy(object), pd.Series(labels).to_numpy(object)


def test_agreement_per_cell_and_per_pair():
    a = _Table("A", ["CD4 T cell", "B cell", "Unassigned", "Neuron"])
    b = _Table("B", ["T cell", "Monocyte", "T cell", "Unassigned"])
    assert list(agreement([a, b])) == ["agree", "disagree", "n/a", "n/a"]
    assert agreement_table([a, b]) == [("A", "B", 2, 0.5)]


def test_two_offline_models_on_real_cells_agree_and_say_so_in_every_output(tmp_path):
    validation = validation_json(DEMO, tmp_path)
    for step in ("annotate_distill.py", "annotate_markers.py"):
        result = run_script(step, "--matrix", str(DEMO), "--validation", str(validation), "--outdir", str(tmp_path / "ann"))
        assert result.returncode == 0, result.stderr
    outs = tmp_path / "outs"
    result = run_script("assemble_outputs.py", "--id", "demo", "--matrix", str(DEMO), "--validation", str(validation),
                        "--annotations", str(tmp_path / "ann" / "PanHumanDistill"),
                        "--annotations", str(tmp_path / "ann" / "Markers"), "--outs", str(outs))
    assert result.returncode == 0, result.stderr
    obs = anndata.read_h5ad(outs / "demo.h5ad").obs
    assert (obs["models_agree_on_lineage"] == "agree").mean() > 0.8, obs["models_agree_on_lineage"].value_counts()
    (pair,) = json.loads((outs / "summary.json").read_text())["agreement"]
    assert pair["models"] == ["PanHumanDistill", "Markers"] and pair["share_same_lineage"] > 0.8
    assert "Agreement between models" in (outs / "web_summary_cell_types.html").read_text()
    markers = pd.read_csv(outs / "cell_types" / "Markers" / "cell_types.csv")
    alone = pd.read_csv(tmp_path / "ann" / "Markers" / "cell_types.csv")
    assert markers["fine_cell_type"].tolist() == alone["fine_cell_type"].tolist()
