"""Hostile inputs on the newer surfaces, one clear error each: Space Ranger folders, reference and
marker files, the files steps hand each other, tokens, cloud answers, full disks, interrupted swaps.

Never an internal error, a hang, a copy of the file's contents or of a secret; nothing lost.
Named by surface; the bombs are small files that claim to be huge.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
import zipfile
import zlib

import h5py
import numpy as np
import pytest

from cellannotate.errors import CloudError, MatrixError, ModelError, OutputError, TokenError, UsageError
from cellannotate.io.checked import load_npz, parse_json, read_json
from cellannotate.io.spaceranger import SpaceRangerError, read_tissue_layout
from cellannotate.io.tenx_h5 import TenxMatrix, read_10x_h5
from conftest import assert_one_line_error, run_cli, run_script, validation_json
from test_tissue import write_spaceranger_outs

SECRET = "SECRETMARKER0123456789abcdef"
CONTENT = "CONTENTMARKER"
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.fixture(scope="module")
def segmented(tmp_path_factory):
    """A small segmented matrix and a Space Ranger folder that fits it."""
    from cellannotate.example_data import ExampleSpec, write_example

    root = tmp_path_factory.mktemp("sr")
    write_example(root / "m.h5", ExampleSpec(n_cells=120, n_genes=200, seed=4))
    with read_10x_h5(root / "m.h5") as m:
        barcodes = m.barcodes.astype(str)
    write_spaceranger_outs(root / "good", barcodes)
    return root, barcodes


def _folder(tmp_path, segmented, geojson=None, scalefactors=None, image: bytes | None = None):
    import shutil

    root, _ = segmented
    shutil.copytree(root / "good", tmp_path / "sr")
    seg = tmp_path / "sr" / "outs" / "segmented_outputs"
    if geojson is not None:
        (seg / "cell_segmentations.geojson").write_text(geojson) if isinstance(geojson, str) else \
            (seg / "cell_segmentations.geojson").write_bytes(geojson)
    if scalefactors is not None:
        (seg / "spatial" / "scalefactors_json.json").write_text(scalefactors)
    if image is not None:
        (seg / "spatial" / "tissue_hires_image.png").write_bytes(image)
    return tmp_path / "sr"


def _collection(*features):
    return json.dumps({"type": "FeatureCollection", "features": list(features)})


# -- spaceranger ----------------------------------------------------------------------------

@pytest.mark.parametrize("feature", [
    {"properties": [1], "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]}},
    {"properties": "cell", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]}},
    {"properties": {"cell_id": 1}, "geometry": {"type": "Polygon", "coordinates": [[]]}},
    {"properties": {"cell_id": 1}, "geometry": {"type": "Polygon", "coordinates": [[1, 2, 3]]}},
    {"properties": {"cell_id": 1}, "geometry": {"type": "Polygon", "coordinates": [[[1], [2], [3]]]}},
    {"properties": {"cell_id": 1}, "geometry": {"type": "Polygon", "coordinates": {"a": 1}}},
    {"properties": {"cell_id": 1}, "geometry": {"type": "MultiPolygon", "coordinates": [1, 2]}},
], ids=["properties list", "properties string", "empty ring", "ring of numbers", "one coordinate",
        "coordinates object", "multipolygon of numbers"])
def test_spaceranger_malformed_features_are_counted_not_fatal(tmp_path, segmented, feature):
    good = json.loads((segmented[0] / "good" / "outs" / "segmented_outputs" / "cell_segmentations.geojson").read_text())
    folder = _folder(tmp_path, segmented, geojson=_collection(feature, *good["features"]))
    layout = read_tissue_layout(folder, segmented[1])
    assert layout.polygons_without_cell == 3  # the malformed one and the two that name no cell


@pytest.mark.parametrize("text", [f"this is not json {CONTENT}", f"<html><!--{CONTENT}--></html>",
                                  "\ufeff" + f'{{"features": [{CONTENT}]}}', "[" * 40_000 + "]" * 40_000,
                                  '{"features": [' + "[" * 20_000 + "]" * 20_000 + "]}"],
                         ids=["text", "html", "bom and garbage", "nested 40,000 deep", "nested in features"])
def test_spaceranger_a_segmentation_that_is_not_geojson_is_one_error_that_quotes_nothing(tmp_path, segmented, text):
    folder = _folder(tmp_path, segmented, geojson=text.encode())
    with pytest.raises(SpaceRangerError) as error:
        read_tissue_layout(folder, segmented[1])
    assert CONTENT not in str(error.value) and "[[[" not in str(error.value)


def test_spaceranger_a_segmentation_linked_to_a_system_file_quotes_nothing(tmp_path, segmented):
    folder = _folder(tmp_path, segmented)
    target = folder / "outs" / "segmented_outputs" / "cell_segmentations.geojson"
    target.unlink()
    target.symlink_to("/etc/passwd")
    with pytest.raises(SpaceRangerError) as error:
        read_tissue_layout(folder, segmented[1])
    assert "root:" not in str(error.value)


@pytest.mark.parametrize("value", ['"0.2' + CONTENT + '"', "null", "[1]", '{"a": 1}', "1" + "0" * 400, "true"])
def test_spaceranger_scale_factors_that_are_not_numbers(tmp_path, segmented, value):
    folder = _folder(tmp_path, segmented, scalefactors=f'{{"tissue_hires_scalef": {value}}}')
    with pytest.raises(SpaceRangerError, match="should be numbers") as error:
        read_tissue_layout(folder, segmented[1])
    assert CONTENT not in str(error.value)


def test_spaceranger_deep_scale_factors(tmp_path, segmented):
    with pytest.raises(SpaceRangerError, match="nested too deep"):
        read_tissue_layout(_folder(tmp_path, segmented, scalefactors=DEEP), segmented[1])


def _png(width: int, height: int, extra: bytes = b"") -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + extra + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + \
        chunk(b"IEND", b"")


@pytest.mark.parametrize("image", [_png(60_000, 60_000), _png(12_000, 12_000), b"GIF89a" + b"\0" * 100,
                                   _png(10, 10, b"\0\0\0\x10zTXtx\0\0" + zlib.compress(b"a" * (1 << 24))[:14])],
                         ids=["claims 60000 square", "12000 square", "not a png", "broken text chunk"])
def test_spaceranger_image_bombs_and_junk(tmp_path, segmented, image):
    with pytest.raises(SpaceRangerError, match="tissue image"):
        read_tissue_layout(_folder(tmp_path, segmented, image=image), segmented[1])


def test_spaceranger_projection_with_text(tmp_path, segmented):
    folder = _folder(tmp_path, segmented)
    umap = folder / "outs" / "segmented_outputs" / "analysis" / "umap" / "gene_expression_2_components"
    umap.mkdir(parents=True)
    (umap / "projection.csv").write_text("Barcode,UMAP-1,UMAP-2\n" + "".join(f"{b},x{CONTENT},1\n" for b in segmented[1]))
    with pytest.raises(SpaceRangerError) as error:
        read_tissue_layout(folder, segmented[1])
    assert CONTENT not in str(error.value)


def test_spaceranger_folder_without_segmentation_is_found_before_any_model_runs(tmp_path, segmented):
    folder = _folder(tmp_path, segmented)
    (folder / "outs" / "segmented_outputs" / "cell_segmentations.geojson").unlink()
    result = run_cli("annotate", "--id", "s", "--matrix", str(segmented[0] / "m.h5"), "--outdir", str(tmp_path / "run"),
                     "--cell-annotation-model", "markers", "--spaceranger-outs", str(folder))
    assert_one_line_error(result, 1, "lacks cell_segmentations.geojson")
    assert "models to run" not in result.stderr and not (tmp_path / "run").exists()


# -- tokens ---------------------------------------------------------------------------------

def _json_token(headers) -> str:
    return json.dumps({"https://cloud.example": {"cli_token": SECRET, "cloudflare_token": headers}})


@pytest.mark.parametrize("headers", [{"X-A": SECRET + "\r\nX-Injected: 1"}, {"X-A\r\nX-B": SECRET},
                                     {"X-A": SECRET + "\0"}], ids=["crlf in value", "crlf in name", "nul"])
def test_token_header_injection_is_refused_without_the_secret(tmp_path, headers):
    from cellannotate.annotators.cloud.token import parse_token

    with pytest.raises(TokenError) as error:
        parse_token(_json_token(headers))
    assert SECRET not in str(error.value) and "control characters" in str(error.value)


def test_token_header_with_a_trailing_newline_is_trimmed():
    from cellannotate.annotators.cloud.token import parse_token

    assert parse_token(_json_token({"X-A": "value\n"})).reveal_headers() == {"X-A": "value"}


def test_token_nested_deep_is_one_error(tmp_path):
    token = tmp_path / "token"
    token.write_text('{"https://x": ' + "[" * 1_500 + "]" * 1_500 + "}")
    token.chmod(0o600)
    result = run_script("check_token.py", "--tenx-cloud-token-path", str(token))
    assert_one_line_error(result, 4, "nested too deep")


@pytest.mark.parametrize("url,message", [("", "--cloud-url is empty"),
                                         ("http://user:PASSWORD@127.0.0.1:9", "user name or password")])
def test_cloud_urls_that_would_go_wrong_are_usage_errors(url, message):
    from cellannotate.annotators.cloud.job import settings_from_env

    with pytest.raises(UsageError, match=message) as error:
        settings_from_env(url)
    assert "PASSWORD" not in str(error.value)


# -- cloud answers --------------------------------------------------------------------------

class _Answer:
    """A streamed HTTP answer, as requests gives it."""

    def __init__(self, blocks):
        self.blocks = blocks

    def iter_content(self, size):
        yield from self.blocks

    def close(self):
        pass


def test_cloud_an_answer_that_inflates_past_the_limit_is_refused_while_it_arrives():
    from cellannotate.annotators.cloud.transport import read_body

    endless = (b"x" * (1 << 16) for _ in range(10_000))
    with pytest.raises(CloudError, match="larger than"):
        read_body(_Answer(endless), 1 << 20, "check the token")


@pytest.mark.parametrize("body", [DEEP.encode(), b"\x1f\x8b not gzip", b"[1, 2]x"], ids=["deep", "junk", "trailing"])
def test_cloud_answers_that_are_not_json_objects(body):
    with pytest.raises(CloudError):
        parse_json(body, "10x Cloud's answer", CloudError)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "12345", ""])
def test_cloud_download_urls_that_are_not_web_addresses(url):
    from cellannotate.annotators.cloud.token import CloudToken
    from cellannotate.annotators.cloud.transport import RetryPolicy, Transport

    transport = Transport("http://127.0.0.1:9", CloudToken("t" * 32), RetryPolicy(max_attempts=1))
    with pytest.raises(CloudError, match="not a web address"):
        transport.send("GET", url, "download a result", storage=True)


def test_cloud_server_values_are_scrubbed_of_the_token_before_they_are_written(tmp_path):
    from cellannotate.annotators.cloud.results import cloud_table
    from cellannotate.redaction import REDACTED, remember

    remember(SECRET)
    barcodes = np.array(["AAAC-1", "AAAG-1"], dtype=object)
    files = {"cas_cell_types.csv": tmp_path / "c.csv", "metadata.json": tmp_path / "m.json",
             "cas_results.json.gz": tmp_path / "r.json.gz"}
    files["cas_cell_types.csv"].write_text(f"barcode,coarse_cell_type,fine_cell_type\nAAAC-1,T {SECRET},T\nAAAG-1,B,B\n")
    files["metadata.json"].write_text(json.dumps({"tree_version_used": SECRET, "is_beta_model": True}))
    with gzip.open(files["cas_results.json.gz"], "wt") as fh:
        fh.write("{}")
    table = cloud_table("10x_Cloud", barcodes, files, {"analysis_id": f"an-{SECRET}", "model_name": "auto"})
    table.write(tmp_path / "out")
    written = "".join(p.read_text() for p in (tmp_path / "out").iterdir() if p.suffix in (".csv", ".json"))
    assert SECRET not in written and table.coarse[0] == f"T {REDACTED}"
    assert set(table.attachments) == {"cell_annotation_results.json.gz"}  # raw files repeating the token: not kept


# -- reference and marker files -------------------------------------------------------------

def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("damage", ["truncated", "empty", "bitrot", "nan", "declares 10 GB", "objects"])
def test_reference_networks_that_are_damaged(tmp_path, damage):
    path = _npz(tmp_path / "n.npz", W1=np.ones((4, 3), dtype=np.float32), b1=np.zeros(3, dtype=np.float32))
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "bitrot":
        path.write_bytes(data[:100] + bytes(b ^ 0xFF for b in data[100:140]) + data[140:])
    elif damage == "nan":
        _npz(path, W1=np.full((4, 3), np.nan, dtype=np.float32))
    elif damage == "declares 10 GB":
        with zipfile.ZipFile(path, "w") as archive, archive.open("W1.npy", "w") as fh:
            np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False, "shape": (2_500_000_000,)})
            fh.write(b"\0" * 16)
    else:
        np.savez(path, W1=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ModelError, match="damaged|not a regular|objects|cannot open"):
        load_npz(path, "the reference network", ModelError)


@pytest.mark.parametrize("text", [DEEP, "[]", '"text"', "{", "\0\0\0"])
def test_json_files_that_are_not_what_they_should_be(tmp_path, text):
    path = tmp_path / "f.json"
    path.write_text(text)
    with pytest.raises(ModelError):
        read_json(path, "reference manifest", ModelError)


def test_json_a_fifo_is_refused_at_once(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(ModelError, match="not a regular file"):
        read_json(tmp_path / "fifo", "reference manifest", ModelError)


@pytest.mark.parametrize("entries", [
    {"cell_types": {"a": 1}}, {"cell_types": ["x"]}, {"cell_types": [{"markers": []}]},
    {"cell_types": [{"name": "T", "markers": [{"genes": ["CD3E"], "weight": "heavy"}]}]},
    {"cell_types": [{"name": "T", "markers": [{"genes": ["CD3E"], "weight": float("nan")}]}]},
    {"cell_types": [{"name": "T", "markers": [{"genes": ["CD3E"], "weight": 0}]}]},
    {"cell_types": [{"name": "T", "markers": [{"genes": [5], "weight": 1}]}]},
    {"cell_types": [{"name": "T", "markers": [{"genes": ["CD3E"]}], "subtypes": []}]},
], ids=["object", "strings", "no name", "weight text", "weight nan", "weights zero", "gene number", "subtypes list"])
def test_markers_db_files_not_in_pegasus_format(tmp_path, entries):
    from cellannotate.annotators.markers.database import load_marker_database

    path = tmp_path / "db.json"
    path.write_text(json.dumps(entries))
    with pytest.raises(ModelError, match="marker file"):
        load_marker_database("human", path)


# -- files the steps hand each other --------------------------------------------------------

@pytest.mark.parametrize("field,value", [("n_cells", "200"), ("warnings", "text"), ("models_left_out", []),
                                         ("median_counts_per_cell", "x"), ("extra", 1)])
def test_a_validation_report_with_wrong_fields(tmp_path, example_h5, field, value):
    from cellannotate.validation.report import ValidationReport

    path = validation_json(example_h5, tmp_path)
    report = json.loads(path.read_text())
    report[field] = value
    path.write_text(json.dumps(report))
    with pytest.raises(MatrixError, match="is not one validate_matrix.py wrote"):
        ValidationReport.read_json(path)


@pytest.mark.parametrize("model", ["../../../ESCAPED", "a/b", ".", 5])
def test_a_model_record_naming_no_safe_folder(tmp_path, model):
    from cellannotate.celltypes import CellTypeTable

    folder = tmp_path / "Markers"
    folder.mkdir()
    (folder / "model.json").write_text(json.dumps({"model": model}))
    (folder / "cell_types.csv").write_text("barcode,broad_cell_type,coarse_cell_type,fine_cell_type,confidence\n")
    with pytest.raises(OutputError, match="names no model folder"):
        CellTypeTable.read(folder)


@pytest.mark.parametrize("lazy", [True, False])
def test_an_embedding_that_is_not_an_array(tmp_path, lazy):
    from cellannotate.celltypes import load_rows

    (tmp_path / "e.npy").write_text("not an array")
    with pytest.raises(OutputError, match="per-cell array"):
        load_rows(tmp_path / "e.npy", lazy=lazy)
    np.save(tmp_path / "short.npy", np.zeros((1000, 8), dtype=np.float32))
    (tmp_path / "short.npy").write_bytes((tmp_path / "short.npy").read_bytes()[:5000])
    np.save(tmp_path / "flat.npy", np.zeros(10))
    for name in ("short.npy", "flat.npy"):
        with pytest.raises(OutputError, match="per-cell array|not a .cells, dimensions."):
            load_rows(tmp_path / name, lazy=lazy)


# -- matrix, disk, interruptions ------------------------------------------------------------

def test_matrix_barcodes_of_two_dimensions(tmp_path, example_h5):
    import shutil

    path = tmp_path / "m.h5"
    shutil.copyfile(example_h5, path)
    with h5py.File(path, "r+") as h5:
        barcodes = h5["matrix/barcodes"][:]
        del h5["matrix/barcodes"]
        h5["matrix/barcodes"] = np.stack([barcodes, barcodes], axis=1)
    with pytest.raises(MatrixError, match="barcodes must be one list"):
        TenxMatrix(path)


def test_disk_full_under_a_step_is_exit_7(tmp_path, example_h5, small_filesystem):
    full = small_filesystem(64)
    validation = validation_json(example_h5, tmp_path)
    result = run_script("annotate_markers.py", "--matrix", str(example_h5), "--validation", str(validation),
                        "--outdir", str(full / "ann"))
    assert_one_line_error(result, 7, "")
    assert not (full / "ann" / "Markers").exists()


def test_a_name_too_long_for_the_filesystem_is_exit_7(tmp_path, example_h5):
    result = run_cli("annotate", "--id", "s", "--matrix", str(example_h5), "--cell-annotation-model", "markers",
                     "--outdir", str(tmp_path / ("x" * 300)))
    assert_one_line_error(result, 7, "")


def test_an_outs_folder_left_aside_by_a_killed_run_is_restored(tmp_path):
    from cellannotate.io.atomic import STAGING_MARKER, atomic_directory

    with atomic_directory(tmp_path / "outs") as staging:
        (staging / "old.txt").write_text("old")
    aside = tmp_path / ".outs.killed.old"
    aside.mkdir()
    (aside / STAGING_MARKER).write_text("")
    os.replace(tmp_path / "outs", aside / "outs")  # what a SIGKILL between the two renames leaves
    with atomic_directory(tmp_path / "outs") as staging:
        assert (tmp_path / "outs" / "old.txt").read_text() == "old"  # put back before anything else
        (staging / "new.txt").write_text("new")
    assert (tmp_path / "outs" / "new.txt").read_text() == "new" and not aside.exists()


def test_ctrl_c_while_the_command_loads_is_one_line():
    """The signal lands while the modules are still being imported (a hook holds the import there)."""
    import signal
    import subprocess
    import sys

    code = ("import sys, time, importlib.abc as abc\n"
            "class Hold(abc.MetaPathFinder):\n"
            "    done = False\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        if not self.done and name.startswith('cellannotate.annotators'):\n"
            "            self.done = True; print('loading', flush=True); time.sleep(30)\n"
            "sys.meta_path.insert(0, Hold())\n"
            "sys.argv = ['cellannotate', '--help']\n"
            "from cellannotate.entry import cellannotate\n"
            "cellannotate()\n")
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "loading\n"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert (process.returncode, stderr) == (130, "error: interrupted\n")
