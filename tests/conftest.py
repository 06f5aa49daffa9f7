"""Shared fixtures: the real 10x files in ../shared/data/10x and small generated ones."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.sparse as sp

from cellannotate.example_data import ExampleSpec, write_example
from cellannotate.io.tenx_h5 import GENE_EXPRESSION, FeatureTable, write_10x_h5

REPO = Path(__file__).resolve().parents[1]
BIN = REPO / "bin"
SHARED_DATA = Path(os.environ.get("CELLANNOTATE_SHARED_DATA", REPO.parent / "shared" / "data" / "10x"))
# UMAP costs about half a minute of numba compiling in every process that runs it; the suite runs
# it where it is under test (tests/test_umap.py, tests/test_interop.py) and nowhere else.
os.environ["CELLANNOTATE_UMAP"] = "0"

REAL_FILES = {
    "human_chr21_cellranger3_filtered_feature_bc_matrix.h5": dict(n_cells=1107, species="human", kind="single_cell", layout="v3"),
    "human_hg19_cellranger2_filtered_gene_bc_matrices.h5": dict(n_cells=12, species="human", kind="single_cell", layout="v2"),
    "human_pbmc500_50genes_cellranger6_filtered_feature_bc_matrix.h5": dict(n_cells=587, species="human", kind="single_cell", layout="v3"),
    "human_visium_spaceranger1_filtered_feature_bc_matrix.h5": dict(n_cells=100, species="human", kind="spots", layout="v3"),
    "mouse_placenta_visium_spaceranger3_filtered_feature_bc_matrix.h5": dict(n_cells=2898, species="mouse", kind="spots", layout="v3"),
}


def real_file(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_file():
        raise FileNotFoundError(f"shared test data missing: {path} (set CELLANNOTATE_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def example_h5(tmp_path_factory) -> Path:
    """A 600-cell synthetic human segmented matrix with its truth CSV beside it."""
    folder = tmp_path_factory.mktemp("example")
    path = folder / "example.h5"
    write_example(path, ExampleSpec(n_cells=600, n_genes=300, seed=1), truth_path=folder / "truth.csv")
    return path


@pytest.fixture(scope="session")
def mouse_matrix(tmp_path_factory) -> Path:
    """A 150-cell synthetic mouse segmented matrix (the 10x Cloud tests' sample)."""
    path = tmp_path_factory.mktemp("mouse") / "mouse.h5"
    write_example(path, ExampleSpec(n_cells=150, n_genes=300, species="mouse", seed=8))
    return path


@pytest.fixture(scope="session")
def standin(tmp_path_factory) -> Path:
    """The stand-in Pan-Human Azimuth v1 model (tests/azimuth_standin.py)."""
    from azimuth_standin import write_standin_model

    return write_standin_model(tmp_path_factory.mktemp("model") / "standin.keras")


@pytest.fixture(scope="session")
def panel_matrix(tmp_path_factory) -> Path:
    """A 2,000-cell generated human matrix whose background genes are Azimuth panel genes (59% overlap)."""
    from cellannotate.annotators.azimuth.assets import load_assets

    path = tmp_path_factory.mktemp("azimuth") / "panel.h5"
    write_example(path, ExampleSpec(n_cells=2000, n_genes=3000, seed=3, filler_genes=tuple(load_assets().panel)))
    return path


# root reads and writes anything, so permission checks run as nobody when the suite runs as root.
UNPRIVILEGED = "65534" if os.geteuid() == 0 else None


@pytest.fixture(scope="session")
def other_user():
    """The unprivileged user the permission tests run as (``None``: the suite's own user is one). A
    checkout inside a private folder (as /root is) hides the interpreter from that user: the test is
    skipped with the reason, since it could not show anything there."""
    if UNPRIVILEGED is None:
        return None
    probe = subprocess.run(["setpriv", "--reuid", UNPRIVILEGED, "--regid", UNPRIVILEGED, "--clear-groups",
                            sys.executable, "-c", "import cellannotate.cli"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"user {UNPRIVILEGED} cannot run {sys.executable} with this checkout's package (it lies in a "
                    "folder only its owner can enter); run the suite from a world-readable checkout to see this test")
    return UNPRIVILEGED


@pytest.fixture
def open_folder():
    """A world-writable scratch folder, so another user can reach files in it."""
    folder = Path(tempfile.mkdtemp())
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder)


@pytest.fixture
def small_filesystem(tmp_path):
    """``mount(size_kib, read_only=False)``: a tmpfs of that size, unmounted afterwards (needs root)."""
    mounted = []

    def mount(size_kib: int, read_only: bool = False) -> Path:
        target = tmp_path / f"fs{len(mounted)}"
        target.mkdir()
        options = f"size={size_kib}k" + (",ro" if read_only else "")
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True)
        if result.returncode != 0:
            pytest.fail(f"cannot mount a tmpfs here (the suite runs as root in CI): {result.stderr!r}")
        mounted.append(target)
        return target

    yield mount
    for target in mounted:
        subprocess.run(["umount", str(target)], capture_output=True)


def features(n: int, types=None, ids=None, names=None, genome="GRCh38") -> FeatureTable:
    return FeatureTable(
        np.array(ids if ids is not None else [f"ENSG{i:011d}" for i in range(n)], dtype=object),
        np.array(names if names is not None else [f"GENE{i}" for i in range(n)], dtype=object),
        np.array(types if types is not None else [GENE_EXPRESSION] * n, dtype=object),
        np.full(n, genome, dtype=object),
    )


def small_matrix(path: Path, n_cells: int = 150, n_genes: int = 30, seed: int = 0, **feature_args) -> Path:
    """Write a random small v3 matrix (every cell has counts) and return its path."""
    rng = np.random.default_rng(seed)
    counts = sp.random(n_cells, n_genes, density=0.3, random_state=rng, format="csr",
                       data_rvs=lambda k: rng.integers(1, 20, k)).astype(np.int32)
    first_gene = sp.csr_matrix((np.ones(n_cells, np.int32), (np.arange(n_cells), np.zeros(n_cells, int))),
                               shape=counts.shape)
    counts = (counts + first_gene).astype(np.int32)
    barcodes = feature_args.pop("barcodes", [f"cellid_{i + 1:09d}-1" for i in range(n_cells)])
    write_10x_h5(path, counts, features(n_genes, **feature_args), barcodes)
    return path


def validation_json(matrix: Path, folder: Path, request: str | None = None) -> Path:
    """``validation.json`` of ``matrix`` (report and plan), as validate_matrix.py writes it."""
    from cellannotate.annotators.plan import validate_and_plan

    path = Path(folder) / f"{Path(matrix).stem}.validation.json"
    validate_and_plan(matrix, request).write_json(path)
    return path


def edit_h5(path: Path, edit) -> Path:
    """Apply ``edit(h5py.File)`` to the file opened read/write, to break it on purpose."""
    with h5py.File(path, "r+") as h5:
        edit(h5)
    return path


def run_cli(*args: str, env=None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``cellannotate ARGS`` as a user would."""
    return subprocess.run([sys.executable, "-m", "cellannotate", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def run_script(script: str, *args: str, env=None, user: str | None = None) -> subprocess.CompletedProcess:
    """Run a bin/ script as a user would, optionally as another (unprivileged) user."""
    cmd = [sys.executable, str(BIN / script), *args]
    if user is not None:
        cmd = ["setpriv", "--reuid", user, "--regid", user, "--clear-groups", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)


def assert_one_line_error(result: subprocess.CompletedProcess, code: int, fragment: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0], lines[0]
