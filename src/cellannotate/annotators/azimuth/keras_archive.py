"""Run a saved Keras 3 model (``.keras`` archive) with numpy, without TensorFlow.

A ``.keras`` file is a zip archive of ``config.json`` (the layer graph) and
``model.weights.h5`` (each layer's variables under ``layers/<snake_case class>[_k]/vars``,
numbered in the order of the model's layers). Panhumanpy's models are feed-forward
networks, so a handful of layer types covers them; TensorFlow (1.7 GB, numpy<2) is not
needed to apply them. Any other layer is refused by name, never guessed at.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import scipy.sparse as sp

from cellannotate.errors import ModelError
from cellannotate.parallel import THREADS, thread_map


def softmax(x):
    """Row-wise softmax, in place on a copy shifted by each row's maximum (no overflow)."""
    e = x - x.max(axis=-1, keepdims=True)
    np.exp(e, out=e)
    e /= e.sum(axis=-1, keepdims=True)
    return e


def _sparse_product(x: sp.csr_matrix, w: np.ndarray) -> np.ndarray:
    """``x @ w`` for a sparse ``x``, its rows split across threads (scipy's kernel is single-threaded);
    each row is summed exactly as in one call, so the result is the same."""
    bounds = np.linspace(0, x.shape[0], THREADS + 1).astype(int)
    return np.vstack(thread_map(lambda ab: np.asarray(x[ab[0]:ab[1]] @ w), zip(bounds[:-1], bounds[1:])))


