"""Find, check and save the 10x Cloud access token.

The token file holds the token in one of the two forms Cell Ranger 10's client reads
(``common.py``: ``read_cli_token`` and ``read_full_token``): plain text on one line, or
JSON ``{"<server URL>": {"cli_token": "...", "cloudflare_token": {header: value}}}`` that
also names the server and, behind Cloudflare Access, the headers to send. Under Nextflow
the token comes as a secret in ``$TENX_CLOUD_TOKEN`` instead, so it is never a file in a
work directory. Order: ``--tenx-cloud-token-path``, then ``$TENX_CLOUD_TOKEN``, then the
saved default location. The token
value is wrapped in :class:`CloudToken`, whose ``str``/``repr`` never show it, and no
message raised here quotes the file's content. Every token read is remembered for
:func:`cellannotate.redaction.redact`, which scrubs all text that leaves the process.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from urllib.parse import urlsplit

from cellannotate.io.atomic import ensure_folder, write_text_atomic
from cellannotate.io.checked import parse_json
from cellannotate.errors import TokenError
from cellannotate.redaction import remember

TOKEN_PATH_ENV = "CELLANNOTATE_TENX_CLOUD_TOKEN_PATH"
TOKEN_ENV = "TENX_CLOUD_TOKEN"
TOKEN_FILE_NAME = "10xcloud_token.json"
SECURITY_PAGE = "https://cloud.10xgenomics.com/account/security"
SETUP_COMMAND = "cellannotate cloud auth setup"

MAX_TOKEN_FILE_BYTES = 16 * 1024
_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]{16,4096}")


class CloudToken:
    """A 10x Cloud access token that does not print itself.

    ``server`` is the server a JSON token names (``None`` for a plain token); ``headers``
    are its Cloudflare Access headers, secrets as well.
    """

    __slots__ = ("_value", "server", "_headers")

    def __init__(self, value: str, server: str | None = None, headers: dict | None = None):
        self._value, self.server, self._headers = value, server, dict(headers or {})
        remember(value, *self._headers.values())

    def reveal(self) -> str:
        """The token itself, for the one place that sends it."""
        return self._value

    def reveal_headers(self) -> dict:
        """The extra request headers (Cloudflare Access), for the same place."""
        return dict(self._headers)

    def __repr__(self) -> str:
        return "CloudToken(<redacted>)"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("a CloudToken cannot be pickled")


def default_token_path() -> Path:
    """Where ``cellannotate cloud auth setup`` saves the token.

    ``$CELLANNOTATE_TENX_CLOUD_TOKEN_PATH`` if set, else
    ``$XDG_CONFIG_HOME/cellannotate/10xcloud_token.json`` (``~/.config`` by default).
    """
    override = os.environ.get(TOKEN_PATH_ENV)
    if override:
        return Path(override).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config) / "cellannotate" / TOKEN_FILE_NAME

# HTTP header names are tokens; values are visible ASCII and spaces (no CR, LF, NUL or other controls).
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}")
_HEADER_VALUE = re.compile(r"[\x20-\x7e]{0,8192}")


def _check_value(value: str) -> str:
    if not _TOKEN.fullmatch(value):
        raise TokenError(
            "the 10x Cloud token is malformed: expected 16-4096 letters, digits or . _ ~ + / = - "
            f"(copy it again from {SECURITY_PAGE})"
        )
    return value


def _parse_json_token(text: str) -> CloudToken:
    """The JSON form: one server URL mapped to ``cli_token`` and, optionally, ``cloudflare_token``."""
    body = parse_json(text, "the 10x Cloud token (JSON form)", TokenError)
    if len(body) != 1:
        raise TokenError("a JSON 10x Cloud token must map one server URL to its token")
    server, info = next(iter(body.items()))
    if not isinstance(info, dict) or not isinstance(info.get("cli_token"), str):
        raise TokenError("a JSON 10x Cloud token must hold a 'cli_token' string under its server URL")
    headers = info.get("cloudflare_token") or {}
    if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise TokenError("the 'cloudflare_token' of a JSON 10x Cloud token must map header names to strings")
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    if not all(_HEADER_NAME.fullmatch(k) and _HEADER_VALUE.fullmatch(v) for k, v in headers.items()):
        raise TokenError("the 'cloudflare_token' headers of the JSON 10x Cloud token hold line breaks, control "
                         "characters or a malformed name (copy the token file again)")
    server = server if urlsplit(server).scheme else f"https://{server}"
    return CloudToken(_check_value(info["cli_token"].strip()), server, headers)


def parse_token(text: str) -> CloudToken:
    """Check the token's form: one line of URL-safe characters, 16 to 4096 long, or the JSON form."""
    value = text.strip()
    if not value:
        raise TokenError("the 10x Cloud token is empty")
    if value.startswith("{"):
        return _parse_json_token(value)
    if "\n" in value or "\r" in value:
        raise TokenError("the 10x Cloud token must be a single line")
    return CloudToken(_check_value(value))


