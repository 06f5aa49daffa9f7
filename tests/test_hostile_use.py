"""Used the way people really use it, or abuse it: nothing of theirs is lost, every error is one line.

Each test is a case found by trying the tool as a hostile user would: a Space Ranger run
folder, sample ids that name other places, outputs that cannot be written, unreadable
tokens, broken inputs to single steps.
"""

import os
import stat
import subprocess
import sys

import h5py
import pytest

from conftest import assert_one_line_error, run_script, small_matrix, validation_json


def cellannotate(*args, cwd=None, user=None, stdin=None, env=None):
    cmd = [sys.executable, "-m", "cellannotate", *args]
    if user is not None:
        cmd = ["setpriv", "--reuid", user, "--regid", user, "--clear-groups", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, input=stdin, env=env, timeout=180)


def snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def spaceranger_run(tmp_path, example_h5):
    """A Space Ranger run folder SAMPLE/outs/ with the segmented matrix inside."""
    outs = tmp_path / "SAMPLE" / "outs"
    (outs / "segmented_outs").mkdir(parents=True)
    (outs / "spatial").mkdir()
    (outs / "segmented_outs" / "filtered_feature_bc_matrix.h5").write_bytes(example_h5.read_bytes())
    (outs / "binned_outputs").mkdir()
    (outs / "web_summary.html").write_text("<html>Space Ranger</html>")
    (outs / "spatial" / "tissue_hires_image.png").write_bytes(b"\x89PNG fake")
    return tmp_path


# -- a Space Ranger run folder is never replaced -------------------------------------------------

def test_a_space_ranger_outs_folder_is_refused_and_left_whole(spaceranger_run):
    before = snapshot(spaceranger_run / "SAMPLE")
    result = cellannotate("annotate", "--id", "SAMPLE", "--matrix", "SAMPLE/outs/segmented_outs/filtered_feature_bc_matrix.h5",
                          "--cell-annotation-model", "markers", cwd=spaceranger_run)
    assert_one_line_error(result, 7, "--outdir")
    assert snapshot(spaceranger_run / "SAMPLE") == before
    assert sorted(p.name for p in (spaceranger_run / "SAMPLE").iterdir()) == ["outs"]


def test_the_same_run_with_another_outdir_works_beside_it(spaceranger_run):
    result = cellannotate("annotate", "--id", "SAMPLE", "--matrix", "SAMPLE/outs/segmented_outs/filtered_feature_bc_matrix.h5",
                          "--cell-annotation-model", "markers", "--outdir", "SAMPLE_cell_types", cwd=spaceranger_run)
    assert result.returncode == 0, result.stderr
    assert (spaceranger_run / "SAMPLE_cell_types" / "outs" / "web_summary_cell_types.html").exists()
    rerun = cellannotate("annotate", "--id", "SAMPLE", "--matrix", "SAMPLE/outs/segmented_outs/filtered_feature_bc_matrix.h5",
                         "--cell-annotation-model", "markers", "--outdir", "SAMPLE_cell_types", cwd=spaceranger_run)
    assert rerun.returncode == 0, rerun.stderr


def test_a_regular_file_named_outs_is_refused_and_kept(tmp_path, example_h5):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "outs").write_text("my notes")
    result = cellannotate("annotate", "--id", "s1", "--matrix", str(example_h5), "--cell-annotation-model", "markers",
                          "--outdir", str(tmp_path / "run"))
    assert_one_line_error(result, 7, "not a folder")
    assert (tmp_path / "run" / "outs").read_text() == "my notes"


def test_assemble_step_refuses_a_foreign_outs_folder(spaceranger_run, tmp_path, example_h5):
    validation = tmp_path / "validation.json"
    assert run_script("validate_matrix.py", "--matrix", str(example_h5), "--out", str(validation)).returncode == 0
    assert run_script("annotate_markers.py", "--matrix", str(example_h5), "--validation", str(validation),
                      "--outdir", str(tmp_path / "ann")).returncode == 0
    outs = spaceranger_run / "SAMPLE" / "outs"
    before = snapshot(outs)
    result = run_script("assemble_outputs.py", "--id", "SAMPLE", "--matrix", str(example_h5), "--validation", str(validation),
                        "--annotations", str(tmp_path / "ann" / "Markers"), "--outs", str(outs))
    assert_one_line_error(result, 7, "not written by cellannotate")
    assert snapshot(outs) == before


# -- sample ids stay inside the run folder -------------------------------------------------------

BAD_IDS = ["/abs/path/x", "../x", "", ".", "..", "a/b", "x" * 300, "s 1", "s.1", "ü"]


@pytest.mark.parametrize("sample_id", BAD_IDS)
def test_a_sample_id_that_could_name_another_place_is_refused(sample_id, tmp_path, example_h5):
    result = cellannotate("annotate", "--id", sample_id, "--matrix", str(example_h5), "--cell-annotation-model", "markers",
                          cwd=tmp_path)
    assert_one_line_error(result, 2, "not a valid sample id")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("sample_id", ["../x", "x" * 65, "."])
