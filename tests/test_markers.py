"""The offline markers model: species, symbols, zero-count cells, thresholds."""

import csv

import numpy as np
import pytest
import scipy.sparse as sp

from cellannotate.celltypes import UNASSIGNED
from cellannotate.errors import ModelError
from cellannotate.example_data import ExampleSpec, write_example
from cellannotate.annotators.markers.database import load_marker_database
from cellannotate.annotators.markers.scoring import MIN_SCORE, annotate_markers
from cellannotate.io.tenx_h5 import read_10x_h5, write_10x_h5
from conftest import features, real_file

# Float results: `make test-blas` runs these again under another BLAS kernel.
pytestmark = pytest.mark.numeric

# Generated types that the species' database has, and the database names that are a correct call.
ACCEPTED = {
    "human": {
        "T cell": {"T cell"}, "B cell": {"B cell"}, "NK cell": {"Natural killer cell"}, "Plasma cell": {"Plasma cell"},
        "Epithelial cell": {"Epithelial cell"}, "Smooth muscle cell": {"Smooth muscle cell"},
    },
    "mouse": {
        "T cell": {"T cell"}, "B cell": {"B cell"}, "Plasma cell": {"Plasma cell"},
        "Endothelial cell": {"Endothelial cell"}, "Smooth muscle cell": {"Smooth muscle cell", "Vascular smooth muscle cell"},
    },
}


def _accuracy(path, truth_path, species):
    truth = {r["barcode"]: r["cell_type"] for r in csv.DictReader(open(truth_path))}
    accepted = ACCEPTED[species]
    with read_10x_h5(path) as m:
        table = annotate_markers(m, species)
    pairs = [(truth[b], c) for b, c in zip(table.barcodes, table.coarse) if truth[b] in accepted]
    return np.mean([c in accepted[t] for t, c in pairs]), table


@pytest.mark.parametrize("species", ["human", "mouse"])
def test_generated_cell_types_are_recovered_for_both_species(tmp_path, species):
    path, truth = tmp_path / "e.h5", tmp_path / "t.csv"
    write_example(path, ExampleSpec(n_cells=800, n_genes=400, species=species, seed=5), truth)
    accuracy, table = _accuracy(path, truth, species)
    assert accuracy > 0.9
    assert table.info["marker_database"]["package"] == "pegasuspy"
    assert table.info["marker_database"]["license"] == "BSD-3-Clause"
    assert all(f.startswith(species) for f in table.info["marker_database"]["files"])


def test_real_chr21_file_is_labelled_within_bounds():
    with read_10x_h5(real_file("human_chr21_cellranger3_filtered_feature_bc_matrix.h5")) as m:
        table = annotate_markers(m, "human")
    assert table.n_cells == 1107 and sum(table.counts().values()) == 1107
    assert np.all((table.confidence[table.assigned] >= 0) & (table.confidence[table.assigned] <= 1))
    assert np.isnan(table.confidence[~table.assigned]).all()
    assert (table.extra["score"][table.assigned] >= MIN_SCORE).all()


def test_real_pbmc_panel_without_marker_genes_gives_a_clear_error():
    # Its 50 genes were picked at random: none is a marker in the database.
    with read_10x_h5(real_file("human_pbmc500_50genes_cellranger6_filtered_feature_bc_matrix.h5")) as m:
        with pytest.raises(ModelError, match="none of the 515 marker genes"):
            annotate_markers(m, "human")


def test_zero_count_cells_are_unassigned(tmp_path):
    names = ["CD3D", "CD3E", "CD3G", "TRAC", "MS4A1", "CD79A", "CD79B", "CD19"]
    counts = sp.csr_matrix(np.array([[5, 4, 3, 2, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 6, 5, 4, 3]] * 5))
    path = tmp_path / "m.h5"
    write_10x_h5(path, counts, features(8, names=names), [f"c{i}-1" for i in range(15)])
    with read_10x_h5(path) as m:
        table = annotate_markers(m, "human")
    assert list(table.coarse[:3]) == ["T cell", UNASSIGNED, "B cell"]
    assert np.isnan(table.confidence[1])
    assert table.extra["score"][1] == 0


