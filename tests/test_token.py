"""The 10x Cloud token: where it is found, what is refused, and that it never leaks."""

import os
import stat

import pytest
from typer.testing import CliRunner

from cellannotate import cli
from cellannotate.errors import TokenError
from cellannotate.annotators.cloud.token import TOKEN_ENV, TOKEN_PATH_ENV, CloudToken, default_token_path, read_token
from conftest import assert_one_line_error, run_script

SECRET = "tok_9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c"


def _token_file(path, text=SECRET + "\n", mode=0o600):
    path.write_text(text)
    path.chmod(mode)
    return path


def _check(path, env=None):
    env = {k: v for k, v in (env or os.environ).items() if k != TOKEN_ENV}
    args = ["--tenx-cloud-token-path", str(path)] if path is not None else []
    return run_script("check_token.py", *args, env=env)


def _assert_no_leak(result):
    assert SECRET not in result.stdout and SECRET not in result.stderr


def test_valid_token_file_passes_and_is_not_printed(tmp_path):
    result = _check(_token_file(tmp_path / "10xcloud_token.json"))
    assert result.returncode == 0, result.stderr
    assert "token ok" in result.stderr
    _assert_no_leak(result)


def test_surrounding_whitespace_is_ignored(tmp_path):
    token = read_token(_token_file(tmp_path / "t", f"\n  {SECRET}  \n\n"))
    assert token.reveal() == SECRET


def test_missing_given_path_says_how_to_create_one(tmp_path):
    result = _check(tmp_path / "absent.json")
    assert_one_line_error(result, 4, "cellannotate cloud auth setup")
    assert "absent.json" in result.stderr


def test_default_location_is_used_and_overridable(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.delenv(TOKEN_PATH_ENV, raising=False)
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    assert default_token_path() == tmp_path / "cfg" / "cellannotate" / "10xcloud_token.json"
    override = _token_file(tmp_path / "elsewhere")
    monkeypatch.setenv(TOKEN_PATH_ENV, str(override))
    assert default_token_path() == override
    assert read_token(None).reveal() == SECRET


def test_missing_default_token_names_the_default_location(tmp_path):
    env = {**os.environ, TOKEN_PATH_ENV: str(tmp_path / "saved.json")}
    result = _check(None, env=env)
    assert_one_line_error(result, 4, "saved default location")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o666])
def test_group_or_world_readable_file_is_refused_with_chmod_hint(tmp_path, mode):
    path = _token_file(tmp_path / "t", mode=mode)
    result = _check(path)
    assert_one_line_error(result, 4, f"chmod 600 {path}")
    _assert_no_leak(result)


@pytest.mark.parametrize(
    "content,message",
    [
        ("", "empty"),
        ("   \n\t\n", "empty"),
        (SECRET + "\n" + SECRET, "single line"),
        ('{"token": "%s"}' % SECRET, "malformed"),
        (SECRET[:10], "malformed"),
        (SECRET + " " + SECRET, "malformed"),
    ],
)
def test_empty_or_malformed_token_is_refused_without_echoing_it(tmp_path, content, message):
    result = _check(_token_file(tmp_path / "t", content))
    assert_one_line_error(result, 4, message)
    _assert_no_leak(result)


def test_binary_and_oversized_files_are_refused(tmp_path):
    binary = tmp_path / "b"
    binary.write_bytes(b"\xff\xfe" + SECRET.encode())
    binary.chmod(0o600)
    assert_one_line_error(_check(binary), 4, "not plain text")
    big = _token_file(tmp_path / "big", "a" * 20_000)
    assert_one_line_error(_check(big), 4, "too large")


def test_directory_and_fifo_are_refused(tmp_path):
    folder = tmp_path / "dir"
    folder.mkdir(mode=0o700)
    assert_one_line_error(_check(folder), 4, "directory")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    assert_one_line_error(_check(fifo), 4, "not a regular file")


def test_token_object_never_shows_its_value():
    token = CloudToken(SECRET)
    assert SECRET not in repr(token) and SECRET not in str(token) and SECRET not in f"{token}"
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(token)
    err = TokenError(f"bad token {token}")
    assert SECRET not in str(err)


def test_setup_from_stdin_writes_mode_0600(tmp_path):
    dest = tmp_path / "conf" / "token"
    result = CliRunner().invoke(
        cli.app, ["cloud", "auth", "setup", "--stdin", "--tenx-cloud-token-path", str(dest)], input=SECRET + "\n"
    )
    assert result.exit_code == 0, result.output
    assert dest.read_text().strip() == SECRET
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert SECRET not in result.output
    assert read_token(dest).reveal() == SECRET


def test_setup_interactive_asks_twice_with_hidden_input(tmp_path, monkeypatch):
    answers = iter([SECRET, SECRET])
    prompts = []
    monkeypatch.setattr(cli.getpass, "getpass", lambda prompt: prompts.append(prompt) or next(answers))
    dest = tmp_path / "token"
    result = CliRunner().invoke(cli.app, ["cloud", "auth", "setup", "--tenx-cloud-token-path", str(dest)])
    assert result.exit_code == 0, result.output
    assert len(prompts) == 2
    assert read_token(dest).reveal() == SECRET


def test_setup_refuses_mismatched_confirmation_and_saves_nothing(tmp_path, monkeypatch):
    answers = iter([SECRET, SECRET[::-1]])
    monkeypatch.setattr(cli.getpass, "getpass", lambda prompt: next(answers))
    dest = tmp_path / "token"
    result = CliRunner().invoke(cli.app, ["cloud", "auth", "setup", "--tenx-cloud-token-path", str(dest)])
    assert isinstance(result.exception, TokenError)
    assert not dest.exists() and list(tmp_path.iterdir()) == []


def test_setup_refuses_malformed_token(tmp_path):
    dest = tmp_path / "token"
    result = CliRunner().invoke(
        cli.app, ["cloud", "auth", "setup", "--stdin", "--tenx-cloud-token-path", str(dest)], input="not a token\n"
    )
    assert isinstance(result.exception, TokenError)
    assert not dest.exists()


def test_nextflow_secret_in_environment_is_used_and_never_printed(tmp_path):
    env = {**os.environ, TOKEN_ENV: SECRET, TOKEN_PATH_ENV: str(tmp_path / "absent")}
    result = run_script("check_token.py", env=env)
    assert result.returncode == 0, result.stderr
    assert "$TENX_CLOUD_TOKEN" in result.stderr
    _assert_no_leak(result)


def test_malformed_secret_is_refused_without_echoing_it(tmp_path):
    env = {**os.environ, TOKEN_ENV: SECRET + " extra"}
    result = run_script("check_token.py", env=env)
    assert_one_line_error(result, 4, "$TENX_CLOUD_TOKEN")
    _assert_no_leak(result)


def test_given_path_wins_over_the_secret(tmp_path, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "z" * 40)
    assert read_token(_token_file(tmp_path / "t")).reveal() == SECRET
