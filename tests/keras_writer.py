"""Write small Keras 3 ``.keras`` archives with h5py and json, for tests.

The layout is what Keras 3 saves: ``config.json`` (a Functional model), ``metadata.json``
and ``model.weights.h5`` with each layer's variables under ``layers/<snake_case class>[_k]/vars``.
Keras itself loads these files in the reference tests, which checks the layout.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import h5py

from cellannotate.annotators.azimuth.keras_archive import snake_case


def layer(kind: str, name: str, config: dict, sources: list | None = None) -> dict:
    """One layer spec; ``sources`` are ``(layer name, width)`` of its inputs (none for an input)."""
    spec = {"module": "keras.layers", "class_name": kind, "registered_name": None, "name": name,
            "config": {"name": name, "trainable": True, "dtype": "float32", **config}}
    tensors = [{"class_name": "__keras_tensor__",
                "config": {"shape": [None, width], "dtype": "float32", "keras_history": [source, 0, 0]}}
               for source, width in sources or []]
    if not tensors:
        spec["inbound_nodes"] = []
    else:
        spec["inbound_nodes"] = [{"args": [tensors[0]] if len(tensors) == 1 else [tensors], "kwargs": {}}]
        shapes = [[None, width] for _, width in sources]
        spec["build_config"] = {"input_shape": shapes[0] if len(shapes) == 1 else shapes}
    return spec


def write_keras(path: Path, layers: list, weights: dict, inputs: list, outputs: list) -> Path:
    """Write the archive; ``weights`` maps layer names to their arrays in Keras's order."""
    config = {"module": "keras.src.models.functional", "class_name": "Functional", "registered_name": "Functional",
              "config": {"name": "model", "trainable": True, "layers": layers,
                         "input_layers": [[n, 0, 0] for n in inputs], "output_layers": [[n, 0, 0] for n in outputs]},
              "build_config": {"input_shape": None}}
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        h5.create_group("vars")
        used: dict[str, int] = {}
        for spec in layers:
            group = snake_case(spec["class_name"])
            used[group] = used.get(group, -1) + 1
            group = group if used[group] == 0 else f"{group}_{used[group]}"
            vars_group = h5.create_group(f"layers/{group}/vars")
            vars_group.attrs["name"] = spec["name"]
            for i, array in enumerate(weights.get(spec["name"], [])):
                vars_group.create_dataset(str(i), data=array)
    members = {"metadata.json": json.dumps({"keras_version": "3.4.1", "date_saved": "2026-11-24@00:00:00"}),
               "config.json": json.dumps(config), "model.weights.h5": buffer.getvalue()}
    # Stored, not compressed, as Keras 3 writes .keras archives (zipfile's default).
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():   # fixed dates: the same content gives the same bytes
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data)
    return Path(path)