def test_weak_evidence_stays_unassigned(tmp_path):
    names = ["CD3D", "CD3E", "CD3G", "TRAC", "ACTB"]
    rows = [[0, 0, 0, 0, 50]] * 40 + [[1, 0, 0, 0, 50]]
    path = tmp_path / "m.h5"
    write_10x_h5(path, sp.csr_matrix(np.array(rows)), features(5, names=names), [f"c{i}-1" for i in range(41)])
    with read_10x_h5(path) as m:
        table = annotate_markers(m, "human")
    assert (table.coarse[:40] == UNASSIGNED).all()
    assert table.extra["score"][40] >= MIN_SCORE and table.coarse[40] == "T cell"


def test_unknown_species_is_refused(tmp_path):
    with pytest.raises(ModelError, match="human or mouse"):
        load_marker_database("unknown")


def test_ensembl_ids_without_symbols_give_a_clear_error():
    with read_10x_h5(real_file("human_visium_spaceranger1_filtered_feature_bc_matrix.h5")) as m:
        with pytest.raises(ModelError, match="none of the .* marker genes"):
            annotate_markers(m, "human")


def test_mouse_symbols_match_mouse_database(tmp_path):
    db = load_marker_database("mouse")
    assert "Cd3e" in db.genes() and "CD3E" not in db.genes()
    assert {"Hepatocyte", "T cell", "Microglia"} <= set(db.cell_types)


def test_custom_database_file_and_tissue_filter(tmp_path):
    custom = tmp_path / "human_custom_cell_markers.json"
    custom.write_text('{"cell_types": [{"name": "Tcell", "markers": [{"genes": ["CD3E+", "MS4A1-"], "weight": 1}]}]}')
    db = load_marker_database("human", custom)
    assert list(db.cell_types) == ["Tcell"]
    assert db.cell_types["Tcell"].positive == {"CD3E": 0.5}  # a group's weight is shared by its genes
    assert db.cell_types["Tcell"].negative == {"MS4A1": 0.5}
    immune = load_marker_database("human", tissues=["immune"])
    assert immune.source["files"] == ["human_immune_cell_markers.json"]


def test_negative_markers_lower_the_score(tmp_path):
    custom = tmp_path / "human_x_cell_markers.json"
    custom.write_text(
        '{"cell_types": ['
        '{"name": "A", "markers": [{"genes": ["G1+"], "weight": 1}, {"genes": ["G2-"], "weight": 1}]},'
        '{"name": "B", "markers": [{"genes": ["G1+"], "weight": 1}]}]}'
    )
    counts = sp.csr_matrix(np.array([[5, 5], [5, 0], [0, 0], [0, 5]] * 5))
    path = tmp_path / "m.h5"
    write_10x_h5(path, counts, features(2, names=["G1", "G2"]), [f"c{i}-1" for i in range(20)])
    with read_10x_h5(path) as m:
        table = annotate_markers(m, "human", load_marker_database("human", custom))
    assert table.coarse[0] == "B"  # G2 (negative for A) is expressed


def test_neighbourhood_scores_label_a_cell_whose_own_reads_are_too_few(tmp_path):
    """Cells of one cluster, one of them with a single T-cell read: its neighbours carry it to T cell;
    with --markers-neighbours 0 it stays Unassigned."""
    from cellannotate.annotators import registry
    from cellannotate.annotators.run import run_model
    from cellannotate.validation.matrix import validate_matrix

    genes = ["CD3D", "CD3E", "CD3G", "TRAC", "MS4A1", "CD79A", "CD79B", "CD19"] + [f"BG{i}" for i in range(40)]
    rng = np.random.default_rng(5)
    counts = rng.poisson(1.0, size=(120, len(genes)))
    counts[:, :8] = 0                                     # markers only where their type is
    counts[:60, :4] += rng.poisson(8, size=(60, 4))       # T cells
    counts[60:, 4:8] += rng.poisson(8, size=(60, 4))      # B cells
    counts[0, :4] = [1, 0, 0, 0]                          # a T cell with one marker read
    path = tmp_path / "m.h5"
    write_10x_h5(path, sp.csr_matrix(counts.astype(np.int32)), features(len(genes), names=np.array(genes)),
                 np.array([f"C{i:04d}-1" for i in range(120)]))
    model = registry.get("markers")
    labels = {}
    for k in (15, 0):
        table = run_model(model, path, validate_matrix(path), model.prepare(model.option_values({"markers_neighbours": k,
                                                                                           "markers_tissue": "immune"})),
                          tmp_path / f"k{k}")
        labels[k] = table.coarse
    assert labels[15][0] == "T cell" and labels[0][0] != "T cell"
    assert set(labels[15][:60]) == {"T cell"} and set(labels[15][60:]) == {"B cell"}