def test_the_assemble_step_checks_the_sample_id_too(sample_id, tmp_path, example_h5):
    result = run_script("assemble_outputs.py", "--id", sample_id, "--matrix", str(example_h5), "--validation",
                        str(tmp_path / "v.json"), "--annotations", str(tmp_path / "ann"), "--outs", str(tmp_path / "outs"))
    assert_one_line_error(result, 2, "not a valid sample id")


@pytest.mark.parametrize("sample_id", ["SAMPLE_1", "a", "A-b_9", "x" * 64])
def test_space_ranger_style_ids_are_accepted(sample_id):
    from cellannotate.sample_id import check_sample_id

    assert check_sample_id(sample_id) == sample_id


def test_the_samplesheet_schema_uses_the_same_rule():
    import json
    import re

    from cellannotate.sample_id import PATTERN
    from conftest import REPO

    schema = json.loads((REPO / "assets" / "schema_input.json").read_text())
    pattern = schema["items"]["properties"]["sample"]["pattern"]
    for sample_id in BAD_IDS + ["ok_1", "x" * 64]:
        assert bool(re.search(pattern, sample_id)) == bool(PATTERN.fullmatch(sample_id)), sample_id


# -- outputs that cannot be written: one line, exit 7 --------------------------------------------

def annotate_into(outdir, example_h5, user=None):
    return cellannotate("annotate", "--id", "s1", "--matrix", str(example_h5), "--cell-annotation-model", "markers",
                        "--outdir", str(outdir), user=user)


def test_an_outdir_that_is_a_file_or_a_device(tmp_path, example_h5):
    (tmp_path / "file").write_text("x")
    for outdir in (tmp_path / "file", "/dev/null"):
        assert_one_line_error(annotate_into(outdir, example_h5), 7, "not a folder")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_an_unwritable_outdir(open_folder, example_h5, other_user):
    locked = open_folder / "locked"
    locked.mkdir(mode=0o755)
    matrix = open_folder / "m.h5"
    matrix.write_bytes(example_h5.read_bytes())
    matrix.chmod(0o644)
    result = annotate_into(locked, matrix, user=other_user)
    assert_one_line_error(result, 7, "not writable")
    assert list(locked.iterdir()) == []


def test_a_read_only_filesystem(small_filesystem, example_h5):
    result = annotate_into(small_filesystem(64, read_only=True) / "run", example_h5)
    assert_one_line_error(result, 7, "Read-only file system")


def test_a_full_filesystem_leaves_nothing_half_written(small_filesystem, example_h5):
    disk = small_filesystem(200)
    result = annotate_into(disk / "run", example_h5)
    assert_one_line_error(result, 7, "No space left on device")
    assert list(disk.iterdir()) == []


def test_validate_out_must_be_a_file_and_a_device_is_never_replaced(tmp_path, example_h5):
    result = run_script("validate_matrix.py", "--matrix", str(example_h5), "--out", str(tmp_path))
    assert_one_line_error(result, 7, "it is a folder")
    for device in ("/dev/full", "/dev/null"):
        result = run_script("validate_matrix.py", "--matrix", str(example_h5), "--out", device)
        assert_one_line_error(result, 7, "not a regular file")
        assert stat.S_ISCHR(os.stat(device).st_mode)


def test_example_out_pointing_at_a_folder(tmp_path):
    result = cellannotate("example", "--out", str(tmp_path))
    assert_one_line_error(result, 7, "it is a folder")


# -- the token file --------------------------------------------------------------------------

def test_a_token_file_the_user_cannot_read(open_folder, example_h5, other_user):
    token = open_folder / "token"
    token.write_text("a_token_0123456789abcdef\n")
    token.chmod(0o600)  # root's, so nobody else can read it
    result = run_script("check_token.py", "--tenx-cloud-token-path", str(token), user=other_user)
    assert_one_line_error(result, 4, "cannot read 10x Cloud token file")


def test_a_token_file_in_a_folder_the_user_cannot_enter(open_folder, other_user):
    private = open_folder / "private"
    private.mkdir(mode=0o700)
    (private / "token").write_text("a_token_0123456789abcdef\n")
    result = run_script("check_token.py", "--tenx-cloud-token-path", str(private / "token"), user=other_user)
    assert_one_line_error(result, 4, "cannot reach 10x Cloud token file")


def test_auth_setup_into_a_folder_or_an_unwritable_place(tmp_path, open_folder, other_user):
    token = "a_token_0123456789abcdef\n"
    result = cellannotate("cloud", "auth", "setup", "--stdin", "--tenx-cloud-token-path", str(tmp_path), stdin=token)
    assert_one_line_error(result, 7, "it is a folder")
    locked = open_folder / "locked"
    locked.mkdir(mode=0o755)
    result = cellannotate("cloud", "auth", "setup", "--stdin", "--tenx-cloud-token-path", str(locked / "t.json"),
                          stdin=token, user=other_user)
    assert_one_line_error(result, 7, "not writable")
    assert "a_token" not in result.stderr


