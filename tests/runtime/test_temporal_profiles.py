"""One temporal.toml profile serves the `temporal` CLI and afterword alike: the worker joins the server
it names, the afterword CLI opens a postmortem there, and the `temporal` CLI finds it with the same profile."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from afterword.runtime.dev_server import EmbeddedServer, port_is_free
from afterword.settings import Settings
from tests.runtime.test_worker_process import WORKER_SCRIPT, _read_until

BIN = Path(sys.executable).parent
TEMPORAL = shutil.which("temporal", path=str(BIN)) or "temporal"
AFTERWORD = shutil.which("afterword", path=str(BIN)) or "afterword"


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AFTERWORD_", "TEMPORAL_"))}
    env.update(PYTHONUNBUFFERED="1", AFTERWORD_INTAKE_PORT="0", **extra)
    return env


def _start(env: dict[str, str], stderr: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(WORKER_SCRIPT), "--no-intake"], env=env, stdout=subprocess.PIPE,
                            stderr=stderr.open("w"), text=True)


@pytest.mark.e2e
async def test_a_temporal_toml_profile_written_by_the_temporal_cli_serves_worker_and_both_clis(
    settings: Settings, tmp_path: Path
) -> None:
    async with EmbeddedServer(settings, headless=True) as address:
        config = tmp_path / "temporal.toml"
        profile = {"TEMPORAL_CONFIG_FILE": str(config), "TEMPORAL_PROFILE": "staging"}
        for prop, value in (("address", address), ("namespace", settings.namespace)):
            subprocess.run([TEMPORAL, "config", "set", "--profile", "staging", "--prop", prop, "--value", value],
                           env=_clean_env(**profile), check=True, capture_output=True)
        queue = f"profile-{uuid.uuid4().hex[:8]}"
        env = _clean_env(**profile, AFTERWORD_TASK_QUEUE=queue, AFTERWORD_DATA_DIR=str(tmp_path / "worker"))
        worker = _start(env, tmp_path / "worker.stderr")
        try:
            banner = await asyncio.wait_for(asyncio.to_thread(_read_until, worker, "Data dir:"), timeout=90)
            assert f"Temporal:   {address} (namespace default; profile 'staging' in {config})" in banner, (
                banner + (tmp_path / "worker.stderr").read_text())
            assert not (tmp_path / "worker" / "temporal.db").exists()  # it joined; it started no server

            # a laptop: no data directory of its own, the worker's payload key copied over and named
            keys = tmp_path / "laptop-keys"
            shutil.copy(tmp_path / "worker" / "payload-keys", keys)
            cli_env = {**env, "AFTERWORD_DATA_DIR": str(tmp_path / "laptop"), "AFTERWORD_PAYLOAD_KEYS": f"file:{keys}"}
            started = subprocess.run([AFTERWORD, "start", "--title", "Cache stampede", "--label", "severity=high",
                                      "--json"], env=cli_env, capture_output=True, text=True, timeout=60)
            assert started.returncode == 0, started.stderr
            wid = json.loads(started.stdout)["workflow_id"]

            listed = subprocess.run([TEMPORAL, "workflow", "list", "--query", f"WorkflowId = '{wid}'", "-o", "json"],
                                    env=_clean_env(**profile), capture_output=True, text=True, timeout=60)
            assert listed.returncode == 0, listed.stderr
            assert wid in listed.stdout
            status = subprocess.run([AFTERWORD, "status", wid, "--json"], env=cli_env, capture_output=True,
                                    text=True, timeout=60)
            assert status.returncode == 0 and json.loads(status.stdout)["postmortem_id"] == wid, status.stderr
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    assert not (tmp_path / "laptop").exists()


def test_the_previous_tls_variable_names_still_reach_the_connection_and_warn(tmp_path: Path) -> None:
    key = tmp_path / "client.key"
    key.write_text("KEY")
    env = _clean_env(TEMPORAL_ADDRESS="temporal.internal:7233", TEMPORAL_TLS_CERT=str(tmp_path / "gone.pem"),
                     TEMPORAL_TLS_KEY=str(key))
    result = subprocess.run([AFTERWORD, "status", "pm-default-x"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert ("TEMPORAL_TLS_CERT is deprecated and will be removed in the next release: set "
            "TEMPORAL_TLS_CLIENT_CERT_PATH instead") in result.stderr
    assert "TEMPORAL_TLS_KEY is deprecated" in result.stderr and "TEMPORAL_TLS_CLIENT_KEY_PATH" in result.stderr
    # the old name's value is what the connection used, under its new name
    assert f"TEMPORAL_TLS_CLIENT_CERT_PATH={tmp_path / 'gone.pem'}: no such file" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_profile_is_a_clear_error_for_cli_and_worker(settings: Settings, tmp_path: Path) -> None:
    config = tmp_path / "temporal.toml"
    config.write_text('[profile.default]\naddress = "temporal.internal:7233"\n')
    env = _clean_env(TEMPORAL_CONFIG_FILE=str(config), TEMPORAL_PROFILE="prod",
                     AFTERWORD_DATA_DIR=str(tmp_path / "data"))
    cli = subprocess.run([AFTERWORD, "list"], env=env, capture_output=True, text=True, timeout=60)
    assert cli.returncode == 1 and "cannot load Temporal profile 'prod' (TEMPORAL_PROFILE)" in cli.stderr
    worker = subprocess.run([sys.executable, str(WORKER_SCRIPT), "--no-intake"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert worker.returncode == 2 and "Profile 'prod' not found" in worker.stderr
    assert "Traceback" not in cli.stderr + worker.stderr
    assert port_is_free(settings.embedded_port)
