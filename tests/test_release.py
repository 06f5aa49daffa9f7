"""The GitHub workflows are valid, and the images the modules name are the ones a release pushes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_files_are_valid_against_githubs_schema(workflow):
    """check-jsonschema carries GitHub's workflow schema, so this runs offline."""
    checker = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run([str(checker), "--builtin-schema", "vendor.github-workflows", str(workflow)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_module_image_is_pushed_by_the_release_to_the_registry_nextflow_pulls_from():
    version = re.search(r'^version = "(.+)"', (REPO / "pyproject.toml").read_text(), re.M).group(1)
    registry = re.search(r"container_registry\s*=\s*'([^']+)'", (REPO / "nextflow.config").read_text()).group(1)
    release = (REPO / ".github" / "workflows" / "release.yml").read_text()
    assert f"containers/build.sh --engine docker --push {registry}" in release
    build = (REPO / "containers" / "build.sh").read_text()
    # build.sh --push REGISTRY tags and pushes REGISTRY/<each image it builds>.
    pushed = {f"{registry}/{tag.replace('${version}', version)}" for tag in re.findall(r'-t "([^"]+)"', build)}
    assert '"${push}/cellannotate/${image}:${version}"' in build
    for module in sorted((REPO / "modules" / "local").iterdir()):
        image = re.search(r'container "([^"]+)"', (module / "main.nf").read_text()).group(1)
        if "." in image.split("/")[0]:
            continue  # another project's image, named with its own registry (MultiQC's)
        assert f"{registry}/{image}" in pushed, module.name


def test_every_module_environment_provides_the_package_dependencies():
    """The conda profile runs the package from the pipeline folder: each module's environment.yml
    must hold every runtime dependency pyproject.toml declares (conda-forge or pip)."""
    import re
    import tomllib

    import yaml

    declared = {re.split(r"[<>=!~ \[]", d, maxsplit=1)[0].lower()
                for d in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]}
    for env in sorted((REPO / "modules" / "local").glob("*/environment.yml")):
        if env.parent.name == "multiqc":
            continue
        provided = set()
        for entry in yaml.safe_load(env.read_text())["dependencies"]:
            items = entry["pip"] if isinstance(entry, dict) else [entry.split("::")[-1]]
            provided |= {re.split(r"[<>=!~ ]", item, maxsplit=1)[0].lower() for item in items}
        assert declared <= provided, f"{env.parent.name}: {sorted(declared - provided)}"