# -- broken inputs to single steps -------------------------------------------------------------

def test_an_hdf5_soft_link_loop(tmp_path):
    path = tmp_path / "loop.h5"
    with h5py.File(path, "w") as h5:
        h5["matrix"] = h5py.SoftLink("/loop")
        h5["loop"] = h5py.SoftLink("/matrix")
    result = run_script("validate_matrix.py", "--matrix", str(path), "--out", str(tmp_path / "v.json"))
    assert_one_line_error(result, 3, "")


@pytest.mark.parametrize("keep", [0.0, 0.02, 0.5, 0.97])
def test_assemble_with_a_truncated_cell_types_csv(keep, tmp_path, example_h5):
    validation = tmp_path / "validation.json"
    assert run_script("validate_matrix.py", "--matrix", str(example_h5), "--out", str(validation)).returncode == 0
    assert run_script("annotate_markers.py", "--matrix", str(example_h5), "--validation", str(validation),
                      "--outdir", str(tmp_path / "ann")).returncode == 0
    csv = tmp_path / "ann" / "Markers" / "cell_types.csv"
    data = csv.read_bytes()
    csv.write_bytes(data[: int(len(data) * keep)])
    result = run_script("assemble_outputs.py", "--id", "s1", "--matrix", str(example_h5), "--validation", str(validation),
                        "--annotations", str(tmp_path / "ann" / "Markers"), "--outs", str(tmp_path / "outs"))
    assert_one_line_error(result, 7, "cell_types.csv")
    assert not (tmp_path / "outs").exists()


@pytest.mark.parametrize("script", ["annotate_markers.py", "annotate_azimuth.py"])
def test_steps_refuse_duplicate_barcodes_and_empty_matrices_on_their_own(script, tmp_path, standin):
    duplicated = small_matrix(tmp_path / "dup.h5", n_cells=4, barcodes=["cellid_1-1", "cellid_2-1", "cellid_1-1", "cellid_3-1"])
    empty = small_matrix(tmp_path / "empty.h5", n_cells=0)
    # A report that another, valid matrix of the same size earned: the step must look for itself.
    borrowed = validation_json(small_matrix(tmp_path / "ok.h5", n_cells=4), tmp_path)
    extra = ["--azimuth-model", str(standin)] if script == "annotate_azimuth.py" else []
    for matrix, message in ((duplicated, "duplicate barcodes"), (empty, "no cells")):
        result = run_script(script, "--matrix", str(matrix), "--validation", str(borrowed),
                            "--outdir", str(tmp_path / "ann"), *extra)
        assert_one_line_error(result, 3, message)
    assert not (tmp_path / "ann").exists() or not any((tmp_path / "ann").iterdir())


# -- what interrupted runs leave, and permissions --------------------------------------------

def test_a_killed_run_leftovers_are_cleared_by_the_next_run(tmp_path, example_h5):
    import signal

    run = tmp_path / "run"
    run.mkdir()
    killer = ("import os, signal\n"
              "import cellannotate.outputs.assemble as a\n"
              "real = a.write_h5ad\n"
              "def die(*args, **kw):\n"
              "    os.kill(os.getpid(), signal.SIGKILL)\n"
              "a.write_h5ad = die\n"
              "from cellannotate.cli import main\n"
              "import sys; sys.argv = ['cellannotate'] + sys.argv[1:]\n"
              "main()\n")
    args = ["annotate", "--id", "s1", "--matrix", str(example_h5), "--cell-annotation-model", "markers", "--outdir", str(run)]
    killed = subprocess.run([sys.executable, "-c", killer, *args], capture_output=True, text=True, timeout=180)
    assert killed.returncode == -signal.SIGKILL
    assert {p.name.split(".")[1] if p.name.startswith(".outs") else p.name[:6] for p in run.iterdir()} == {".work-", "outs"}
    result = annotate_into(run, example_h5)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in run.iterdir()) == ["outs"]


def test_outs_follows_the_umask(tmp_path, example_h5):
    env = dict(os.environ)
    code = ("import os, sys; os.umask(0o022)\n"
            "from cellannotate.cli import main\n"
            "sys.argv = ['cellannotate'] + sys.argv[1:]\n"
            "main()\n")
    result = subprocess.run([sys.executable, "-c", code, "annotate", "--id", "s1", "--matrix", str(example_h5),
                             "--cell-annotation-model", "markers", "--outdir", str(tmp_path / "run")],
                            capture_output=True, text=True, env=env, timeout=180)
    assert result.returncode == 0, result.stderr
    outs = tmp_path / "run" / "outs"
    for path in [outs, *outs.rglob("*")]:
        expected = 0o755 if path.is_dir() else 0o644
        assert stat.S_IMODE(path.stat().st_mode) == expected, path