def test_monocytes_get_lymphoid_negatives_in_the_packaged_database_only(tmp_path):
    """Our addition to pegasus's database: monocytes are CD3- and lack NK/T granule transcripts."""
    import shutil

    from cellannotate.annotators.markers.database import _packaged_folder

    packaged = load_marker_database("human", tissues=["immune"])
    for name in ("CD14+ Monocyte", "CD16+ Monocyte"):
        signature = packaged.cell_types[name]
        assert {"CD3D", "CD3E", "GNLY", "NKG7"} <= set(signature.negative)
        assert abs(sum(signature.negative.values()) - 0.2) < 1e-9 and abs(sum(signature.positive.values()) - 0.8) < 1e-9
    assert "CD16+ Monocyte" in packaged.source["supplement"]
    folder, _ = _packaged_folder()
    shutil.copy(folder / "human_immune_cell_markers.json", tmp_path)
    own = load_marker_database("human", tmp_path)
    assert not own.cell_types["CD16+ Monocyte"].negative and "supplement" not in own.source


def test_an_nk_cell_with_cd16_and_interferon_genes_is_not_a_monocyte(tmp_path):
    """NK cells express FCGR3A (CD16), IFITM2 and IFITM3, three of the five CD16+ monocyte markers:
    with the monocyte negatives more NK (and T) cells are told from monocytes than with pegasus's
    file as it is, and the monocytes stay monocytes."""
    import shutil

    from cellannotate.annotators.markers.database import _packaged_folder

    genes = ["FCGR3A", "IFITM2", "IFITM3", "ASAH1", "MS4A7", "GNLY", "NKG7", "KLRD1", "KLRF1", "CD3D", "CD3E",
             "IL2RB", "KLRC1", "NCR1", "TRDC", "NCAM1"]
    means = {"nk": [3, 3, 1, 0.5, 0, 8, 6, 2, 1, 0, 0, 1, 0.3, 0.3, 0.5, 0.3],
             "monocyte": [3, 4, 5, 2, 3] + [0] * 11,
             "t": [0, 2, 0.5, 0.5, 0, 0, 0.5, 0, 0, 3, 3, 0.3, 0, 0, 0, 0]}
    rng = np.random.default_rng(2)
    counts = np.vstack([rng.poisson(means[kind], size=(60, len(genes))) for kind in ("nk", "monocyte", "t")])
    path = tmp_path / "m.h5"
    write_10x_h5(path, sp.csr_matrix(counts.astype(np.int32)), features(len(genes), names=np.array(genes)),
                 [f"c{i}-1" for i in range(180)])
    folder, _ = _packaged_folder()
    shutil.copy(folder / "human_immune_cell_markers.json", tmp_path)
    with read_10x_h5(path) as m:
        ours = annotate_markers(m, "human", load_marker_database("human", tissues=["immune"]))
        plain = annotate_markers(m, "human", load_marker_database("human", tmp_path))
    def right(table, rows, label):
        return np.mean(table.coarse[rows] == label)

    nk, monocytes, t = slice(0, 60), slice(60, 120), slice(120, 180)
    assert right(ours, nk, "Natural killer cell") > right(plain, nk, "Natural killer cell") + 0.15
    assert right(ours, t, "T cell") > right(plain, t, "T cell") + 0.15
    assert right(ours, monocytes, "CD16+ Monocyte") == right(plain, monocytes, "CD16+ Monocyte") == 1.0
