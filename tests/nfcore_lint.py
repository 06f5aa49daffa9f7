#!/usr/bin/env python3
"""``nf-core modules lint --local`` over modules/local, offline, with nf-core tools 4.2.1.

nf-core's module lint is static except for what this machine (and CI) cannot do: clone
nf-core/modules, read the pipeline config with ``nextflow config`` and resolve container
tags with ``nextflow inspect``. We install none of nf-core's modules, so an empty local
stand-in repository replaces the clone; the config is not needed by the module tests; the
container-tag tests report a warning. The ``meta_yml`` and ``environment_yml`` tests validate
against JSON schemas kept in nf-core/modules: with ``$NFCORE_MODULES_CHECKOUT`` (a clone or
mirror of it) they run too, with the schemas read from that checkout; without, they are
skipped and the script says so. Exits 1 if any lint test fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


SCHEMAS = ("modules/meta-schema.json", "modules/environment-schema.json")
SCHEMA_TESTS = ("meta_yml", "environment_yml")


def _empty_modules_repo(config_home: Path, checkout: str | None) -> None:
    """An nf-core/modules clone with no modules, whose origin is itself (fetch works offline)."""
    repo = config_home / "nfcore" / "nf-core" / "modules"
    (repo / "modules" / "nf-core").mkdir(parents=True)
    (repo / "modules" / "nf-core" / ".gitkeep").touch()
    for schema in SCHEMAS if checkout else ():
        text = subprocess.run(["git", "--git-dir", _git_dir(checkout), "show", f"HEAD:{schema}"],
                              check=True, capture_output=True, text=True).stdout
        (repo / schema).write_text(text)
    (repo / ".nf-core.yml").write_text("repository_type: modules\norg_path: nf-core\n")
    git = ["git", "-C", str(repo), "-c", "user.name=lint", "-c", "user.email=lint@localhost"]
    subprocess.run(["git", "init", "-q", "-b", "master", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "empty"], check=True)
    subprocess.run([*git, "remote", "add", "origin", str(repo)], check=True)
    subprocess.run([*git, "fetch", "-q", "origin"], check=True)
    subprocess.run([*git, "branch", "-q", "--set-upstream-to=origin/master", "master"], check=True)


def _git_dir(checkout: str) -> str:
    path = Path(checkout)
    return str(path / ".git") if (path / ".git").exists() else str(path)


def main() -> int:
    checkout = os.environ.get("NFCORE_MODULES_CHECKOUT")
    config_home = Path(tempfile.mkdtemp(prefix="nfcore-"))
    os.environ["XDG_CONFIG_HOME"] = str(config_home)
    os.environ["HIDE_PROGRESS"] = "1"
    _empty_modules_repo(config_home, checkout)

    import nf_core.components.nfcore_component as component
    import nf_core.utils as utils
    from nf_core.modules.lint import ModuleLint

    utils.fetch_wf_config = lambda *args, **kwargs: {}
    component.check_nextflow_version = lambda *args, **kwargs: False

    lint = ModuleLint(REPO, no_pull=True, hide_progress=True)
    keys = () if checkout else tuple(t for t in lint.lint_tests if t not in SCHEMA_TESTS)
    if not checkout:
        print(f"skipped {', '.join(SCHEMA_TESTS)}: their schemas live in nf-core/modules (set NFCORE_MODULES_CHECKOUT)")
    lint.lint(all_modules=True, local=True, print_results=False, key=keys)
    for result in lint.warned:
        print(f"warning  {result.component_name:<18} {result.lint_test:<32} {result.message}")
    for result in lint.failed:
        print(f"FAILED   {result.component_name:<18} {result.lint_test:<32} {result.message}")
    print(f"nf-core modules lint: {len(lint.passed)} passed, {len(lint.warned)} warnings, {len(lint.failed)} failed")
    return 1 if lint.failed else 0


if __name__ == "__main__":
    sys.exit(main())
