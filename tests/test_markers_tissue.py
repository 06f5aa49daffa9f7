"""The markers model keeps to one tissue's cell types (plus the immune ones): asked for or detected."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from conftest import REPO, assert_one_line_error, features, real_file, run_cli
from cellannotate.annotators.markers.database import load_marker_database
from cellannotate.annotators.markers.tissue import home_organ
from cellannotate.io.tenx_h5 import write_10x_h5

DEMO = REPO / "assets" / "demo" / "wu2020_200_filtered_feature_bc_matrix.h5"
# Types of the mouse database that only its lung or liver file has.
LUNG_OR_LIVER_ONLY = {name for name, origin in load_marker_database("mouse").origins.items()
                      if origin <= {"lung", "liver"}}


def _annotate(tmp_path, matrix, *extra):
    return run_cli("annotate", "--id", "s", "--matrix", str(matrix), "--outdir", str(tmp_path / "run"),
                   "--cell-annotation-model", "markers", *extra, timeout=300)


def _outputs(tmp_path):
    outs = tmp_path / "run" / "outs"
    import pandas as pd

    labels = pd.read_csv(outs / "cell_types" / "Markers" / "cell_types.csv")
    info = json.loads((outs / "summary.json").read_text())["models"]["Markers"]["info"]
    return labels, info


def _mouse_cells(path, groups: dict, seed: int = 3):
    """Mouse cells: for each (marker genes, cells) in ``groups``, that many cells expressing those genes."""
    genes = sorted(set(load_marker_database("mouse").genes()) | {f"Gm{i}" for i in range(300)})
    column = {g: i for i, g in enumerate(genes)}
    rng = np.random.default_rng(seed)
    n = sum(cells for _, cells in groups.values())
    counts = rng.poisson(0.3, size=(n, len(genes)))
    start = 0
    for markers, cells in groups.values():
        for gene in markers:
            counts[start:start + cells, column[gene]] += rng.poisson(6, size=cells)
        start += cells
    ids = np.array([f"ENSMUSG{i:011d}" for i in range(len(genes))])
    write_10x_h5(path, sp.csr_matrix(counts.astype(np.int32)), features(len(genes), ids=ids, names=np.array(genes),
                                                                         genome="GRCm39"),
                 np.array([f"C{i:05d}-1" for i in range(n)]))
    return path


def _brain_types(*names, cells=100):
    brain = load_marker_database("mouse", tissues=["brain"]).cell_types
    return {t: (sorted(brain[t].positive), cells) for t in names}


@pytest.fixture(scope="module")
def mouse_brain(tmp_path_factory):
    """Mouse cells expressing the brain file's neuron, astrocyte, oligodendrocyte and microglia markers."""
    return _mouse_cells(tmp_path_factory.mktemp("brain") / "brain.h5",
                        _brain_types("Glutamatergic neuron", "Astrocyte", "Oligodendrocyte", "Microglia"))


@pytest.fixture(scope="module")
def macrophage_rich_brain(tmp_path_factory):
    """A brain whose cells are half tissue-resident macrophages carrying the C1q/Pf4/Ms4a7/Fcrls genes that
    the lung's interstitial macrophage signature is made of (the case that used to be called 'all')."""
    db = load_marker_database("mouse")
    groups = _brain_types("Glutamatergic neuron", "GABAergic neuron", "Astrocyte", "Oligodendrocyte", cells=75)
    groups["macrophages"] = (sorted(db.cell_types["Interstitial macrophage"].positive
                                    | db.cell_types["Perivascular macrophage"].positive), 300)
    return _mouse_cells(tmp_path_factory.mktemp("macrophage_brain") / "brain.h5", groups, seed=4)


def _foreign(labels, called: str) -> set:
    """Labels of a type that only another organ's file holds (tissue-resident ones such as microglia included)."""
    origins = load_marker_database("mouse").origins
    names = set(labels["coarse_cell_type"]) | set(labels["fine_cell_type"])
    return {n for n in names if home_organ(n, origins) not in (None, called)}


def test_brain_is_detected_and_no_lung_or_liver_type_is_given(tmp_path, mouse_brain):
    assert _annotate(tmp_path, mouse_brain).returncode == 0
    labels, info = _outputs(tmp_path)
    assert info["tissue"]["tissue"] == "brain" and info["tissue"]["detected"]
    assert info["tissue"]["support"]["brain"] > info["tissue"]["support"]["lung"]
    assert not set(labels["coarse_cell_type"]) & LUNG_OR_LIVER_ONLY
    assert "brain" in info["report"]["tissue"]


def test_every_file_scored_together_gives_other_tissues_types(tmp_path, mouse_brain):
    """What --markers-tissue all (the old behaviour) does on the same cells: the reason for the default."""
    assert _annotate(tmp_path, mouse_brain, "--markers-tissue", "all").returncode == 0
    labels, info = _outputs(tmp_path)
    assert info["tissue"]["tissue"] == "all"
    assert len(info["marker_database"]["files"]) == 4


def test_real_t_cells_are_labelled_with_immune_types_only(tmp_path):
    assert _annotate(tmp_path, DEMO).returncode == 0
    labels, info = _outputs(tmp_path)
    assert info["tissue"]["tissue"] == "immune"
    assert info["marker_database"]["files"] == ["human_immune_cell_markers.json"]


def test_tissue_resident_macrophages_do_not_call_another_organ(tmp_path, macrophage_rich_brain):
    assert _annotate(tmp_path, macrophage_rich_brain).returncode == 0
    labels, info = _outputs(tmp_path)
    assert info["tissue"]["tissue"] == "brain", info["tissue"]
    assert _foreign(labels, "brain") == set()


