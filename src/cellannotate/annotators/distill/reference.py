"""actinn-jax's ``panhuman_distill_v1`` reference, read from its files without JAX.

The reference is a folder: ``manifest.json`` (the coarse groups, every class, its Cell
Ontology id, and for each group either one label or a fine network), ``build_info.json``
(provenance and the attribution its CC BY 4.0 teacher weights require), and one network per
model as ``<name>.npz`` (``W1..Wn``, ``b1..bn``, ``select_idx``, optional ``scale_mu`` /
``scale_sd``) with ``<name>.json`` (``norm_genes``, ``classes``).

It ships inside the actinn-jax 0.3.1 wheel. We read it from the installed distribution
(``pip install --no-deps actinn-jax==0.3.1``) without importing actinn_jax, whose import
needs JAX and scanpy.
"""

from __future__ import annotations

import importlib.metadata
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from cellannotate.errors import ModelError
from cellannotate.io.checked import MiB, load_npz, read_json

NAME = "panhuman_distill_v1"
PACKAGE = "actinn-jax"
PACKAGE_VERSION = "0.3.1"
INSTALL_HINT = f"pip install --no-deps {PACKAGE}=={PACKAGE_VERSION}"
ENV_VAR = "CELLANNOTATE_DISTILL_REFERENCE"


@dataclass(frozen=True)
class Network:
    """One ACTINN classifier: ReLU layers, then softmax over ``classes``."""

    weights: tuple
    biases: tuple
    select: np.ndarray          # columns of the normalised gene panel fed to the network
    classes: tuple
    mean: np.ndarray | None
    scale: np.ndarray | None


@dataclass(frozen=True)
class DistilledReference:
    """The hierarchy: a coarse network over groups, and per group a fine network or one label."""

    genes: tuple                # the panel every network normalises over (Ensembl ids, upper case)
    coarse: Network
    fine: dict                  # group -> Network | str
    ontology: dict              # class -> Cell Ontology id
    build_info: dict

    @property
    def attribution(self) -> dict:
        """What the teacher's CC BY 4.0 licence asks to be cited, from the reference's own record."""
        teacher = self.build_info.get("teacher", {})
        return {
            "reference": f"{NAME} (actinn-jax {PACKAGE_VERSION}, MIT), distilled from {teacher.get('model', 'Pan-human Azimuth')}",
            "cite": f"{teacher.get('citation', '')} doi:{teacher.get('doi', '')}".strip(),
            "weights": f"{teacher.get('weights', '')} ({teacher.get('weights_license', 'CC BY 4.0')})",
            "reference_archive": "Driver I. actinn-jax pre-trained cell-type annotation references. "
                                 "Zenodo, doi:10.5281/zenodo.21688150 (CC BY 4.0)",
        }


def locate_reference(path: Path | None = None) -> Path:
    """The reference folder: ``path``, else ``$CELLANNOTATE_DISTILL_REFERENCE``, else the installed wheel's."""
    if path is None and os.environ.get(ENV_VAR):
        path = Path(os.environ[ENV_VAR])
    if path is not None:
        if not (Path(path) / "manifest.json").is_file():
            raise ModelError(f"{path} is not a {NAME} reference folder (no manifest.json)")
        return Path(path)
    try:
        found = Path(importlib.metadata.distribution(PACKAGE).locate_file(f"actinn_jax/references/{NAME}"))
    except importlib.metadata.PackageNotFoundError:
        raise ModelError(f"the {NAME} reference is not installed: {INSTALL_HINT} (no JAX needed), "
                         f"or point {ENV_VAR} at its folder") from None
    if not (found / "manifest.json").is_file():
        raise ModelError(f"{PACKAGE} is installed but has no {NAME} reference; {INSTALL_HINT}")
    return found


def _read_json(path: Path) -> dict:
    return read_json(path, f"the {NAME} reference file", ModelError, max_bytes=16 * MiB)


def _network(prefix: Path) -> tuple[Network, tuple]:
    meta = _read_json(prefix.with_name(prefix.name + ".json"))
    arrays = load_npz(prefix.with_name(prefix.name + ".npz"), f"the {NAME} reference network", ModelError)
    n_layers = sum(k.startswith("W") for k in arrays)
    try:
        weights = tuple(arrays[f"W{i}"].astype(np.float32) for i in range(1, n_layers + 1))
        biases = tuple(arrays[f"b{i}"].astype(np.float32) for i in range(1, n_layers + 1))
        select = arrays["select_idx"].astype(np.int64)
        classes = tuple(meta["classes"])
        genes = tuple(str(g).upper() for g in meta["norm_genes"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{NAME} reference network {prefix.name} is damaged: it lacks or misshapes {exc}") from None
    shapes_ok = (n_layers > 0 and weights[0].shape[0] == len(select) and weights[-1].shape[1] == len(classes)
                 and select.size and select.min() >= 0 and select.max() < len(genes)
                 and all(w.shape[1] == b.shape[0] for w, b in zip(weights, biases))
                 and all(a.shape[1] == b.shape[0] for a, b in zip(weights, weights[1:])))
    if not shapes_ok:
        raise ModelError(f"{NAME} reference network {prefix.name} has inconsistent shapes")
    mean = arrays.get("scale_mu")
    scale = arrays.get("scale_sd")
    network = Network(weights, biases, select, classes,
                      None if mean is None else mean.astype(np.float32),
                      None if scale is None else scale.astype(np.float32))
    return network, genes


@cache
def load_reference(path: Path) -> DistilledReference:
    """Read and check the reference at ``path``; every network must normalise over the same panel."""
    path = Path(path)
    manifest = _read_json(path / "manifest.json")
    build_info = _read_json(path / "build_info.json") if (path / "build_info.json").is_file() else {}
    coarse, genes = _network(path / "coarse")
    if not isinstance(manifest.get("fine"), dict):
        raise ModelError(f"{NAME} reference manifest at {path} has no 'fine' table")
    fine = {}
    for group, entry in manifest["fine"].items():
        if not isinstance(entry, dict):
            raise ModelError(f"{NAME} reference manifest at {path}: group {group!r} has no entry")
        if entry.get("single_label") is not None:
            fine[group] = str(entry["single_label"])
            continue
        network, panel = _network(path / f"fine_{group}")
        if panel != genes:
            raise ModelError(f"{NAME} network fine_{group} normalises over other genes than the coarse one")
        fine[group] = network
    ontology, teacher = manifest.get("class_to_cl", {}), build_info.get("teacher", {})
    if not isinstance(ontology, dict) or not isinstance(teacher, dict):
        raise ModelError(f"{NAME} reference at {path} is damaged: class_to_cl and teacher must be JSON objects")
    return DistilledReference(genes, coarse, fine, ontology, build_info)
