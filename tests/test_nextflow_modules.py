"""Each Nextflow module, rendered by Groovy as Nextflow would, runs its bin/ script on
staged inputs and produces every output its `output:` block declares (script and stub);
every option it passes exists in the script's CLI."""

import glob
import os
import re
import subprocess
import sys

import pytest

from cellannotate.example_data import ExampleSpec, write_example
from conftest import BIN
from nf_contract import REPO, Module, cli_options
from fake_cloud import TOKEN, FakeCloud
from test_cloupe import _converter
from test_tissue import write_spaceranger_outs
from cellannotate.io.tenx_h5 import read_10x_h5

MODULES = sorted(p.name for p in (REPO / "modules" / "local").iterdir() if (p / "main.nf").is_file())
# Modules that run another project's tool in its own image, not one of our bin/ scripts.
THIRD_PARTY = {"multiqc": "multiqc"}
OURS = [name for name in MODULES if name not in THIRD_PARTY]


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    """Inputs shared by the modules: a matrix, its validation report, a Markers folder, a cloupe."""
    root = tmp_path_factory.mktemp("staged")
    write_example(root / "example.h5", ExampleSpec(n_cells=200, n_genes=300, seed=9))
    subprocess.run([sys.executable, str(BIN / "validate_matrix.py"), "--matrix", "example.h5", "--out",
                    "example.validation.json"], cwd=root, check=True, capture_output=True)
    subprocess.run([sys.executable, str(BIN / "annotate_markers.py"), "--matrix", "example.h5", "--validation",
                    "example.validation.json", "--outdir", "annotations"], cwd=root, check=True, capture_output=True)
    os.symlink(REPO / "assets" / "demo" / "wu2020_200_filtered_feature_bc_matrix.h5", root / "real.h5")
    subprocess.run([sys.executable, str(BIN / "validate_matrix.py"), "--matrix", "real.h5", "--out",
                    "real.validation.json"], cwd=root, check=True, capture_output=True)
    (root / "sample.cloupe").write_bytes(b"\x00LOUPE" + bytes(range(256)))
    with read_10x_h5(root / "example.h5") as matrix:
        write_spaceranger_outs(root / "spaceranger", matrix.barcodes.astype(str))
    (root / "example_validation_mqc.tsv").write_text("# id: 'cellannotate_validation'\n# plot_type: 'table'\n"
                                                     "Sample\tCells\nexample\t200\n")
    token = root / "token"
    token.write_text("t" * 32)
    token.chmod(0o600)
    _converter(root)
    return root


@pytest.fixture(scope="module")
def cloud(staged):
    with read_10x_h5(staged / "example.h5") as m:
        server = FakeCloud(m.barcodes)
    yield server
    server.close()


INPUTS = {
    "annotate_cloud": lambda r: {"matrix": "example.h5", "validation": "example.validation.json",
                                 "token_path": ""},
    "check_token": lambda r: {"token_path": str(r / "token")},
    "validate_matrix": lambda r: {"matrix": "example.h5"},
    "annotate_markers": lambda r: {"matrix": "example.h5", "validation": "example.validation.json", "markers_db": []},
    "annotate_distill": lambda r: {"matrix": "real.h5", "validation": "real.validation.json", "distill_reference": []},
    "annotate_azimuth": lambda r: {"matrix": "example.h5", "validation": "example.validation.json",
                                   "azimuth_model": "azimuth_standin_v1.keras"},
    "annotate_cloupe": lambda r: {"matrix": "example.h5", "cloupe": "sample.cloupe",
                                  "annotations": ["annotations/Markers"], "loupe_converter": "louper"},
    "multiqc": lambda r: {"multiqc_files": ["example_validation_mqc.tsv"], "multiqc_config": "multiqc_config.yml"},
    "assemble_outputs": lambda r: {"matrix": "example.h5", "validation": "example.validation.json",
                                   "annotations": ["annotations/Markers"], "cloupe": [], "spaceranger_outs": "spaceranger"},
}


def test_every_module_has_a_contract_case():
    assert sorted(INPUTS) == MODULES


