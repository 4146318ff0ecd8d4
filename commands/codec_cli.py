"""`afterword codec`: keys for the payload codec (runtime/payload_codec.py).

    afterword codec new-key [--id ID]     print a new key line for a keyring
    afterword codec rotate                 put a new key first in the data directory's keyring
"""

from __future__ import annotations

import os
from pathlib import Path

import click


@click.group("codec")
def codec_group() -> None:
    """Keys that encrypt workflow history (AFTERWORD_PAYLOAD_KEYS, docs/operations.md)."""


@codec_group.command("new-key")
@click.option("--id", "key_id", help="the key's id (default: k<date>-<random>)")
def new_key(key_id: str | None) -> None:
    """Print a new AES-256 key as a keyring line, `<id> <base64>`, for a file or variable of your own."""
    from afterword.runtime.payload_codec import PayloadKeyError, new_key_line

    try:
        click.echo(new_key_line(key_id))
    except PayloadKeyError as err:
        raise click.ClickException(str(err)) from None


@codec_group.command("rotate")
@click.option("--id", "key_id", help="the new key's id (default: k<date>-<random>)")
def rotate(key_id: str | None) -> None:
    """Seal new payloads with a new key, keeping the old ones for what they sealed: the data directory's
    keyring gets a new first line. Restart the worker (and the intake) to use it."""
    from afterword.runtime.payload_codec import PayloadKeyError, default_key_file, new_key_line, parse_keyring
    from afterword.settings import Settings, SettingsError

    try:
        settings = Settings.from_env()
    except SettingsError as err:
        raise click.ClickException(str(err)) from None
    if settings.payload_keys:
        raise click.ClickException(
            "AFTERWORD_PAYLOAD_KEYS names the keys: put a new key first in what it names "
            "(`afterword codec new-key` prints one), then restart the worker"
        )
    path: Path = default_key_file(settings)
    try:
        text = path.read_text(encoding="utf-8")
        parse_keyring(text, str(path))
        line = new_key_line(key_id)
    except OSError as err:
        raise click.ClickException(f"{path}: {err.strerror}; the worker writes it on its first start") from None
    except PayloadKeyError as err:
        raise click.ClickException(str(err)) from None
    lines = text.splitlines(keepends=True)
    header = [x for x in lines if x.lstrip().startswith("#")]
    rest = [x for x in lines if not x.lstrip().startswith("#")]
    tmp = path.with_name(path.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("".join(header) + line + "\n" + "".join(rest))
    os.replace(tmp, path)
    click.echo(f"{line.split()[0]} now seals new payloads ({path}); restart the worker to use it")


def register(main: click.Group) -> None:
    main.add_command(codec_group)
