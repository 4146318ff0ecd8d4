"""The payload codec: sealed payloads, key rotation, histories from before encryption, keys from references,
and the codec endpoint the Web UI and the `temporal` CLI read history through."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import httpx
import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError

from afterword.runtime.codec_server import CodecEndpointError, CodecServer
from afterword.runtime.payload_codec import (
    ENCODING,
    KEY_ID,
    MissingPayloadKey,
    PayloadKeyError,
    codec_for,
    data_converter,
    ensure_payload_keys,
    load_keyring,
    new_key_line,
)
from afterword.settings import Settings
from afterword.workflows.models import Actor, ChangesRequest

SECRET = "AKIAIOSFODNN7EXAMPLE"


def keyring(tmp_path: Path, name: str, *lines: str) -> str:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return f"file:{path}"


async def test_payloads_are_sealed_under_the_first_key_and_open_again(tmp_path: Path) -> None:
    converter = data_converter(Settings(payload_keys=keyring(tmp_path, "k", new_key_line("k1"))))
    [sealed] = await converter.encode([ChangesRequest(by="rita", reason=f"the title held {SECRET}")])
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata[KEY_ID] == b"k1"
    assert SECRET.encode() not in sealed.SerializeToString()
    [back] = await converter.decode([sealed], [ChangesRequest])
    assert back == ChangesRequest(by="rita", reason=f"the title held {SECRET}")


async def test_rotation_new_key_seals_old_keys_still_open(tmp_path: Path) -> None:
    old, new = new_key_line("old"), new_key_line("new")
    before = data_converter(Settings(payload_keys=keyring(tmp_path, "a", old)))
    after = data_converter(Settings(payload_keys=keyring(tmp_path, "b", new, old)))
    sealed_before = await before.encode([Actor(by="olivia")])
    assert await after.decode(sealed_before, [Actor]) == [Actor(by="olivia")]
    sealed_after = await after.encode([Actor(by="olivia")])
    assert sealed_after[0].metadata[KEY_ID] == b"new"
    with pytest.raises(MissingPayloadKey, match="'new'"):
        await before.decode(sealed_after, [Actor])


async def test_a_payload_without_the_codecs_encoding_passes_through(tmp_path: Path) -> None:
    converter = data_converter(Settings(payload_keys=keyring(tmp_path, "k", new_key_line("k1"))))
    plain = await pydantic_data_converter.encode([Actor(by="olivia")])  # history from before encryption
    assert await converter.decode(plain, [Actor]) == [Actor(by="olivia")]


async def test_an_altered_payload_does_not_open(tmp_path: Path) -> None:
    converter = data_converter(Settings(payload_keys=keyring(tmp_path, "k", new_key_line("k1"))))
    [sealed] = await converter.encode([Actor(by="olivia")])
    forged = Payload(metadata=dict(sealed.metadata), data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]))
    with pytest.raises(MissingPayloadKey, match="altered"):
        await converter.decode([forged], [Actor])


async def test_failure_messages_are_sealed_too(tmp_path: Path) -> None:
    converter = data_converter(Settings(payload_keys=keyring(tmp_path, "k", new_key_line("k1"))))
    failure = Failure()
    await converter.encode_failure(ApplicationError(f"cannot fetch with {SECRET}"), failure)
    assert SECRET not in failure.message and SECRET.encode() not in failure.SerializeToString()
    assert str(await converter.decode_failure(failure)) == f"cannot fetch with {SECRET}"


def test_the_worker_writes_a_key_of_its_own_on_first_start_readable_by_it_alone(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    assert load_keyring(settings) is None
    written = ensure_payload_keys(settings)
    assert written is not None and stat.S_IMODE(os.stat(written).st_mode) == 0o600
    ring = load_keyring(settings)
    assert ring is not None and len(ring.keys) == 1
    assert ensure_payload_keys(settings) is None and load_keyring(settings) == ring  # kept, not replaced
    assert ensure_payload_keys(Settings(data_dir=tmp_path / "off", payload_encryption="off")) is None
    assert not (tmp_path / "off").exists()


async def test_without_a_key_nothing_is_sent_in_clear_and_the_error_says_where_the_key_is(tmp_path: Path) -> None:
    codec = codec_for(Settings(data_dir=tmp_path))
    assert codec is not None
    with pytest.raises(MissingPayloadKey, match="payload-keys"):
        await codec.encode([Payload(data=b"x")])


def test_keys_from_the_environment_and_bad_keyrings_are_named(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KEYS", f"{new_key_line('a')};{new_key_line('b')}")
    ring = load_keyring(Settings(payload_keys="env:KEYS"))
    assert ring is not None and [k for k, _ in ring.keys] == ["a", "b"] and ring.primary == "a"
    bad = keyring(tmp_path, "bad", "# comment", "k1 " + base64.b64encode(b"short").decode())
    with pytest.raises(PayloadKeyError, match="line 2: key 'k1' is 5 bytes"):
        load_keyring(Settings(payload_keys=bad))
    with pytest.raises(PayloadKeyError, match="MISSING is not set"):
        load_keyring(Settings(payload_keys="env:MISSING"))
    with pytest.raises(PayloadKeyError, match="not a reference"):
        load_keyring(Settings(payload_keys="aSRpkdgmDWfPF1zWsIN8E289b49VcA8gJzlu0GdmHqI="))


# --- the codec endpoint ----------------------------------------------------------------------------

UI = "http://127.0.0.1:8233"


def _json(payloads: list[Payload]) -> dict[str, object]:
    return {"payloads": [{"metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                          "data": base64.b64encode(p.data).decode()} for p in payloads]}


async def test_the_codec_endpoint_decodes_for_the_web_ui_and_answers_its_preflight(tmp_path: Path) -> None:
    settings = Settings(payload_keys=keyring(tmp_path, "k", new_key_line("k1")))
    codec = codec_for(settings)
    assert codec is not None
    sealed = await data_converter(settings, codec).encode([Actor(by="olivia")])
    async with CodecServer(settings, codec, UI) as server, httpx.AsyncClient() as http:
        preflight = await http.options(f"{server.url}/decode", headers={
            "Origin": UI, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
        assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == UI
        other = await http.options(f"{server.url}/decode", headers={"Origin": "http://evil.example"})
        assert other.status_code == 403 and "access-control-allow-origin" not in other.headers
        decoded = await http.post(f"{server.url}/decode", json=_json(sealed), headers={"Origin": UI, "X-Namespace": "default"})
        assert decoded.status_code == 200 and decoded.headers["access-control-allow-origin"] == UI
        [payload] = decoded.json()["payloads"]
        assert json.loads(base64.b64decode(payload["data"])) == {"by": "olivia"}
        encoded = await http.post(f"{server.url}/encode", json=decoded.json())
        assert encoded.json()["payloads"][0]["metadata"]["encoding"] == base64.b64encode(ENCODING).decode()
        bad = await http.post(f"{server.url}/decode", content=b"not json")
        assert bad.status_code == 400 and "protobuf JSON" in bad.json()["error"]


async def test_beyond_loopback_the_codec_endpoint_needs_a_token_and_asks_for_it(tmp_path: Path, monkeypatch) -> None:
    keys = keyring(tmp_path, "k", new_key_line("k1"))
    codec = codec_for(Settings(payload_keys=keys))
    assert codec is not None
    with pytest.raises(CodecEndpointError, match="AFTERWORD_CODEC_TOKEN"):
        CodecServer(Settings(payload_keys=keys, codec_host="0.0.0.0"), codec)
    monkeypatch.setenv("CODEC_TOKEN", "s3cret-token-value")
    settings = Settings(payload_keys=keys, codec_token="env:CODEC_TOKEN")
    async with CodecServer(settings, codec) as server, httpx.AsyncClient() as http:
        refused = await http.post(f"{server.url}/decode", json={"payloads": []})
        assert refused.status_code == 401 and "Bearer" in refused.json()["error"]
        allowed = await http.post(f"{server.url}/decode", json={"payloads": []},
                                  headers={"Authorization": "Bearer s3cret-token-value"})
        assert allowed.status_code == 200
