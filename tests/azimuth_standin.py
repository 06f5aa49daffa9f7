"""A small stand-in for the Pan-Human Azimuth v1 weights, written as a real ``.keras`` file.

The real weights cannot be downloaded here, so tests and the benchmark build a model with
the exact v1 signature: 5,055 inputs (the panel), hidden layers ending in the ``dense_3``
embedding, and eight softmax heads of the encoders' sizes. The heads follow the label
tree: a class at any level scores the sum of the directions of the finest classes under it,
so predictions are mostly consistent across levels, as a trained model's are, with some
disagreements left in to exercise refinement. The archive is written by keras_writer in
the layout Keras 3 saves (TensorFlow loads it in the reference test).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cellannotate.annotators.azimuth.assets import HEAD_SIZES, PANEL_SIZE, load_assets
from cellannotate.example_data import CELL_TYPE_MARKERS
from keras_writer import layer, write_keras

HIDDEN = (64, 64, 48)
EMBEDDING = 32
CELL_TYPE_GENES = tuple(g for genes in CELL_TYPE_MARKERS.values() for g in genes)


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
                        signal_genes=CELL_TYPE_GENES, hidden: tuple = HIDDEN, embedding: int = EMBEDDING) -> Path:
    """Write the stand-in to ``path``; ``panel_size``/``extra_layer`` make broken variants for tests,
    ``hidden``/``embedding`` realistic sizes (the real v1 has four dense layers before the heads).

    The first layer listens mostly to ``signal_genes`` (by default the example data's
    cell-type markers), so that cells of different types land in different places.
    """
    rng = np.random.default_rng(seed)
    panel = load_assets().panel
    signal = np.isin(np.array(panel[:panel_size] + [""] * (panel_size - len(panel))), list(signal_genes))
    layers = [layer("InputLayer", "input_layer", {"batch_shape": [None, panel_size], "sparse": False})]
    weights = {}
    previous, width = ("input_layer", panel_size), panel_size
    sizes = (*hidden, embedding)
    for i, units in enumerate(sizes):
        name = f"dense_{i}" if i else "dense"
        kernel = rng.normal(0.0, np.sqrt(1.0 / width), size=(width, units)).astype(np.float32)
        if i == 0:
            kernel[signal] *= 8.0
        bias = rng.normal(0.0, 0.05, size=units).astype(np.float32)
        # ReLU first, then linear layers: a random deep ReLU stack would squash the cells together.
        activation = "relu" if i == 0 else "linear"
        layers.append(layer("Dense", name, {"units": units, "activation": activation, "use_bias": True}, [previous]))
        weights[name] = [kernel, bias]
        previous, width = (name, units), units
        if i == 1:
            layers.append(layer(extra_layer or "Dropout", "dropout", {"rate": 0.2}, [previous]))
            previous = ("dropout", units)
    heads = []
    for level, kernel in enumerate(_label_tree_heads(rng, embedding)):
        name = f"dense_{len(sizes) + level}"
        layers.append(layer("Dense", name, {"units": HEAD_SIZES[level], "activation": "softmax", "use_bias": True},
                            [previous]))
        weights[name] = [kernel, np.zeros(HEAD_SIZES[level], dtype=np.float32)]
        heads.append(name)
    return write_keras(path, layers, weights, ["input_layer"], heads)


if __name__ == "__main__":
    # The copy in assets/test_data (for the Nextflow test profile and nf-test) is made with:
    #   python tests/azimuth_standin.py assets/test_data/azimuth_standin_v1.keras
    import sys

    print(write_standin_model(Path(sys.argv[1])))
