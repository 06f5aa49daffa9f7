"""Reading gzip-chunked spans without h5py's lock (cellannotate.io.deflated), per-cell arrays by blocks (cellannotate.io.npy)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from cellannotate.errors import MatrixError
from cellannotate.io.deflated import SpanReader
from cellannotate.io.tenx_h5 import TenxMatrix

VALUES = np.random.default_rng(0).integers(0, 50_000, 10_007).astype(np.int64)


@pytest.mark.parametrize("filters", [dict(compression="gzip"), dict(compression="gzip", shuffle=True),
                                     dict(compression="lzf"), dict(), dict(compression="gzip", fletcher32=True)],
                         ids=["gzip", "shuffle+gzip", "lzf", "plain", "gzip+checksum"])
def test_every_span_reads_as_h5py_reads_it(filters, tmp_path):
    with h5py.File(tmp_path / "x.h5", "w") as h5:
        h5.create_dataset("v", data=VALUES, chunks=(1000,) if filters else None, **filters)
    with h5py.File(tmp_path / "x.h5", "r") as h5:
        reader = SpanReader(h5["v"])
        assert reader.direct == (filters.get("compression") == "gzip" and "fletcher32" not in filters)
        for lo, hi in [(0, 1), (0, 10_007), (999, 1001), (1000, 2000), (5, 9_999), (10_000, 10_007), (7, 7)]:
            got = reader.read(lo, hi)
            np.testing.assert_array_equal(got, VALUES[lo:hi])
            assert got.flags.writeable and got.dtype == VALUES.dtype


def test_a_chunk_never_written_reads_as_the_fill_value(tmp_path):
    with h5py.File(tmp_path / "x.h5", "w") as h5:
        h5.create_dataset("v", shape=(3000,), dtype=np.int32, chunks=(1000,), compression="gzip")[:1000] = 7
    with h5py.File(tmp_path / "x.h5", "r") as h5:
        np.testing.assert_array_equal(SpanReader(h5["v"]).read(500, 2500), [7] * 500 + [0] * 1500)


def test_a_corrupt_chunk_is_one_clear_matrix_error(example_h5, tmp_path):
    """Bytes of a stored chunk overwritten: the reader's error names the cells, as h5py's failure would."""
    broken = tmp_path / "broken.h5"
    broken.write_bytes(example_h5.read_bytes())
    with h5py.File(broken, "r") as h5:
        offset = h5["matrix/data"].id.get_chunk_info(0).byte_offset
    with open(broken, "r+b") as fh:
        fh.seek(offset + 8)
        fh.write(b"\xff" * 64)
    with TenxMatrix(broken) as matrix, pytest.raises(MatrixError, match="cannot read cells 0..") as error:
        list(matrix.iter_chunks(100))
    assert "\n" not in str(error.value)


def test_rows_written_and_read_by_blocks_are_the_array(tmp_path):
    """The embedding files (cellannotate.io.npy): written chunk by chunk, read by slices and by sorted rows."""
    from cellannotate.io.npy import NpyRows, RowWriter

    values = np.random.default_rng(0).normal(size=(1000, 7)).astype(np.float32)
    writer = RowWriter(tmp_path / "e.npy", 1000)
    for start in (600, 0, 300):          # in any order, as worker threads finish them
        writer.put(start, start + 300 if start < 600 else 1000, values[start:start + 300 if start < 600 else 1000])
    rows = writer.finish()
    np.testing.assert_array_equal(np.load(tmp_path / "e.npy"), values)
    NpyRows.BLOCK = 64
    picked = np.array([999, 3, 64, 65, 500, 3])
    np.testing.assert_array_equal(rows[picked], values[picked])
    np.testing.assert_array_equal(rows[10:20], values[10:20])
    assert rows.shape == (1000, 7) and len(rows) == 1000 and rows[5:5].shape == (0, 7)
