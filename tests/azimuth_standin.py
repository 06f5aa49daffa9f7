"""A small stand-in for the Pan-Human Azimuth v1 weights, written as a real ``.keras`` file.

The real weights cannot be downloaded here, so tests and the benchmark build a model with
the exact v1 signature: 5,055 inputs (the panel), hidden layers ending in the ``dense_3``
embedding, and eight softmax heads of the encoders' sizes. The heads follow the label
tree: every head scores a class by the mean score of the finest classes under it, so
predictions are mostly consistent across levels, as a trained model's are, with some
disagreements left in to exercise refinement. The archive is written with h5py and
json in the layout Keras 3 saves (TensorFlow loads it in the reference test).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import h5py
import numpy as np

from cellannotate.azimuth_assets import HEAD_SIZES, PANEL_SIZE, load_assets
from cellannotate.example_data import CELL_TYPE_MARKERS

HIDDEN = (64, 64, 48)
EMBEDDING = 32
CELL_TYPE_GENES = tuple(g for genes in CELL_TYPE_MARKERS.values() for g in genes)


def _tensor(layer: str, width: int) -> dict:
    return {"class_name": "__keras_tensor__",
            "config": {"shape": [None, width], "dtype": "float32", "keras_history": [layer, 0, 0]}}


def _layer(kind: str, name: str, config: dict, source: tuple | None) -> dict:
    spec = {"module": "keras.layers", "class_name": kind, "registered_name": None, "name": name,
            "config": {"name": name, "trainable": True, "dtype": "float32", **config}}
    spec["inbound_nodes"] = [] if source is None else [{"args": [_tensor(*source)], "kwargs": {}}]
    if source is not None:
        spec["build_config"] = {"input_shape": [None, source[1]]}
    return spec


def _label_tree_heads(rng, width: int) -> list:
    """Head kernels ``(width, k_level)`` that follow the label tree.

    A few finest classes under each top-level class get a direction in embedding space;
    a class at any level scores the sum of the directions under it, so a cell close to
    one direction gets that class's ancestors at every level. Noise adds disagreements.
    """
    classes = load_assets().classes
    leaves = classes[-1]
    by_top: dict[str, list] = {}
    for leaf, name in enumerate(leaves):
        by_top.setdefault(name.split("|")[0], []).append(leaf)
    active = [leaf for members in by_top.values()
              for leaf in rng.choice(members, size=min(3, len(members)), replace=False)]
    leaf_kernel = np.zeros((width, len(leaves)), dtype=np.float32)
    directions = rng.normal(0.0, 1.0, size=(width, len(active)))
    # Zero-sum directions ignore what every cell's embedding shares.
    leaf_kernel[:, active] = 1.0 * (directions - directions.mean(axis=0))
    kernels = []
    for level, names in enumerate(classes):
        index = {name: i for i, name in enumerate(names)}
        member = np.zeros((len(leaves), len(names)), dtype=np.float32)
        for leaf, name in enumerate(leaves):
            member[leaf, index["|".join(name.split("|")[: level + 1])]] = 1.0
        noise = rng.normal(0.0, 0.05, size=(width, len(names))).astype(np.float32)
        kernels.append(leaf_kernel @ member + noise)
    return kernels


def write_standin_model(path: Path, seed: int = 0, panel_size: int = PANEL_SIZE, extra_layer: str | None = None,
                        signal_genes=CELL_TYPE_GENES) -> Path:
    """Write the stand-in to ``path``; ``panel_size``/``extra_layer`` make broken variants for tests.

    The first layer listens mostly to ``signal_genes`` (by default the example data's
    cell-type markers), so that cells of different types land in different places.
    """
    rng = np.random.default_rng(seed)
    panel = load_assets().panel
    signal = np.isin(np.array(panel[:panel_size] + [""] * (panel_size - len(panel))), list(signal_genes))
    layers, weights = [_layer("InputLayer", "input_layer", {"batch_shape": [None, panel_size], "sparse": False}, None)], {}
    groups = {"input_layer": []}
    previous, width = ("input_layer", panel_size), panel_size
    sizes = (*HIDDEN, EMBEDDING)
    for i, units in enumerate(sizes):
        name = f"dense_{i}" if i else "dense"
        kernel = rng.normal(0.0, np.sqrt(1.0 / width), size=(width, units)).astype(np.float32)
        if i == 0:
            kernel[signal] *= 8.0
        bias = rng.normal(0.0, 0.05, size=units).astype(np.float32)
        # ReLU first, then linear layers: a random deep ReLU stack would squash the cells together.
        activation = "relu" if i == 0 else "linear"
        layers.append(_layer("Dense", name, {"units": units, "activation": activation, "use_bias": True}, previous))
        groups[name] = [kernel, bias]
        previous, width = (name, units), units
        if i == 1:
            layers.append(_layer(extra_layer or "Dropout", "dropout", {"rate": 0.2}, previous))
            groups["dropout"] = []
            previous = ("dropout", units)
    heads = []
    for level, kernel in enumerate(_label_tree_heads(rng, EMBEDDING)):
        name = f"dense_{len(sizes) + level}"
        layers.append(_layer("Dense", name, {"units": HEAD_SIZES[level], "activation": "softmax", "use_bias": True}, previous))
        groups[name] = [kernel, np.zeros(HEAD_SIZES[level], dtype=np.float32)]
        heads.append([name, 0, 0])
    config = {"module": "keras.src.models.functional", "class_name": "Functional", "registered_name": "Functional",
              "config": {"name": "standin_v1", "trainable": True, "layers": layers,
                         "input_layers": [["input_layer", 0, 0]], "output_layers": heads},
              "build_config": {"input_shape": None}}
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        h5.create_group("vars")
        counters: dict[str, int] = {}
        for spec in layers:
            group = _keras_group(spec["class_name"], counters)
            vars_group = h5.create_group(f"layers/{group}/vars")
            vars_group.attrs["name"] = spec["name"]
            for i, array in enumerate(groups[spec["name"]]):
                vars_group.create_dataset(str(i), data=array)
    members = {"metadata.json": json.dumps({"keras_version": "3.4.1", "date_saved": "2026-11-24@00:00:00"}),
               "config.json": json.dumps(config), "model.weights.h5": buffer.getvalue()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():   # fixed dates: the same seed gives the same bytes
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)
    return Path(path)


def _keras_group(kind: str, counters: dict) -> str:
    base = {"InputLayer": "input_layer", "Dense": "dense", "Dropout": "dropout"}.get(kind, kind.lower())
    counters[base] = counters.get(base, -1) + 1
    return base if counters[base] == 0 else f"{base}_{counters[base]}"


if __name__ == "__main__":
    # The copy in assets/test_data (for the Nextflow test profile and nf-test) is made with:
    #   python tests/azimuth_standin.py assets/test_data/azimuth_standin_v1.keras
    import sys

    print(write_standin_model(Path(sys.argv[1])))
