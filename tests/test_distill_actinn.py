"""Our numpy panhuman_distill against actinn-jax 0.3.1 itself (JAX), on real cells.

Runs in the interop environment (`make test-interop`), which has actinn-jax with JAX and
scanpy. actinn-jax reads the matrix as its users do (``scanpy.read_10x_h5``) and labels it
with ``bundled_reference('panhuman_distill_v1').predict_frame`` at its defaults.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from conftest import REPO, SHARED_DATA

pytestmark = pytest.mark.actinn

DEMO = REPO / "assets" / "demo" / "wu2020_200_filtered_feature_bc_matrix.h5"
PROBABILITY_TOLERANCE = 1e-5


def _actinn(path: Path):
    sc = pytest.importorskip("scanpy")
    actinn_jax = pytest.importorskip("actinn_jax")
    adata = sc.read_10x_h5(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame, _ = actinn_jax.bundled_reference("panhuman_distill_v1", download=False).predict_frame(adata)
    return frame


def _ours(path: Path, tmp_path: Path, chunk_cells: int = 64):
    from cellannotate.annotators.distill.engine import run_hierarchy
    from cellannotate.annotators.distill.reference import load_reference, locate_reference
    from cellannotate.io.tenx_h5 import TenxMatrix

    with TenxMatrix(path) as matrix:
        return run_hierarchy(matrix, load_reference(locate_reference()), tmp_path / "embedding.npy", chunk_cells)


def _thinned(tmp_path: Path, fractions=(1.0, 0.5, 0.25, 0.1, 0.05)) -> Path:
    """The 200 real cells again at lower depths (binomial thinning of their counts): 1,000 cells."""
    from cellannotate.io.tenx_h5 import TenxMatrix, write_10x_h5

    rng = np.random.default_rng(7)
    with TenxMatrix(DEMO) as matrix:
        counts = matrix.read_cells(0, matrix.n_cells).astype(np.int64)
        features, barcodes = matrix.features, matrix.barcodes
    parts, names = [], []
    for f in fractions:
        thinned = counts.copy()
        thinned.data = rng.binomial(thinned.data, f)
        thinned.eliminate_zeros()
        parts.append(thinned)
        names += [f"{b}-{f}" for b in barcodes]
    out = tmp_path / "thinned.h5"
    write_10x_h5(out, sp.vstack(parts).astype(np.int32).tocsr(), features, np.array(names))
    return out


def _compare(path: Path, tmp_path: Path):
    theirs = _actinn(path)
    ours = _ours(path, tmp_path)
    assert list(ours["group"]) == list(theirs["coarse"])
    assert list(ours["label"]) == list(theirs["celltype"])
    difference = np.abs(ours["probability"] - theirs["celltype_probability"].to_numpy())
    assert difference.max() < PROBABILITY_TOLERANCE, difference.max()
    return difference.max()


def test_labels_equal_actinn_jax_on_the_real_demo(tmp_path):
    _compare(DEMO, tmp_path)


def test_labels_equal_actinn_jax_at_lower_depths(tmp_path):
    _compare(_thinned(tmp_path), tmp_path)


@pytest.mark.parametrize("path", sorted(SHARED_DATA.glob("human_*.h5")), ids=lambda p: p.name)
def test_files_with_too_few_panel_genes_are_refused_by_both(path, tmp_path):
    """None of the small real files in shared/ holds 500 of the panel's genes: both refuse them."""
    from cellannotate.errors import ModelError

    with pytest.raises(ValueError, match="shares only"):
        _actinn(path)
    with pytest.raises(ModelError, match="shares only"):
        _ours(path, tmp_path)
