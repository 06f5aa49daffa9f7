"""MultiQC across samples: the steps' custom content and the software versions, rendered by MultiQC."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import run_script


def _assemble(matrix: Path, sample: str, root: Path) -> None:
    work = root / sample
    work.mkdir()
    assert run_script("validate_matrix.py", "--matrix", str(matrix), "--out", str(work / "v.json")).returncode == 0
    assert run_script("annotate_markers.py", "--matrix", str(matrix), "--validation", str(work / "v.json"),
                      "--outdir", str(work / "ann")).returncode == 0
    result = run_script("assemble_outputs.py", "--id", sample, "--matrix", str(matrix), "--validation", str(work / "v.json"),
                        "--annotations", str(work / "ann" / "Markers"), "--outs", str(work / "outs"),
                        "--multiqc", str(root / "mqc"))
    assert result.returncode == 0, result.stderr


def test_a_multiqc_report_of_two_samples_has_every_section(example_h5, mouse_matrix, tmp_path):
    (tmp_path / "mqc").mkdir()
    _assemble(example_h5, "human_1", tmp_path)
    _assemble(mouse_matrix, "mouse_1", tmp_path)
    assert sorted(p.name for p in (tmp_path / "mqc").iterdir()) == [
        "human_1_markers_cell_types_mqc.tsv", "human_1_validation_mqc.tsv",
        "mouse_1_markers_cell_types_mqc.tsv", "mouse_1_validation_mqc.tsv"]
    # As the workflow writes it from the `versions` topic.
    (tmp_path / "mqc" / "cellannotate_software_mqc_versions.yml").write_text(
        "VALIDATE_MATRIX:\n    cellannotate: 0.1.0\nASSEMBLE_OUTPUTS:\n    cellannotate: 0.1.0\n")
    config = Path(__file__).resolve().parents[1] / "assets" / "multiqc_config.yml"
    result = subprocess.run([str(Path(sys.executable).parent / "multiqc"), "--force", "--config", str(config),
                             "--outdir", str(tmp_path / "report"), str(tmp_path / "mqc")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "report" / "multiqc_report.html").read_text()
    for section in ("cellannotate_validation", "cellannotate_cell_types_markers", "Software Versions"):
        assert section in html, section
    data = tmp_path / "report" / "multiqc_data"
    table = next(data.glob("*cellannotate_validation*")).read_text()
    assert "human_1" in table and "mouse_1" in table and "segmented" in table
    bars = next(data.glob("*cellannotate_cell_types_markers*")).read_text()
    assert "human_1" in bars and "mouse_1" in bars