def _stage(staged, workdir):
    for name in ("example.h5", "example.validation.json", "real.h5", "real.validation.json", "sample.cloupe", "louper", "spaceranger",
                 "example_validation_mqc.tsv"):
        os.symlink(staged / name, workdir / name)
    os.symlink(REPO / "assets" / "test_data" / "azimuth_standin_v1.keras", workdir / "azimuth_standin_v1.keras")
    os.symlink(REPO / "assets" / "multiqc_config.yml", workdir / "multiqc_config.yml")
    (workdir / "annotations").mkdir()
    os.symlink(staged / "annotations" / "Markers", workdir / "annotations" / "Markers")


def _run(command, workdir, extra_env=None):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}"}
    env.pop("TENX_CLOUD_TOKEN", None)
    env.update(extra_env or {})
    return subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=300)


def _context(name, cloud, tmp_path):
    """ext.args and environment a module gets from conf/modules.config and Nextflow secrets."""
    if name != "annotate_cloud":
        return {}, {}
    ext = {"args": f"--cloud-url {cloud.url} --job-dir {tmp_path / 'jobs'} --poll-interval 0"}
    return ext, {"TENX_CLOUD_TOKEN": TOKEN}


@pytest.mark.parametrize("stub", [False, True], ids=["script", "stub"])
@pytest.mark.parametrize("name", MODULES)
def test_module_script_produces_declared_outputs(name, stub, staged, cloud, tmp_path):
    module = Module.load(name)
    ext, env = _context(name, cloud, tmp_path)
    command, outputs = module.render(INPUTS[name](staged), stub=stub, ext=ext)
    _stage(staged, tmp_path)
    result = _run(command, tmp_path, env)
    assert result.returncode == 0, f"{command}\n{result.stderr}"
    for pattern, declared in zip(outputs, module.outputs):
        found = glob.glob(str(tmp_path / pattern))
        assert found or declared.optional, f"{name}: declared output {pattern} missing"
        if not stub and not declared.optional:
            assert found, pattern


@pytest.mark.parametrize("name", OURS)
def test_module_uses_only_options_its_script_has(name, staged, cloud, tmp_path):
    module = Module.load(name)
    command, _ = module.render(INPUTS[name](staged), ext=_context(name, cloud, tmp_path)[0])
    script = re.search(r"(\w+\.py)", command).group(1)
    used = set(re.findall(r"(--[a-z][a-z0-9-]*)", command))
    assert used <= cli_options(BIN / script), f"{name}: {used - cli_options(BIN / script)}"


@pytest.mark.parametrize("name", MODULES)
def test_module_version_command_prints_the_package_version(name, tmp_path):
    from importlib.metadata import version

    from cellannotate import __version__

    result = _run(Module.load(name).version_command, tmp_path)
    assert result.stdout.strip() == (version(THIRD_PARTY[name]) if name in THIRD_PARTY else __version__)


def test_ext_args_and_prefix_reach_the_command(staged, tmp_path):
    module = Module.load("validate_matrix")
    command, outputs = module.render(INPUTS["validate_matrix"](staged), ext={"prefix": "renamed"})
    assert "--out renamed.validation.json" in command
    assert outputs == ["renamed.validation.json"]


def test_cloupe_module_without_converter_writes_no_cloupe(staged, tmp_path):
    module = Module.load("annotate_cloupe")
    inputs = {**INPUTS["annotate_cloupe"](staged), "loupe_converter": []}
    command, outputs = module.render(inputs)
    _stage(staged, tmp_path)
    result = _run(command, tmp_path)
    assert result.returncode == 0, result.stderr
    assert not glob.glob(str(tmp_path / outputs[0]))
    assert "cell_types_loupe.csv" in result.stderr


def test_every_module_names_an_image_that_build_sh_builds():
    version = re.search(r'^version = "(.+)"', (REPO / "pyproject.toml").read_text(), re.M).group(1)
    built = {tag.replace("${version}", version)
             for tag in re.findall(r'-t "([^"]+)"', (REPO / "containers" / "build.sh").read_text())}
    for name in OURS:
        image = re.search(r'container "([^"]+)"', (REPO / "modules" / "local" / name / "main.nf").read_text()).group(1)
        assert image in built, f"{name}: {image} is not built by containers/build.sh ({sorted(built)})"
