"""Each Nextflow module, rendered by Groovy as Nextflow would, runs its bin/ script on
staged inputs and produces every output its `output:` block declares (script and stub);
every option it passes exists in the script's CLI."""

import glob
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cellannotate.annotators import registry
from cellannotate.example_data import ExampleSpec, write_example
from cellannotate.io.tenx_h5 import read_10x_h5
from conftest import BIN
from fake_cloud import TOKEN, FakeCloud
from nf_contract import REPO, Module, cli_options, ext_args
from test_cloupe import _converter
from test_tissue import write_spaceranger_outs

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


# Each input as Nextflow stages it in the task's folder: names with spaces and a
# non-ASCII letter, as a user's files may have (every path a script passes must be quoted).
STAGED = {"my example ü.h5": "example.h5", "my example ü.validation.json": "example.validation.json",
          "real ü.h5": "real.h5", "real ü.validation.json": "real.validation.json", "sample ü.cloupe": "sample.cloupe",
          "lou per": "louper", "space ranger ü": "spaceranger", "example_validation_mqc.tsv": "example_validation_mqc.tsv"}
MATRIX, VALIDATION = "my example ü.h5", "my example ü.validation.json"
INPUTS = {
    "check_token": lambda r: {"token_path": str(r / "token")},
    "validate_matrix": lambda r: {"matrix": MATRIX},
    "annotate_distill": lambda r: {"matrix": "real ü.h5", "validation": "real ü.validation.json", "distill_reference": []},
    "annotate_azimuth": lambda r: {"matrix": MATRIX, "validation": VALIDATION, "azimuth_model": "azimuth standin ü.keras"},
    "annotate_cloupe": lambda r: {"matrix": MATRIX, "cloupe": "sample ü.cloupe",
                                  "annotations": ["annotations/Mark ers"], "loupe_converter": "lou per"},
    "multiqc": lambda r: {"multiqc_files": ["example_validation_mqc.tsv"], "multiqc_config": "multiqc_config.yml"},
    "assemble_outputs": lambda r: {"matrix": MATRIX, "validation": VALIDATION,
                                   "annotations": ["annotations/Mark ers"], "cloupe": [], "spaceranger_outs": "space ranger ü"},
}


# A model's module takes the sample and, per staged option, a file or []: a new model is covered as it is.
MODEL_STEPS = {m.step.lower(): m for m in registry.models()}
for _name, _model in MODEL_STEPS.items():
    INPUTS.setdefault(_name, lambda r, m=_model: {"matrix": MATRIX, "validation": VALIDATION,
                                                  **{o.name: [] for o in m.options if o.type is Path and o.staged}})


def test_every_module_has_a_contract_case():
    assert sorted(INPUTS) == MODULES


def _stage(staged, workdir):
    for name, source in STAGED.items():
        os.symlink(staged / source, workdir / name)
    os.symlink(REPO / "assets" / "test_data" / "azimuth_standin_v1.keras", workdir / "azimuth standin ü.keras")
    os.symlink(REPO / "assets" / "multiqc_config.yml", workdir / "multiqc_config.yml")
    (workdir / "annotations").mkdir()
    os.symlink(staged / "annotations" / "Markers", workdir / "annotations" / "Mark ers")


def _run(command, workdir, extra_env=None):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}"}
    env.pop("TENX_CLOUD_TOKEN", None)
    env.update(extra_env or {})
    return subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=300)


def _context(name, cloud, tmp_path):
    """ext.args a module gets from our config (evaluated by Groovy, with a folder whose name holds a
    space and a quote), and the environment Nextflow's secrets give it."""
    params = {"cloud_url": cloud.url, "cloud_job_dir": str(tmp_path / "cloud jobs 'ü'"), "cloud_poll_interval": 0}
    ext = {"args": ext_args(Module.load(name).process, params)}
    return ext, ({"TENX_CLOUD_TOKEN": TOKEN} if name == "annotate_cloud" else {})


@pytest.mark.parametrize("stub", [False, True], ids=["script", "stub"])
@pytest.mark.parametrize("name", MODULES)
def test_module_script_produces_declared_outputs(name, stub, staged, cloud, tmp_path):
    module = Module.load(name)
    ext, env = _context(name, cloud, tmp_path)
    command, outputs = module.render(INPUTS[name](staged), stub=stub, ext=ext)
    _stage(staged, tmp_path)
    result = _run(command, tmp_path, env)
    assert result.returncode == 0, f"{command}\n{result.stderr}"
    import yaml  # in the main environment only (the reference and interop ones collect this file too)

    described = yaml.safe_dump(yaml.safe_load((REPO / "modules" / "local" / name / "meta.yml").read_text())["output"])
    for pattern, declared in zip(outputs, module.outputs):
        found = glob.glob(str(tmp_path / pattern))
        assert found or declared.optional, f"{name}: declared output {pattern} missing"
        if not stub and not declared.optional:
            assert found, pattern
        written = [p.name for f in found if Path(f).is_dir() for p in Path(f).iterdir() if not p.name.startswith(".")]
        undocumented = [f for f in written if f not in described and f.replace("test", "${prefix}") not in described]
        undocumented = undocumented if not stub else []
        assert undocumented == [], f"{name}: meta.yml does not describe {undocumented}"


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


@pytest.mark.parametrize("name", ["validate_matrix", "annotate_distill", "annotate_markers", "annotate_azimuth",
                                  "assemble_outputs"])
def test_streaming_steps_use_the_cpus_nextflow_gives_them(name, staged):
    """Reading, deflating and BLAS threads follow task.cpus (the labels' cpus come from `make bench`)."""
    command, _ = Module.load(name).render(INPUTS[name](staged), cpus=3)
    assert "export CELLANNOTATE_THREADS=3 OMP_NUM_THREADS=3 OPENBLAS_NUM_THREADS=3\n" in command
    result = subprocess.run([sys.executable, "-c", "from cellannotate.parallel import THREADS; print(THREADS)"],
                            env={**os.environ, "CELLANNOTATE_THREADS": "3"}, capture_output=True, text=True)
    assert result.stdout.strip() == "3"


def test_ext_args_and_prefix_reach_the_command(staged, tmp_path):
    module = Module.load("validate_matrix")
    command, outputs = module.render(INPUTS["validate_matrix"](staged), ext={"prefix": "renamed"})
    assert "--out 'renamed.validation.json'" in command
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
