"""The TensorFlow-free Keras reader: every layer type it implements, against the formula
here and (in the reference environment) against Keras itself on the same archive."""

from __future__ import annotations

import io
import zipfile

import h5py
import numpy as np
import pytest

from cellannotate.errors import ModelError
from cellannotate.annotators.azimuth.keras_archive import ACTIVATIONS, KerasModel
from keras_writer import layer, write_keras

# Float results: `make test-blas` runs these again under another BLAS kernel.
pytestmark = pytest.mark.numeric

RNG = np.random.default_rng(7)
W = {
    "dense": [RNG.normal(size=(6, 5)).astype(np.float32), RNG.normal(size=5).astype(np.float32)],
    "dense_1": [RNG.normal(size=(6, 5)).astype(np.float32)],
    "batch_normalization": [RNG.random(5, dtype=np.float32) + 0.5, RNG.normal(size=5).astype(np.float32),
                            RNG.normal(size=5).astype(np.float32), RNG.random(5, dtype=np.float32) + 0.1],
    "layer_normalization": [RNG.random(10, dtype=np.float32) + 0.5, RNG.normal(size=10).astype(np.float32)],
    "out": [RNG.normal(size=(10, 3)).astype(np.float32), RNG.normal(size=3).astype(np.float32)],
}


def graph_model(path, activation="gelu"):
    """Two branches (Dense+BatchNorm, Dense without bias+Activation), added and concatenated."""
    layers = [
        layer("InputLayer", "x", {"batch_shape": [None, 6], "sparse": False}),
        layer("Dense", "dense", {"units": 5, "activation": "relu"}, [("x", 6)]),
        layer("BatchNormalization", "batch_normalization", {"epsilon": 0.001}, [("dense", 5)]),
        layer("Dense", "dense_1", {"units": 5, "activation": "linear", "use_bias": False}, [("x", 6)]),
        layer("Activation", "activation", {"activation": activation}, [("dense_1", 5)]),
        layer("Add", "add", {}, [("batch_normalization", 5), ("activation", 5)]),
        layer("Concatenate", "concatenate", {"axis": -1}, [("add", 5), ("activation", 5)]),
        layer("LayerNormalization", "layer_normalization", {"epsilon": 0.001, "axis": -1}, [("concatenate", 10)]),
        layer("Dropout", "dropout", {"rate": 0.5}, [("layer_normalization", 10)]),
        layer("Dense", "out", {"units": 3, "activation": "softmax"}, [("dropout", 10)]),
    ]
    return write_keras(path, layers, W, ["x"], ["out", "activation"])


def expected(x, activation="gelu"):
    k, b = W["dense"]
    gamma, beta, mean, var = W["batch_normalization"]
    left = (np.maximum(x @ k + b, 0) - mean) / np.sqrt(var + 1e-3) * gamma + beta
    right = ACTIVATIONS[activation](x @ W["dense_1"][0])
    joined = np.concatenate([left + right, right], axis=1)
    g, bt = W["layer_normalization"]
    normed = (joined - joined.mean(1, keepdims=True)) / np.sqrt(joined.var(1, keepdims=True) + 1e-3) * g + bt
    logits = normed @ W["out"][0] + W["out"][1]
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True), right


def _replace_member(path, member, data):
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    members[member] = data
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)


@pytest.mark.parametrize("activation", ["gelu", "tanh", "sigmoid", "elu", "selu", "swish"])
def test_every_layer_computes_its_formula(tmp_path, activation):
    x = RNG.normal(size=(8, 6)).astype(np.float32)
    out, branch = KerasModel.load(graph_model(tmp_path / "m.keras", activation)).predict(x)
    want_out, want_branch = expected(x, activation)
    np.testing.assert_allclose(branch, want_branch, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out, want_out, rtol=1e-5, atol=1e-6)


def test_unknown_activation_is_named(tmp_path):
    path = graph_model(tmp_path / "m.keras", activation="mish")
    with pytest.raises(ModelError, match="activation 'mish'"):
        KerasModel.load(path).predict(np.zeros((1, 6), np.float32))


def test_weights_of_another_layer_are_refused(tmp_path):
    layers = [layer("InputLayer", "x", {"batch_shape": [None, 6], "sparse": False}),
              layer("Dense", "first", {"units": 5}, [("x", 6)])]
    path = write_keras(tmp_path / "m.keras", layers, {"first": W["dense"]}, ["x"], ["first"])
    with zipfile.ZipFile(path) as archive:
        buffer = io.BytesIO(archive.read("model.weights.h5"))
    with h5py.File(buffer, "a") as h5:
        h5["layers/dense/vars"].attrs["name"] = "second"
    _replace_member(path, "model.weights.h5", buffer.getvalue())   # the weights now claim another layer
    with pytest.raises(ModelError, match="belongs to second, not first"):
        KerasModel.load(path)


@pytest.mark.reference
@pytest.mark.parametrize("activation", ["gelu", "tanh", "sigmoid", "elu", "selu", "swish"])
def test_keras_itself_agrees(tmp_path, activation):
    keras = pytest.importorskip("keras")
    path = graph_model(tmp_path / "m.keras", activation)
    x = RNG.normal(size=(8, 6)).astype(np.float32)
    theirs = keras.saving.load_model(path).predict(x, verbose=0)
    ours = KerasModel.load(path).predict(x)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_models_other_than_functional_are_refused(tmp_path):
    path = graph_model(tmp_path / "m.keras")
    _replace_member(path, "config.json", b'{"class_name": "MySubclassedModel", "config": {"layers": [{}]}}')
    with pytest.raises(ModelError, match="only Functional Keras models .* not MySubclassedModel"):
        KerasModel.load(path)
