#!/usr/bin/env python3
"""nf-core's module lint and pipeline lint, offline, with nf-core tools 4.2.1.

``modules``: ``nf-core modules lint --local`` over modules/local. ``pipeline``:
``nf-core pipelines lint`` over the repository.

Both are static except for what this machine cannot do, and each stand-in says so:
- the clone of nf-core/modules: we install none of its modules, so an empty local
  repository replaces it;
- ``nextflow config``: ``nextflow_config_json.py`` evaluates our config files the way
  Nextflow does without a profile;
- ``nextflow inspect`` (container tags): the module tests report a warning;
- GitHub's workflow schema (fetched from schemastore.org by ``actions_schema_validation``):
  the copy that check-jsonschema vendors is served instead;
- the ``meta_yml`` and ``environment_yml`` module tests validate against schemas kept in
  nf-core/modules: with ``$NFCORE_MODULES_CHECKOUT`` (a clone or mirror) they run, else
  they are skipped and the script says so.
Exits 1 if any lint test fails.
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


class _VendoredSchema:
    """What ``requests.get`` returns for GitHub's workflow schema: check-jsonschema's copy."""

    status_code = 200

    def __init__(self, url: str, **kwargs):
        if "schemastore.org/github-workflow" not in url:
            raise OSError(f"no network here: {url}")

    def json(self):
        from check_jsonschema.builtin_schemas import get_builtin_schema
        return get_builtin_schema("vendor.github-workflows")


def _offline(checkout: str | None) -> None:
    """Point nf-core at the stand-ins above, before it is imported anywhere else."""
    config_home = Path(tempfile.mkdtemp(prefix="nfcore-"))
    os.environ["XDG_CONFIG_HOME"] = str(config_home)
    os.environ["HIDE_PROGRESS"] = "1"
    _empty_modules_repo(config_home, checkout)

    import nf_core.components.nfcore_component as component
    import nf_core.pipelines.lint
    import nf_core.utils as utils

    sys.path.insert(0, str(REPO / "tests"))
    from nextflow_config_json import nextflow_config_json

    utils.fetch_wf_config = lambda wf_path, cache_config=True: nextflow_config_json(Path(wf_path))
    component.check_nextflow_version = lambda *args, **kwargs: False
    # The package's attribute of that name is the test function; the module is in sys.modules.
    actions = sys.modules["nf_core.pipelines.lint.actions_schema_validation"]
    actions.requests = type("requests", (), {"get": _VendoredSchema})


def lint_pipeline() -> int:
    from nf_core.pipelines.lint import run_linting

    lint, modules, _ = run_linting(REPO, plain_text=True, hide_progress=True)
    for kind in ("warned", "ignored", "failed"):
        for test, message in getattr(lint, kind):
            print(f"{kind:<8} {test:<28} {' '.join(str(message).split())}")
    counts = {kind: len(getattr(lint, kind)) + len(getattr(modules, kind, []) if modules else 0)
              for kind in ("passed", "warned", "ignored", "failed")}
    print("nf-core pipelines lint: " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
    return 1 if counts["failed"] else 0


def lint_modules(checkout: str | None) -> int:
    from nf_core.modules.lint import ModuleLint

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


def main(what: str) -> int:
    checkout = os.environ.get("NFCORE_MODULES_CHECKOUT")
    _offline(checkout)
    return lint_pipeline() if what == "pipeline" else lint_modules(checkout)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "modules"))
