"""A new model is one folder, one registry word, its bin/ step and its module folder.

docs/architecture.md walks through adding one; this test does exactly what it says, in a copy
of the repository (every titled block written, every ``walkthrough`` shell block run), counts
the files that changed, then checks the model end to end there: the declaration checks of
test_nextflow_sync.py, the module's script run on staged inputs, the Nextflow language server
over the copy, and a local ``cellannotate annotate`` run with the model's own option.
"""

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import REPO

BLOCK = re.compile(r"^(?P<indent> *)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```$", re.M | re.S)
BY_HAND = {"src/cellannotate/annotators/depth/__init__.py", "src/cellannotate/annotators/__init__.py",
           "bin/annotate_depth.py", "modules/local/annotate_depth/main.nf", "modules/local/annotate_depth/meta.yml",
           "modules/local/annotate_depth/environment.yml", "modules/local/annotate_depth/tests/main.nf.test"}
GENERATED = {"conf/models.config", "subworkflows/local/annotate_models/main.nf", "nextflow_schema.json"}


def _walkthrough() -> list[tuple[dict, str]]:
    """The blocks of the walkthrough: (info attributes, dedented body), in order."""
    text = (REPO / "docs" / "architecture.md").read_text()
    section = text.split("## Adding a model: a worked example", 1)[1]
    blocks = []
    for match in BLOCK.finditer(section):
        info = dict(re.findall(r'(\w+)="([^"]*)"', match.group("info")))
        if "walkthrough" in match.group("info").split():
            info["run"] = "yes"
        if info:
            blocks.append((info, textwrap.dedent(match.group("body"))))
    return blocks


def _git(copy: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=copy, check=True,
                          capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def copy(tmp_path_factory):
    """The repository as it stands (tracked and new files), committed in a fresh git repository."""
    root = tmp_path_factory.mktemp("newmodel") / "repo"
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO, check=True,
                           capture_output=True, text=True).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "before")
    return root


def _jar() -> Path:
    """The language server jar, as an absolute path (``make test`` gives it relative to this checkout)."""
    return (REPO / os.environ.get("NF_LSP_JAR", ".cache/nf/language-server-all.jar")).resolve()


def _env(copy: Path) -> dict:
    bin_dir = os.path.dirname(sys.executable)
    return {**os.environ, "PYTHONPATH": str(copy / "src"), "CELLANNOTATE_UMAP": "0", "NF_LSP_JAR": str(_jar()),
            "PATH": f"{copy / 'bin'}{os.pathsep}{bin_dir}{os.pathsep}{os.environ['PATH']}"}


@pytest.fixture(scope="module")
def added(copy):
    """Follow the walkthrough; the files it changed, relative to the copy."""
    blocks = _walkthrough()
    assert blocks, "docs/architecture.md has no walkthrough"
    for info, body in blocks:
        if info.get("run"):
            subprocess.run(["bash", "-euo", "pipefail", "-c", body], cwd=copy, env=_env(copy), check=True)
            continue
        target = copy / info["title"]
        if "replace" in info:
            lines = target.read_text().splitlines(keepends=True)
            hits = [i for i, line in enumerate(lines) if line.startswith(info["replace"])]
            assert len(hits) == 1, f"{info['title']}: one line starting {info['replace']!r} expected"
            lines[hits[0]] = body
            target.write_text("".join(lines))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(body)
    (copy / "bin" / "annotate_depth.py").chmod(0o755)
    status = _git(copy, "status", "--porcelain", "-uall")
    return {line[3:] for line in status.splitlines()}


def test_the_walkthrough_touches_one_folder_one_registry_line_the_step_and_the_module(added, copy):
    assert added == BY_HAND | GENERATED, sorted(added ^ (BY_HAND | GENERATED))
    diff = _git(copy, "diff", "--numstat", "--", "src/cellannotate/annotators/__init__.py").split()
    assert diff[:2] == ["1", "1"], "the registry takes one changed line"
    print(f"\nfiles touched: {len(BY_HAND)} by hand ({len(BY_HAND) - 5} in the model's folder and the registry, "
          f"1 step script, 4 in its module folder), {len(GENERATED)} generated")


def test_the_declaration_checks_pass_for_the_new_model(added, copy):
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "tests/test_nextflow_sync.py", "tests/test_models.py",
                             "tests/test_nextflow_modules.py", "-k", "depth or sync or current or publish or choices "
                             "or names_no_model"], cwd=copy, env=_env(copy), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "annotate_depth" in result.stdout or " passed" in result.stdout
    assert re.search(r"[1-9]\d* passed", result.stdout)


def test_the_new_model_runs_locally_with_its_own_option(added, copy, example_h5, tmp_path):
    result = subprocess.run([sys.executable, "-m", "cellannotate", "annotate", "--id", "s", "--matrix", str(example_h5),
                             "--outdir", str(tmp_path / "run"), "--cell-annotation-model", "depth",
                             "--depth-min-counts", "50"], env=_env(copy), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    table = (tmp_path / "run" / "outs" / "cell_types" / "Depth" / "cell_types.csv").read_text()
    assert "Deep cell" in table
    assert '"min_counts": 50' in (tmp_path / "run" / "outs" / "summary.json").read_text()


def test_the_copy_passes_the_nextflow_language_server(added, copy):
    jar = _jar()
    checker = REPO.parent / "shared" / "tools" / "nf_lsp_check.py"
    if not jar.is_file() or not checker.is_file():
        pytest.skip(f"the language server ({jar}) or its checker ({checker}) is not here: run `make nf-tools`")
    result = subprocess.run([sys.executable, str(checker), str(jar), str(copy), "30"], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-3000:]