def test_a_real_section_is_called_by_its_organs_own_cells(tmp_path):
    """Real mouse Visium section 'Placenta_S3' (its strongest genes, Sox11, Otp, Hoxb2, Col2a1, are an
    embryo's): its neural spots call brain, and no spot gets another organ's type."""
    assert _annotate(tmp_path, real_file("mouse_placenta_visium_spaceranger3_filtered_feature_bc_matrix.h5")).returncode == 0
    labels, info = _outputs(tmp_path)
    assert info["tissue"]["tissue"] == "brain" and info["tissue"]["detected"]
    assert _foreign(labels, "brain") == set()


@pytest.fixture(scope="module")
def brain_and_lung(tmp_path_factory):
    """As many brain neurons as lung alveolar cells: no organ leads."""
    db = load_marker_database("mouse")
    groups = _brain_types("Glutamatergic neuron", cells=150)
    groups.update({t: (sorted(db.cell_types[t].positive), 75) for t in ("Alveolar type I cell", "Alveolar type II cell")})
    return _mouse_cells(tmp_path_factory.mktemp("mixed") / "mixed.h5", groups, seed=5)


def test_a_sample_no_organ_leads_is_undetermined_with_a_warning(tmp_path, brain_and_lung):
    """No organ's own types label any cell, and the report, summary.json and the log say so."""
    result = _annotate(tmp_path, brain_and_lung)
    assert result.returncode == 0
    labels, info = _outputs(tmp_path)
    assert info["tissue"]["tissue"] == "undetermined" and info["tissue"]["detected"]
    assert _foreign(labels, "undetermined") == set()
    summary = json.loads((tmp_path / "run" / "outs" / "summary.json").read_text())
    warning = next(w for w in summary["warnings"] if w.startswith("markers: no tissue clearly leads"))
    assert "--markers-tissue" in warning and "markers: no tissue clearly leads" in result.stderr
    assert "markers: no tissue clearly leads" in (tmp_path / "run" / "outs" / "web_summary_cell_types.html").read_text()


@pytest.mark.parametrize("tissue", ["brain", "lung", "liver", "immune"])
def test_no_cell_gets_a_type_of_an_organ_the_call_excludes(tmp_path, macrophage_rich_brain, tissue):
    assert _annotate(tmp_path, macrophage_rich_brain, "--markers-tissue", tissue).returncode == 0
    labels, _ = _outputs(tmp_path)
    assert _foreign(labels, tissue) == set()


def test_an_uninformative_panel_is_undetermined_and_says_so_everywhere(tmp_path):
    """100 genes, three of them markers (one of the brain): no tissue can be told, and the report, summary.json, the log and
    MultiQC say what the model could not see, instead of calling the sample immune in silence."""
    from cellannotate.outputs.assemble import assemble_outputs
    from cellannotate.validation.report import ValidationReport

    genes = ["Snap25", "Cd3e", "Cd79a"] + [f"Gm{i}" for i in range(97)]
    rng = np.random.default_rng(2)
    path = tmp_path / "panel.h5"
    write_10x_h5(path, sp.csr_matrix(rng.poisson(1.0, size=(300, 100)).astype(np.int32)),
                 features(100, ids=np.array([f"ENSMUSG{i:011d}" for i in range(100)]), names=np.array(genes),
                          genome="GRCm39"), np.array([f"C{i:05d}-1" for i in range(300)]))
    result = _annotate(tmp_path, path)
    assert result.returncode == 0, result.stderr
    labels, info = _outputs(tmp_path)
    assert info["tissue"]["tissue"] == "undetermined"
    summary = json.loads((tmp_path / "run" / "outs" / "summary.json").read_text())
    expected = ["markers: too little evidence to tell the tissue", "marker genes are in the matrix"]
    for fragment in expected:
        assert any(fragment in w for w in summary["warnings"]), (fragment, summary["warnings"])
        assert fragment in result.stderr
        assert fragment in (tmp_path / "run" / "outs" / "web_summary_cell_types.html").read_text()
    run = tmp_path / "run" / "outs"
    assemble_outputs("s", path, ValidationReport.read_json(run / "validation.json"),
                     [_markers_folder(run, tmp_path)], tmp_path / "again",
                     multiqc_dir=tmp_path / "mqc")
    table = (tmp_path / "mqc" / "s_validation_mqc.tsv").read_text()
    assert all(fragment in table for fragment in expected)


def _markers_folder(outs, tmp_path):
    """A Markers annotation folder (cell_types.csv, model.json) as the step writes it, from a run's summary."""
    import pandas as pd

    folder = tmp_path / "ann" / "Markers"
    folder.mkdir(parents=True)
    pd.read_csv(outs / "cell_types" / "Markers" / "cell_types.csv").to_csv(folder / "cell_types.csv", index=False)
    info = json.loads((outs / "summary.json").read_text())["models"]["Markers"]["info"]
    (folder / "model.json").write_text(json.dumps({"model": "Markers", **info}))
    return folder


def test_an_asked_tissue_is_used_as_asked(tmp_path, mouse_brain):
    assert _annotate(tmp_path, mouse_brain, "--markers-tissue", "liver").returncode == 0
    _, info = _outputs(tmp_path)
    assert info["tissue"] == {"tissue": "liver", "detected": False, "support": {}}
    assert info["marker_database"]["files"] == ["mouse_immune_cell_markers.json", "mouse_liver_cell_markers.json"]


def test_an_unknown_tissue_is_one_clear_usage_error(tmp_path, mouse_brain):
    result = _annotate(tmp_path, mouse_brain, "--markers-tissue", "heart")
    assert_one_line_error(result, 2, "choose one of auto, all, immune, brain, lung, liver")
    assert not (tmp_path / "run" / "outs").exists()