def _gelu(x):
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0))).astype(x.dtype)


ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0, out=x),
    "sigmoid": lambda x: (1.0 / (1.0 + np.exp(-x))).astype(x.dtype),
    "tanh": np.tanh,
    "softmax": softmax,
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "selu": lambda x: (1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0)))).astype(x.dtype),
    "swish": lambda x: (x / (1.0 + np.exp(-x))).astype(x.dtype),
    "silu": lambda x: (x / (1.0 + np.exp(-x))).astype(x.dtype),
    "gelu": _gelu,
}
# Layers that only act while training.
IDENTITY_LAYERS = {"Dropout", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization"}


def snake_case(name: str) -> str:
    """Keras's name for a layer's weights group, from its class name."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _activation(spec, layer: str):
    name = spec if isinstance(spec, str) or spec is None else spec.get("config", {}).get("name")
    name = name or "linear"
    if name not in ACTIVATIONS:
        raise ModelError(f"layer {layer} uses the activation {name!r}, which this engine does not implement")
    return ACTIVATIONS[name]


@dataclass
class Layer:
    """One layer of a Keras 3 archive: its name, class, config and weights by variable path."""

    name: str
    kind: str
    config: dict
    weights: list
    inputs: list          # names of the layers feeding this one

    def __call__(self, *xs):
        kind, cfg, w = self.kind, self.config, self.weights
        if kind != "Dense":
            xs = tuple(x.toarray() if sp.issparse(x) else x for x in xs)
        if kind == "Dense":
            y = _sparse_product(xs[0], w[0]) if sp.issparse(xs[0]) else xs[0] @ w[0]
            if cfg.get("use_bias", True):
                y += w[1]
            return _activation(cfg.get("activation"), self.name)(y)
        if kind == "Activation":
            return _activation(cfg.get("activation"), self.name)(xs[0].copy())
        if kind in IDENTITY_LAYERS:
            return xs[0]
        if kind == "BatchNormalization":
            gamma, beta, mean, var = self._norm_params(4)
            return (xs[0] - mean) / np.sqrt(var + cfg.get("epsilon", 1e-3)) * gamma + beta
        if kind == "LayerNormalization":
            gamma, beta = self._norm_params(2)
            mean = xs[0].mean(axis=-1, keepdims=True)
            var = xs[0].var(axis=-1, keepdims=True)
            return (xs[0] - mean) / np.sqrt(var + cfg.get("epsilon", 1e-3)) * gamma + beta
        if kind == "Concatenate":
            return np.concatenate(xs, axis=cfg.get("axis", -1))
        if kind == "Add":
            return np.sum(xs, axis=0)
        raise AssertionError(kind)

    def _norm_params(self, count):
        """gamma/beta (and moving mean/variance) in Keras's order, with absent ones neutral."""
        cfg, w = self.config, list(self.weights)
        gamma = w.pop(0) if cfg.get("scale", True) else 1.0
        beta = w.pop(0) if cfg.get("center", True) else 0.0
        return (gamma, beta, *w[: count - 2])


SUPPORTED = {"InputLayer", "Dense", "Activation", "BatchNormalization", "LayerNormalization", "Concatenate", "Add"} | IDENTITY_LAYERS


class KerasModel:
    """A feed-forward Keras 3 Functional model as numpy arrays; ``predict`` returns its outputs."""

    def __init__(self, layers: dict, inputs: list, outputs: list, dtype=np.float32):
        self.layers, self.inputs, self.outputs, self.dtype = layers, inputs, outputs, dtype

    @classmethod
    def load(cls, path: Path, custom: dict | None = None) -> "KerasModel":
        """Read ``path``; ``custom`` maps extra class names to callables ``f(weights, *inputs)``."""
        try:
            with zipfile.ZipFile(path) as archive:
                config = json.loads(archive.read("config.json"))
                weights_bytes = archive.read("model.weights.h5")
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
            raise ModelError(f"{path} is not a readable .keras archive: {exc}") from None
        try:
            with h5py.File(io.BytesIO(weights_bytes), "r") as weights:
                return cls._build(path, config, weights, custom or {})
        except OSError as exc:
            raise ModelError(f"{path}: the weights file inside is unreadable: {exc}") from None

    @classmethod
    def _build(cls, path, config, weights, custom):
        kind = config.get("class_name")
        body = config.get("config", {})
        specs = body.get("layers", [])
        if kind != "Functional" or not specs:
            raise ModelError(f"{path}: only Functional Keras models can be run without TensorFlow, not {kind}")
        used: dict[str, int] = {}
        layers = {}
        for spec in specs:
            layer_kind = spec["class_name"]
            name = spec.get("name") or spec["config"]["name"]
            if layer_kind not in SUPPORTED and layer_kind not in custom:
                raise ModelError(f"{path}: layer {name} is a {layer_kind}, which this engine does not implement "
                                 "(use the panhumanpy engine)")
            group = snake_case(layer_kind)
            used[group] = used.get(group, -1) + 1
            group = group if used[group] == 0 else f"{group}_{used[group]}"
            vars_group = weights.get(f"layers/{group}/vars")
            if vars_group is not None and vars_group.attrs.get("name", name) != name:
                raise ModelError(f"{path}: weights group {group} belongs to {vars_group.attrs['name']}, not {name}")
            arrays = [np.asarray(vars_group[str(i)]) for i in range(len(vars_group))] if vars_group is not None else []
            inputs = [h[0] for h in _inbound(spec)]
            if layer_kind in custom:
                layer = _Custom(name, layer_kind, spec.get("config", {}), arrays, inputs, custom[layer_kind])
            else:
                layer = Layer(name, layer_kind, spec.get("config", {}), arrays, inputs)
            layers[name] = layer
        ins = [entry[0] for entry in _as_list(body.get("input_layers"))]
        outs = [entry[0] for entry in _as_list(body.get("output_layers"))]
        return cls(layers, ins, outs)

    def input_size(self, index: int = 0) -> int | None:
        """Width of input ``index`` as the archive declares it (``None`` if it does not)."""
        shape = self.layers[self.inputs[index]].config.get("batch_shape")
        return shape[-1] if shape else None

    def output_sizes(self) -> list[int]:
        """Units of each output head, in the model's output order."""
        return [self._units(name) for name in self.outputs]

    def _units(self, name):
        layer = self.layers[name]
        if layer.kind == "Dense":
            return layer.weights[0].shape[1]
        return self._units(layer.inputs[0]) if layer.inputs else None

    def predict(self, *inputs, want: tuple = ()) -> list[np.ndarray]:
        """Outputs of the model (then of the layers named in ``want``) for the given inputs.

        An input may be a scipy sparse matrix: a Dense layer then multiplies only its
        non-zeros (a cell has a few hundred of the 5,055 panel genes), and any other layer
        sees it dense.
        """
        values = {name: sp.csr_matrix(x, dtype=self.dtype) if sp.issparse(x) else np.asarray(x, dtype=self.dtype)
                  for name, x in zip(self.inputs, inputs)}
        targets = list(self.outputs) + list(want)
        for name in want:
            if name not in self.layers:
                raise ModelError(f"the model has no layer named {name}")
        needed = self._needed(targets)
        waiting = [name for name in self.layers if name in needed and name not in values]
        while waiting:
            # Every layer whose inputs are ready runs now, side by side (the eight heads of Azimuth).
            ready = [name for name in waiting if all(i in values for i in self.layers[name].inputs)]
            outputs = thread_map(lambda name: self.layers[name](*(values[i] for i in self.layers[name].inputs)), ready)
            values.update(zip(ready, outputs))
            waiting = [name for name in waiting if name not in values]
        return [values[name] for name in targets]

    def _needed(self, targets):
        needed, stack = set(), list(targets)
        while stack:
            name = stack.pop()
            if name not in needed:
                needed.add(name)
                stack.extend(self.layers[name].inputs)
        return needed


@dataclass
class _Custom(Layer):
    function: object = None

    def __call__(self, *xs):
        return self.function(self.weights, *xs)


def _as_list(entries):
    """``input_layers`` is one ``[name, 0, 0]`` or a list of them."""
    if not entries:
        return []
    return [entries] if isinstance(entries[0], str) else entries


def _inbound(spec) -> list:
    """``[layer, node, tensor]`` of each input of a layer, from Keras 3's ``__keras_tensor__`` records."""
    history = []

    def walk(value):
        if isinstance(value, dict):
            if value.get("class_name") == "__keras_tensor__":
                history.append(value["config"]["keras_history"])
                return
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(spec.get("inbound_nodes", []))
    return history