def resolve_token_path(path: Path | None) -> Path:
    """The token file to use: ``path`` if given, else :func:`default_token_path`."""
    return Path(path).expanduser() if path is not None else default_token_path()


def token_source(path: Path | None = None) -> str:
    """Where :func:`read_token` takes the token from, for messages (never the token)."""
    if path is None and os.environ.get(TOKEN_ENV):
        return f"${TOKEN_ENV}"
    return str(resolve_token_path(path))


def read_token(path: Path | None = None) -> CloudToken:
    """Read and check the token; raise :class:`TokenError` with what to do."""
    given = path is not None
    if not given and os.environ.get(TOKEN_ENV):
        try:
            return parse_token(os.environ[TOKEN_ENV])
        except TokenError as exc:
            raise TokenError(f"${TOKEN_ENV}: {exc}") from None
    path = resolve_token_path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        where = "the given --tenx-cloud-token-path" if given else "the saved default location"
        raise TokenError(
            f"10x Cloud token file not found at {where}: {path}; create one with `{SETUP_COMMAND}` "
            "or pass --tenx-cloud-token-path"
        ) from None
    except OSError as exc:
        raise TokenError(f"cannot reach 10x Cloud token file {path}: {exc.strerror} (check the permissions "
                         "of the file and of its folders)") from None
    if stat.S_ISDIR(info.st_mode):
        raise TokenError(f"10x Cloud token path is a directory, not a file: {path}")
    if not stat.S_ISREG(info.st_mode):
        raise TokenError(f"10x Cloud token path is not a regular file: {path}")
    if info.st_mode & 0o077:
        raise TokenError(
            f"10x Cloud token file {path} is readable by group or others (mode {stat.S_IMODE(info.st_mode):04o}); "
            f"restrict it with: chmod 600 {path}"
        )
    if info.st_size > MAX_TOKEN_FILE_BYTES:
        raise TokenError(f"10x Cloud token file {path} is too large to be a token ({info.st_size} bytes)")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TokenError(f"cannot read 10x Cloud token file {path}: {exc.strerror} (check its permissions)") from None
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise TokenError(f"10x Cloud token file {path} is not plain text") from None
    try:
        return parse_token(text)
    except TokenError as exc:
        raise TokenError(f"{path}: {exc}") from None


def save_token(token: CloudToken, path: Path | None = None) -> Path:
    """Write the token to ``path`` (default location if None) with mode 0600, atomically."""
    path = resolve_token_path(path)
    new_folder = not os.path.isdir(path.parent)
    ensure_folder(path.parent, "token folder")
    if new_folder:
        path.parent.chmod(0o700)
    text = token.reveal()
    if token.server is not None:  # the JSON form, as it was given
        headers = token.reveal_headers()
        text = json.dumps({token.server: {"cli_token": text, **({"cloudflare_token": headers} if headers else {})}})
    write_text_atomic(path, text + "\n", mode=0o600)
    return path
