"""The .cloupe step: input checks, the converter call, and never a fake .cloupe."""

import sys
import textwrap

import pytest

from cellannotate.outputs.cloupe import CloupeError, annotate_cloupe, check_cloupe
from conftest import assert_one_line_error, run_script
from test_outputs import _table
from cellannotate.io.tenx_h5 import read_10x_h5

FAKE_LOUPER = textwrap.dedent(
    """\
    #!{python}
    # Stand-in for 10x's louper: checks the interchange file the way louper reads it.
    import sys, h5py
    args = dict(a.split("=", 1) for a in sys.argv[2:] if "=" in a)
    assert sys.argv[1] == "create" and "--force" in sys.argv
    with h5py.File(args["--input"]) as h5:
        n_features, n_cells = h5["matrix/shape"][()]
        assert len(h5["matrix/barcodes"]) == n_cells and len(h5["matrix/indptr"]) == n_cells + 1
        for group in h5["clusters"].values():
            assert group["assignments"].shape == (n_cells,)
            assert group["assignments"][()].max() < len(group["group_names"])
        for proj in h5["projections"].values():
            assert proj["data"].shape == (n_cells, 2)
        names = sorted(h5["clusters"])
    if "FAIL" in args["--output"] or {fail}:
        print("louper: cannot create file", file=sys.stderr); sys.exit(3)
    open(args["--output"], "w").write("CLOUPE " + ",".join(names))
    """
)


def _converter(tmp_path, fail=False):
    path = tmp_path / "louper"
    path.write_text(FAKE_LOUPER.format(python=sys.executable, fail=fail))
    path.chmod(0o755)
    return path


@pytest.fixture
def inputs(tmp_path, example_h5):
    cloupe = tmp_path / "sample.cloupe"
    cloupe.write_bytes(b"\x00LOUPE" + bytes(range(256)))
    with read_10x_h5(example_h5) as m:
        _table(m.barcodes).write(tmp_path / "Markers")
    return example_h5, cloupe, [tmp_path / "Markers"]


def test_converter_gets_a_valid_interchange_file_and_output_is_written(tmp_path, inputs):
    matrix, cloupe, folders = inputs
    dest = tmp_path / "out" / "cell_annotation_sample_cloupe.cloupe"
    dest.parent.mkdir()
    message = annotate_cloupe(matrix, cloupe, folders, dest, _converter(tmp_path))
    assert dest.read_text().startswith("CLOUPE ")
    assert "Cell Types" in dest.read_text().split(" ", 1)[1].split(",")
    assert "annotated Loupe file" in message
    assert sorted(p.name for p in dest.parent.iterdir()) == [dest.name]


def test_failing_converter_leaves_no_file(tmp_path, inputs):
    matrix, cloupe, folders = inputs
    dest = tmp_path / "x.cloupe"
    with pytest.raises(CloupeError, match="converter failed .*cannot create file"):
        annotate_cloupe(matrix, cloupe, folders, dest, _converter(tmp_path, fail=True))
    assert not dest.exists()
    assert not list(tmp_path.glob("cellannotate-louper-*"))


def test_without_converter_no_cloupe_is_written_and_csv_is_named(tmp_path, inputs, monkeypatch):
    monkeypatch.delenv("CELLANNOTATE_LOUPE_CONVERTER", raising=False)
    matrix, cloupe, folders = inputs
    dest = tmp_path / "x.cloupe"
    message = annotate_cloupe(matrix, cloupe, folders, dest)
    assert not dest.exists()
    assert "cell_types_loupe.csv" in message and "louper" in message
    assert len(message.splitlines()) == 1


@pytest.mark.parametrize(
    "content,message",
    [
        (b"\x89HDF\r\n\x1a\n" + bytes(100), "HDF5"),
        (b"\x1f\x8b" + bytes(100), "gzip"),
        (b"<html>" + b" " * 100, "text file"),
        (b"tiny", "too small"),
    ],
)
def test_files_that_are_not_cloupe_are_refused(tmp_path, content, message):
    path = tmp_path / "x.cloupe"
    path.write_bytes(content)
    with pytest.raises(CloupeError, match=message):
        check_cloupe(path)


def test_bin_script_reports_missing_cloupe_in_one_line(tmp_path, inputs):
    matrix, _, folders = inputs
    result = run_script("annotate_cloupe.py", "--matrix", str(matrix), "--cloupe", str(tmp_path / "none.cloupe"),
                        "--annotations", str(folders[0]), "--out", str(tmp_path / "o.cloupe"))
    assert_one_line_error(result, 1, "--cloupe file not found")


def test_non_executable_converter_is_refused(tmp_path, inputs):
    matrix, cloupe, folders = inputs
    plain = tmp_path / "louper"
    plain.write_text("x")
    with pytest.raises(CloupeError, match="not an executable"):
        annotate_cloupe(matrix, cloupe, folders, tmp_path / "o.cloupe", plain)
