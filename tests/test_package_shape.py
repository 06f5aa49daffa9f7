"""The package's shape: every public definition says why it exists, and the command line answers
before the numerical stack is loaded (``--help`` must not wait for scipy, pandas or anndata)."""

import importlib
import inspect
import pkgutil
import subprocess
import sys

import cellannotate

HEAVY = ("numpy", "scipy", "pandas", "anndata", "h5py", "requests", "umap")


def _modules():
    for info in pkgutil.walk_packages(cellannotate.__path__, "cellannotate."):
        if not info.name.endswith("__main__"):
            yield importlib.import_module(info.name)


def test_every_public_definition_has_a_docstring():
    missing = []
    for module in _modules():
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if not inspect.getdoc(obj):
                missing.append(f"{module.__name__}.{name}")
            if inspect.isclass(obj):
                missing += [f"{module.__name__}.{name}.{m}" for m, f in vars(obj).items()
                            if not m.startswith("_") and inspect.isfunction(f) and not inspect.getdoc(getattr(obj, m))]
    assert missing == []


def test_the_commands_parse_their_options_without_the_numerical_stack():
    code = ("import sys, cellannotate.cli, cellannotate.cli_steps, cellannotate.annotators.plan; "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"
