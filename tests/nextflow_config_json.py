"""What ``nextflow config -o json`` prints for this pipeline, without Nextflow.

nf-core's pipeline lint reads the pipeline's configuration by running Nextflow, which this
machine cannot. This reader evaluates the part of the config language our files use, the way
Nextflow does without ``-profile``: nested blocks, dotted assignments, ``includeConfig``,
``plugins { id ... }``, ``withName:``/``withLabel:`` selectors, literals, lists and maps, and
``params.*``/``projectDir`` inside strings. The nf-core/configs include, chosen by an
expression that reads a remote file, is skipped as Nextflow skips it offline. Closures and other expressions are kept as their
source text, as Nextflow prints them. ``profiles`` are skipped (they apply only when chosen).
Anything it does not understand is an error naming the line, never a silent guess.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

OPEN, CLOSE = "([{", ")]}"
BLOCK = re.compile(r"^(?P<name>[A-Za-z_][\w.]*|with(?:Name|Label)\s*:\s*(?:'[^']*'|\"[^\"]*\"|[\w|]+))\s*\{$")
ASSIGN = re.compile(r"^(?P<key>[A-Za-z_][\w.]*)\s*=(?!=)\s*(?P<value>.+)$", re.S)


def _strip_comments(text: str) -> str:
    """Remove // and /* */ comments outside strings."""
    out, i, quote = [], 0, None
    while i < len(text):
        c = text[i]
        if quote:
            out.append(c)
            if c == "\\":
                out.append(text[i + 1])
                i += 1
            elif c == quote:
                quote = None
        elif c in "'\"":
            quote = c
            out.append(c)
        elif text.startswith("//", i):
            i = text.find("\n", i) - 1 if "\n" in text[i:] else len(text)
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 1
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _statements(text: str):
    """Split into statements: a line ends one unless a bracket or string is still open.

    A line ending in '{' after a name opens a block and is its own statement; '}' alone closes it.
    """
    depth, quote, start = 0, None, 0
    for i, c in enumerate(text + "\n"):
        if quote:
            quote = None if c == quote and text[i - 1] != "\\" else quote
        elif c in "'\"":
            quote = c
        elif c in OPEN:
            depth += 1
            if c == "{" and depth == 1 and BLOCK.match(text[start:i + 1].strip()):
                yield text[start:i + 1].strip()
                depth, start = 0, i + 1
        elif c in CLOSE:
            depth -= 1
            if depth < 0:
                if text[start:i].strip():
                    yield text[start:i].strip()
                yield "}"
                depth, start = 0, i + 1
        elif c == "\n" and depth == 0:
            if text[start:i].strip():
                yield text[start:i].strip()
            start = i + 1


def _split_top(text: str, sep: str) -> list[str]:
    parts, depth, quote, start = [], 0, None, 0
    for i, c in enumerate(text):
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c in OPEN:
            depth += 1
        elif c in CLOSE:
            depth -= 1
        elif c == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


class ConfigReader:
    def __init__(self, project: Path):
        self.project = project
        self.config: dict = {}

    def _lookup(self, name: str):
        if name == "projectDir":
            return str(self.project)
        node = self.config
        for part in name.split("."):
            if not isinstance(node, dict) or part not in node:
                raise KeyError(name)
            node = node[part]
        return node

    def _interpolate(self, body: str) -> str:
        def one(match):
            try:
                value = self._lookup(match.group(1) or match.group(2))
            except KeyError:
                return match.group(0)
            return "null" if value is None else str(value)
        return re.sub(r"\$\{\s*([\w.]+)\s*\}|\$([A-Za-z_][\w.]*)", one, body)

    def value(self, text: str):
        text = text.strip()
        if text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text]
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        if re.fullmatch(r"-?\d+\.\d+", text):
            return float(text)
        if re.fullmatch(r"'[^']*'", text):
            return text[1:-1]
        if re.fullmatch(r'"[^"]*"', text):
            return self._interpolate(text[1:-1])
        if re.fullmatch(r"(params|projectDir)[\w.]*", text):
            return self._lookup(text)
        if text.startswith("[") and text.endswith("]"):
            items = _split_top(text[1:-1], ",")
            pairs = [re.match(r"^([A-Za-z_]\w*)\s*:\s*(.+)$", item, re.S) for item in items]
            if items and all(pairs):
                return {m.group(1): self.value(m.group(2)) for m in pairs}
            return [self.value(item) for item in items]
        return text

    def _set(self, scope: list[str], key: str, value) -> None:
        node = self.config
        *parents, last = [*scope, *key.split(".")]
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value

    def read(self, path: Path, scope: list[str] | None = None) -> dict:
        scope = list(scope or [])
        stack: list[int] = []
        statements = _statements(_strip_comments(path.read_text()))
        for statement in statements:
            if statement == "}":
                del scope[stack.pop():]
            elif block := BLOCK.match(statement):
                name = re.sub(r"\s*:\s*", ":", block.group("name")).replace("'", "").replace('"', "")
                stack.append(len(scope))
                if name == "profiles":
                    self._skip_block(statements)
                    del scope[stack.pop():]
                else:
                    scope.extend(name.split(".") if not name.startswith("with") else [name])
            elif include := re.fullmatch(r"includeConfig\s+'([^']+)'", statement):
                self.read(path.parent / include.group(1), scope)
            elif re.fullmatch(r"includeConfig\s.+\?.+:\s*\"/dev/null\"", statement):
                pass  # nf-core/configs' remote profiles: as under NXF_OFFLINE=1, none are read
            elif scope == ["plugins"] and (plugin := re.fullmatch(r"id\s+'([^']+)'", statement)):
                self.config.setdefault("plugins", [])
                self.config["plugins"].append(plugin.group(1))
            elif assign := ASSIGN.match(statement):
                self._set(scope, assign.group("key"), self.value(assign.group("value")))
            else:
                raise ValueError(f"{path}: cannot read {statement!r}")
        return self.config

    @staticmethod
    def _skip_block(statements) -> None:
        depth = 1
        for statement in statements:
            depth += 1 if BLOCK.match(statement) else -1 if statement == "}" else 0
            if depth == 0:
                return


def nextflow_config_json(project: Path) -> dict:
    """The config of a folder; one without nextflow.config (nf-core's modules clone) has none."""
    if not (project / "nextflow.config").is_file():
        return {}
    return ConfigReader(project.resolve()).read(project / "nextflow.config")


if __name__ == "__main__":
    print(json.dumps(nextflow_config_json(Path(sys.argv[1] if len(sys.argv) > 1 else ".")), indent=2))
