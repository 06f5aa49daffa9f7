"""Where the Pan-Human Azimuth v1 weights live, and how they are fetched and checked.

The weights (about a hundred MB) are not in any package: panhumanpy downloads them from
a Zenodo record on first use, with no checksum. We fetch the same file, check its size
and md5 against what the Zenodo record publishes, and keep it in a cache:

1. ``--azimuth-model PATH``, if given;
2. ``$CELLANNOTATE_AZIMUTH_MODEL`` (a file);
3. ``$CELLANNOTATE_MODEL_CACHE/azimuth/v1/inference_model.keras``, the cache
   (``$XDG_CACHE_HOME/cellannotate`` or ``~/.cache/cellannotate`` by default), which
   ``cellannotate models fetch`` fills;
4. panhumanpy's own cache, ``~/.cache/panhumanpy/v1/inference_model/inference_model.keras``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from pathlib import Path

import requests

from cellannotate.io.atomic import atomic_path, write_text_atomic
from cellannotate.errors import ModelError

log = logging.getLogger(__name__)

MODEL_VERSION = "v1"
ZENODO_RECORD = "20401417"
MODEL_FILE = "panhumanpy_inference_model_v1.keras"
ZENODO_URL = "https://zenodo.org"
ZENODO_URL_ENV = "CELLANNOTATE_ZENODO_URL"
MODEL_ENV = "CELLANNOTATE_AZIMUTH_MODEL"
CACHE_ENV = "CELLANNOTATE_MODEL_CACHE"
CACHED_NAME = "inference_model.keras"
FETCH_HINT = "run `cellannotate models fetch` (needs internet once)"
OFFLINE_HINT = ("or, with no download, --cell-annotation-model panhuman_distill (actinn-jax's network distilled "
                "from Azimuth: its own labels, not Azimuth's) or --cell-annotation-model markers")
TIMEOUT_S = (10, 60)
CHUNK_BYTES = 1 << 20


def cache_dir() -> Path:
    """Where ``cellannotate models fetch`` keeps the weights: ``$CELLANNOTATE_MODEL_CACHE`` or the XDG cache."""
    root = os.environ.get(CACHE_ENV) or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cellannotate"
    return Path(root) / "azimuth" / MODEL_VERSION


def panhumanpy_cache() -> Path:
    """Where panhumanpy itself caches the weights, used when it already has them."""
    return Path.home() / ".cache" / "panhumanpy" / MODEL_VERSION / "inference_model" / CACHED_NAME


def check_model_file(path: Path) -> Path:
    """A ``.keras`` file is a zip archive with ``config.json`` and ``model.weights.h5``."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (OSError, zipfile.BadZipFile) as exc:
        raise ModelError(f"Azimuth model {path} is not a readable .keras archive ({exc}); {FETCH_HINT} again") from None
    missing = {"config.json", "model.weights.h5"} - names
    if missing:
        raise ModelError(f"Azimuth model {path} is corrupt: it lacks {', '.join(sorted(missing))}; {FETCH_HINT} again")
    return path


def locate_model(path: Path | None = None) -> Path:
    """The weights file to use (see the module docstring), checked; :class:`ModelError` if none."""
    if path is not None:
        if not Path(path).is_file():
            raise ModelError(f"--azimuth-model file not found: {path}")
        return check_model_file(Path(path))
    candidates = [Path(os.environ[MODEL_ENV])] if os.environ.get(MODEL_ENV) else []
    candidates += [cache_dir() / CACHED_NAME, panhumanpy_cache()]
    for candidate in candidates:
        if candidate.is_file():
            return check_model_file(candidate)
    raise ModelError(
        f"the Pan-Human Azimuth weights are not installed (looked in {cache_dir()}): {FETCH_HINT}, {OFFLINE_HINT}"
    )


def _record_entry(session: requests.Session, base_url: str) -> dict:
    url = f"{base_url.rstrip('/')}/api/records/{ZENODO_RECORD}"
    try:
        response = session.get(url, timeout=TIMEOUT_S)
        response.raise_for_status()
        files = response.json()["files"]
    except (requests.RequestException, ValueError, KeyError) as exc:
        raise ModelError(f"cannot read the model record at {url}: {exc}") from None
    for entry in files:
        if entry.get("key") == MODEL_FILE:
            algorithm, _, digest = str(entry.get("checksum", "")).partition(":")
            if algorithm != "md5" or not digest or not isinstance(entry.get("size"), int):
                raise ModelError(f"the model record at {url} gives no md5 checksum and size for {MODEL_FILE}")
            return {"md5": digest, "size": entry["size"], "url": entry.get("links", {}).get("self")}
    raise ModelError(f"the model record at {url} has no file {MODEL_FILE}")


def fetch_model(dest_dir: Path | None = None, base_url: str | None = None, force: bool = False) -> Path:
    """Download the v1 weights into the cache, verify size and md5, and return the file.

    The file appears only once verified; an existing verified file is kept unless ``force``.
    """
    dest_dir = Path(dest_dir) if dest_dir else cache_dir()
    dest = dest_dir / CACHED_NAME
    if dest.is_file() and not force:
        log.info("Azimuth weights already in %s", dest)
        return check_model_file(dest)
    base_url = base_url or os.environ.get(ZENODO_URL_ENV) or ZENODO_URL
    with requests.Session() as session:
        entry = _record_entry(session, base_url)
        url = entry["url"] or f"{base_url.rstrip('/')}/records/{ZENODO_RECORD}/files/{MODEL_FILE}?download=1"
        log.info("downloading %s (%.0f MB)", url, entry["size"] / 1e6)
        md5 = hashlib.md5()
        size = 0
        with atomic_path(dest) as tmp:
            try:
                with session.get(url, stream=True, timeout=TIMEOUT_S) as response, open(tmp, "wb") as fh:
                    response.raise_for_status()
                    for block in response.iter_content(CHUNK_BYTES):
                        fh.write(block)
                        md5.update(block)
                        size += len(block)
            except requests.RequestException as exc:
                raise ModelError(f"downloading the Azimuth weights failed: {exc}") from None
            if size != entry["size"]:
                raise ModelError(f"the Azimuth weights download is incomplete ({size} of {entry['size']} bytes); try again")
            if md5.hexdigest() != entry["md5"]:
                raise ModelError("the Azimuth weights do not match the published md5 checksum; nothing was kept")
            check_model_file(tmp)
    write_text_atomic(
        dest_dir / f"{CACHED_NAME}.json",
        json.dumps({"source": url, "md5": entry["md5"], "size": entry["size"], "record": ZENODO_RECORD}, indent=2) + "\n",
    )
    return dest
