"""The payload codec: what workflow history carries is encrypted with AES-GCM.

Workflow inputs and results, activity inputs and results, update and signal arguments, query answers and
failure messages (through the failure converter's encoded attributes) pass through `PayloadEncryption` on
their way to Temporal and back. Each encrypted payload names the key that sealed it (`encryption-key-id`,
also bound into the cipher as associated data), so a keyring of several keys decrypts everything sealed
with any of them while only its first key seals new payloads: that is how keys rotate.

A payload without the codec's encoding is passed through as it is: histories written before encryption
was turned on (and the stored replay histories of the tests) still replay and read.

Keys come from AFTERWORD_PAYLOAD_KEYS, a comma-separated list of `env:NAME` / `file:/path` references;
each holds a keyring, one key a line, `<id> <base64 of 32 bytes>` (`#` starts a comment). Unset: the file
`payload-keys` in the data directory, which the worker writes (0600) with a new key on its first start.

The codec lives here, in the data converter, never in workflows/: `cryptography` cannot be imported inside
the workflow sandbox, and the converter runs outside it.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import logging
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

from afterword.settings import Settings

log = logging.getLogger(__name__)

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12
KEY_BYTES = 32  # AES-256
KEY_FILENAME = "payload-keys"
_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_ENV_REF = re.compile(r"^env:[A-Za-z_][A-Za-z0-9_]*$")
_FILE_REF = re.compile(r"^file:/\S+$")


class PayloadKeyError(ValueError):
    """A key setting that cannot be used; the message names the setting, the reference and what to fix."""


class MissingPayloadKey(Exception):
    """This process cannot seal or open a payload: it lacks the key (the message says which and where)."""


@dataclass(frozen=True)
class KeyRing:
    """Keys by id, in the order given: the first seals, every one opens."""

    keys: tuple[tuple[str, bytes], ...]
    origin: str  # the setting they came from, for messages

    @property
    def primary(self) -> str:
        return self.keys[0][0]

    def get(self, key_id: str) -> bytes | None:
        return next((key for kid, key in self.keys if kid == key_id), None)


def parse_keyring(text: str, origin: str) -> list[tuple[str, bytes]]:
    """`<id> <base64 key>` lines (comments and blank lines skipped); PayloadKeyError names the bad line."""
    found: list[tuple[str, bytes]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or not _KEY_ID.match(parts[0]):
            raise PayloadKeyError(
                f"{origin}, line {number}: write a key as `<id> <base64 of {KEY_BYTES} bytes>` (the id: letters, "
                "digits, '.', '_', '-'); `afterword codec new-key` prints one"
            )
        try:
            key = base64.b64decode(parts[1], validate=True)
        except (binascii.Error, ValueError):
            raise PayloadKeyError(f"{origin}, line {number}: key {parts[0]!r} is not base64") from None
        if len(key) != KEY_BYTES:
            raise PayloadKeyError(
                f"{origin}, line {number}: key {parts[0]!r} is {len(key)} bytes; AES-256 needs {KEY_BYTES}"
            )
        if any(kid == parts[0] for kid, _ in found):
            raise PayloadKeyError(f"{origin}, line {number}: key id {parts[0]!r} appears twice")
        found.append((parts[0], key))
    return found


def _resolve(ref: str, env: Mapping[str, str]) -> tuple[str, str]:
    """(text, where) behind one reference."""
    if _ENV_REF.match(ref):
        value = env.get(ref[4:])
        if not value:
            raise PayloadKeyError(f"AFTERWORD_PAYLOAD_KEYS: {ref}: environment variable {ref[4:]} is not set or empty")
        return value.replace(";", "\n"), f"AFTERWORD_PAYLOAD_KEYS {ref}"
    if _FILE_REF.match(ref):
        path = Path(ref[5:])
        try:
            return path.read_text(encoding="utf-8"), str(path)
        except OSError as exc:
            raise PayloadKeyError(f"AFTERWORD_PAYLOAD_KEYS: {ref}: cannot read the file ({exc.strerror})") from None
    raise PayloadKeyError(f"AFTERWORD_PAYLOAD_KEYS: {ref!r} is not a reference: write env:NAME or file:/path")


def default_key_file(settings: Settings) -> Path:
    return settings.data_dir.expanduser().resolve() / KEY_FILENAME


def load_keyring(settings: Settings) -> KeyRing | None:
    """The keys AFTERWORD_PAYLOAD_KEYS names, else those of the data directory's key file; None when there
    are none (the file was never written: no worker has started on this data directory)."""
    env = settings.temporal_client_profile_env() or os.environ
    if settings.payload_keys:
        keys: list[tuple[str, bytes]] = []
        for ref in (part.strip() for part in settings.payload_keys.split(",")):
            if not ref:
                continue
            text, where = _resolve(ref, env)
            for key_id, key in parse_keyring(text, where):
                if all(kid != key_id for kid, _ in keys):
                    keys.append((key_id, key))
        if not keys:
            raise PayloadKeyError(f"AFTERWORD_PAYLOAD_KEYS={settings.payload_keys}: no key in what it names")
        return KeyRing(tuple(keys), "AFTERWORD_PAYLOAD_KEYS")
    path = default_key_file(settings)
    if not path.is_file():
        return None
    keys = parse_keyring(path.read_text(encoding="utf-8"), str(path))
    if not keys:
        raise PayloadKeyError(f"{path}: no key in the file; add one (`afterword codec new-key`) or remove the file")
    return KeyRing(tuple(keys), str(path))


def new_key_line(key_id: str | None = None) -> str:
    """A fresh key as a keyring line: `<id> <base64>`; the id defaults to the date and a random suffix."""
    key_id = key_id or f"k{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(3)}"
    if not _KEY_ID.match(key_id):
        raise PayloadKeyError(f"{key_id!r} is not a key id: use letters, digits, '.', '_', '-' (at most 64)")
    return f"{key_id} {base64.b64encode(AESGCM.generate_key(bit_length=KEY_BYTES * 8)).decode()}"


def ensure_payload_keys(settings: Settings) -> Path | None:
    """The worker's first start: with encryption on and no AFTERWORD_PAYLOAD_KEYS, write a keyring with one
    new key into the data directory (0600), unless it is there. Returns the file written, if one was."""
    if settings.payload_encryption == "off" or settings.payload_keys:
        return None
    path = default_key_file(settings)
    if path.exists():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    line = new_key_line()
    body = (
        "# afterword payload keys: `<id> <base64 key>`, one a line. The first seals new payloads; every key\n"
        "# opens what it sealed. To rotate: put a new key first (`afterword codec new-key`), keep the old ones.\n"
        f"{line}\n"
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process wrote it a moment ago: use theirs
        return None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(body)
    log.info("payload encryption: generated key %s in %s", line.split()[0], path)
    return path


class PayloadEncryption(PayloadCodec):
    """AES-GCM per payload: a random 96-bit nonce, the key id as associated data, the serialised payload
    (its metadata included) as the plaintext."""

    def __init__(self, ring: KeyRing | None, missing_hint: str = "") -> None:
        self.ring = ring
        self.missing_hint = missing_hint
        self._ciphers: dict[str, AESGCM] = {}

    def _cipher(self, key_id: str) -> AESGCM | None:
        cipher = self._ciphers.get(key_id)
        if cipher is None and self.ring is not None:
            key = self.ring.get(key_id)
            if key is not None:
                cipher = self._ciphers[key_id] = AESGCM(key)
        return cipher

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        if self.ring is None:
            raise MissingPayloadKey(f"payload encryption is on, but this process has no key. {self.missing_hint}")
        key_id = self.ring.primary
        cipher = self._cipher(key_id)
        assert cipher is not None
        aad = key_id.encode()
        sealed = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID: aad},
                    data=nonce + cipher.encrypt(nonce, payload.SerializeToString(), aad),
                )
            )
        return sealed

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        opened = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                opened.append(payload)  # written before encryption was on: as it is
                continue
            key_id = payload.metadata.get(KEY_ID, b"").decode("utf-8", "replace")
            cipher = self._cipher(key_id)
            if cipher is None:
                where = f" (this process's keys: {self.ring.origin})" if self.ring else ""
                raise MissingPayloadKey(
                    f"a payload is sealed with key {key_id!r}, which this process does not have{where}. "
                    f"{self.missing_hint}"
                )
            data = payload.data
            try:
                plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], key_id.encode())
            except InvalidTag:
                raise MissingPayloadKey(
                    f"a payload sealed with key {key_id!r} does not open with the key of that id here: the key "
                    "was replaced, or the payload altered"
                ) from None
            opened.append(Payload.FromString(plain))
        return opened


def _missing_hint(settings: Settings) -> str:
    return (
        f"The worker keeps its key in {default_key_file(settings)}: run this with the same AFTERWORD_DATA_DIR, or "
        "copy that file here and set AFTERWORD_PAYLOAD_KEYS=file:/path/to/it (docs/operations.md, payload encryption)."
    )


def codec_for(settings: Settings) -> PayloadEncryption | None:
    """The codec these settings ask for (None: encryption off). PayloadKeyError for keys that do not load."""
    if settings.payload_encryption == "off":
        return None
    return PayloadEncryption(load_keyring(settings), _missing_hint(settings))


def data_converter(settings: Settings, codec: PayloadEncryption | None = None) -> DataConverter:
    """The pydantic converter with the payload codec (and failure messages moved into encoded attributes, so
    the codec seals them too); with encryption off, the pydantic converter as it is."""
    codec = codec or codec_for(settings)
    if codec is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
