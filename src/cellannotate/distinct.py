"""The distinct labels of many cells, found by hashing.

``np.unique`` sorts every value: for a million cells' labels (Python strings) that is seconds each
time, and a run asks it a dozen times. pandas' factorize hashes them in one pass.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def distinct(values) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values as ``str``, sorted, and each value's index among them: what
    ``np.unique(np.asarray(values, dtype=str), return_inverse=True)`` gives."""
    codes, uniques = pd.factorize(np.asarray(values, dtype=object), sort=True, use_na_sentinel=False)
    names = np.asarray([str(u) for u in uniques], dtype=object)
    if len(names) and not (names[:-1] < names[1:]).all():     # mixed types sorted apart: sort their text
        order = np.argsort(names.astype(str), kind="stable")
        names, codes = names[order], np.argsort(order)[codes]
    return names, codes.astype(np.int64)
