"""The Pan-Human Azimuth v1 tables, read from the installed ``panhumanpy`` package data.

Panhumanpy ships, per model version, the gene panel, the label encoders of the eight
hierarchy levels (a pickle of scikit-learn ``LabelEncoder`` objects), one calibrator per
level (tiny ``.keras`` models), the post-processing tables that turn a hierarchy into
broad/medium/fine labels, and the Cell Ontology map. We read those files from the
installed distribution (``pip install --no-deps panhumanpy==1.0.0``) without importing
panhumanpy, which would import TensorFlow. The encoders pickle is read with an
unpickler that only builds numpy arrays and a plain stand-in for ``LabelEncoder``, so
neither scikit-learn nor arbitrary code from the file is involved.
"""

from __future__ import annotations

import importlib.metadata
import io
import pickle
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from cellannotate.errors import ModelError
from cellannotate.annotators.azimuth.keras_archive import KerasModel, softmax

PACKAGE = "panhumanpy"
PACKAGE_VERSION = "1.0.0"
MODEL_VERSION = "v1"
INSTALL_HINT = f"pip install --no-deps {PACKAGE}=={PACKAGE_VERSION}"
# From panhumanpy._tools.v1.model_meta: the shape of the v1 model.
PANEL_SIZE = 5055
HEAD_SIZES = (13, 91, 209, 313, 355, 374, 380, 382)
EMBEDDING_LAYER = "dense_3"
REFINE_LEVELS = ("broad", "medium", "fine")


class _LabelEncoder:
    """What the pickle holds of a scikit-learn ``LabelEncoder``: ``classes_``."""

    def __setstate__(self, state):
        self.__dict__.update(state)


class _EncodersUnpickler(pickle.Unpickler):
    ALLOWED = {
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    }

    def find_class(self, module, name):
        if (module, name) == ("sklearn.preprocessing._label", "LabelEncoder"):
            return _LabelEncoder
        if (module, name) in self.ALLOWED:
            return _reconstruct() if name == "_reconstruct" else getattr(np, name)
        raise ModelError(f"the panhumanpy encoders file refers to {module}.{name}, which is not expected")


def _reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct as function
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct as function
    return function


def _package_file(relative: str) -> Path:
    try:
        dist = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise ModelError(f"Pan-Human Azimuth needs the panhumanpy package data: {INSTALL_HINT}") from None
    if dist.version != PACKAGE_VERSION:
        raise ModelError(f"panhumanpy {dist.version} is installed; this engine matches {PACKAGE_VERSION}: {INSTALL_HINT}")
    path = Path(dist.locate_file(f"{PACKAGE}/_tools/{MODEL_VERSION}/{relative}"))
    if not path.is_file():
        raise ModelError(f"the panhumanpy installation lacks {relative}: reinstall it ({INSTALL_HINT})")
    return path


def temperature_scaling(weights, logits, entropy):
    """panhumanpy's ``TemperatureScalingTwoParam`` layer: softmax(logits / T), with
    T = clip(softplus(theta0 + theta1 * entropy), 1e-3, 1e3), in float32 as Keras runs it."""
    theta0, theta1 = (np.float32(w) for w in weights)
    temperature = np.clip(np.logaddexp(np.float32(0), theta0 + theta1 * entropy), np.float32(1e-3), np.float32(1e3))
    return softmax(np.divide(logits, temperature, dtype=np.float32))


@dataclass(frozen=True)
class AzimuthAssets:
    """The panhumanpy tables the engine needs, loaded once: panel, encoders, calibrators, label tables."""

    panel: list                 # gene symbols, sorted, as panhumanpy orders the model input
    classes: list               # per level, the encoder's class strings (index = head output)
    calibrators: list           # per level, a KerasModel taking (logits, entropy)
    refine_tables: dict         # level name -> DataFrame(Orig_Label, Annotate_<level>)
    ontology: pd.DataFrame      # Annotation_Label, CL_Label, CL_ID


def _read_calibrator(path: Path) -> KerasModel:
    model = KerasModel.load(path, custom={"TemperatureScalingTwoParam": temperature_scaling})
    if len(model.inputs) != 2 or not any(l.kind == "TemperatureScalingTwoParam" for l in model.layers.values()):
        raise ModelError(f"calibrator {path.name} is not a two-parameter temperature scaler")
    return model


@cache
def load_assets() -> AzimuthAssets:
    """Read (once) every v1 table panhumanpy ships; :class:`ModelError` if one is missing or odd."""
    panel = sorted(_package_file("inference_feature_panel/inference_feature_panel.txt").read_text().splitlines())
    if len(panel) != PANEL_SIZE or len(set(panel)) != PANEL_SIZE:
        raise ModelError(f"the panhumanpy gene panel has {len(panel)} genes, not {PANEL_SIZE} distinct ones")
    data = _package_file("inference_encoders/inference_encoders.pkl").read_bytes()
    encoders = _EncodersUnpickler(io.BytesIO(data)).load()
    classes = [[str(c) for c in enc.classes_] for enc in encoders]
    if tuple(len(c) for c in classes) != HEAD_SIZES:
        raise ModelError(f"the panhumanpy label encoders have {[len(c) for c in classes]} classes, not {list(HEAD_SIZES)}")
    if any(c.startswith("Empty") for level in classes for c in level):
        raise ModelError("the panhumanpy encoders use 'Empty' labels, which this engine does not refine")
    calibrators = [_read_calibrator(_package_file(f"calibration/temp_scaler_L_{i + 1}.keras")) for i in range(len(HEAD_SIZES))]
    tables = {level: pd.read_csv(_package_file(f"postprocessing/panhuman_annotate_{level}.csv"), index_col=None)
              for level in REFINE_LEVELS}
    ontology = pd.read_csv(_package_file("cell_ontology_map/cell_ontology_map.csv"))
    return AzimuthAssets(panel, classes, calibrators, tables, ontology)
