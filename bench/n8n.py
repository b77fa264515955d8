"""n8n, the peer the throughput goal is measured against: installed once from the npm registry into
bench/.n8n/ (ignored by git), given a Webhook → HTTP Request workflow that POSTs to the sink,
and served on loopback with its default expression engine or the legacy one."""

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from galaxyco_stack import stop, wait_until_up

VERSION = "1.123.81"
HOME = Path(__file__).resolve().parent / ".n8n"
EXECUTABLE = HOME / "node_modules" / ".bin" / "n8n"
BUILT = HOME / f".built-{VERSION}"
WEBHOOK_PATH = "/webhook/bench"
ENGINES = ("default", "legacy")

PACKAGE = {
    "name": "galaxyco-bench-n8n",
    "private": True,
    "dependencies": {"n8n": VERSION},
    # n8n's own pins do not build on this Node; these do.
    "overrides": {"xlsx": "0.18.5", "isolated-vm": "5.0.4"},
}
NATIVE_PACKAGES = ("sqlite3", "isolated-vm")  # built against the system's Node headers


def install() -> None:
    """npm install (scripts off: their prebuilt-binary downloads cannot work here), then build the
    two native modules with node-gyp. Once: a marker file remembers it."""
    if BUILT.exists() and EXECUTABLE.exists():
        return
    if shutil.which("npm") is None:
        raise SystemExit("npm is not installed: apt-get install -y nodejs npm")
    HOME.mkdir(exist_ok=True)
    (HOME / "package.json").write_text(json.dumps(PACKAGE, indent=2) + "\n")
    print(f"Installing n8n {VERSION} into {HOME} (once; a few minutes)", flush=True)
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
        cwd=HOME,
        check=True,
    )
    for package in NATIVE_PACKAGES:
        subprocess.run(
            ["npx", "--yes", "node-gyp", "rebuild", "--nodedir=/usr"],
            cwd=HOME / "node_modules" / package,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    BUILT.touch()


def workflow(sink_url: str) -> dict[str, object]:
    """Webhook (answers with the last node's output, so a request lasts the whole run) → HTTP
    Request POSTing a JSON body built with expressions, as a Gmail send would be."""
    body = (
        "={{ JSON.stringify({ to: $json.body.input.email, subject: 'Hi ' + $json.body.input.name, "
        "text: 'Hello ' + $json.body.input.name }) }}"
    )
    return {
        "id": "galaxycoBench001",
        "name": "Bench: webhook to sink",
        "active": False,
        "settings": {"executionOrder": "v1"},
        "connections": {"Webhook": {"main": [[{"node": "Send", "type": "main", "index": 0}]]}},
        "nodes": [
            {
                "id": str(uuid.uuid4()),
                "name": "Webhook",
                "type": "n8n-nodes-base.webhook",
                "typeVersion": 2,
                "position": [0, 0],
                "webhookId": str(uuid.uuid4()),
                "parameters": {
                    "httpMethod": "POST",
                    "path": WEBHOOK_PATH.rsplit("/", 1)[1],
                    "responseMode": "lastNode",
                    "options": {},
                },
            },
            {
                "id": str(uuid.uuid4()),
                "name": "Send",
                "type": "n8n-nodes-base.httpRequest",
                "typeVersion": 4.2,
                "position": [240, 0],
                "parameters": {
                    "method": "POST",
                    "url": f"{sink_url}/gmail/v1/users/me/messages/send",
                    "sendBody": True,
                    "specifyBody": "json",
                    "jsonBody": body,
                    "options": {},
                },
            },
        ],
    }


def environment(*, folder: str, port: int, engine: str) -> dict[str, str]:
    settings = {
        "N8N_USER_FOLDER": folder,
        "N8N_PORT": str(port),
        "N8N_LISTEN_ADDRESS": "127.0.0.1",
        "N8N_LOG_LEVEL": "warn",
        "N8N_DIAGNOSTICS_ENABLED": "false",
        "N8N_VERSION_NOTIFICATIONS_ENABLED": "false",
        "N8N_TEMPLATES_ENABLED": "false",
        "N8N_PERSONALIZATION_ENABLED": "false",
        "N8N_SECURE_COOKIE": "false",
        "N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS": "false",
    }
    if engine == "legacy":
        settings["N8N_EXPRESSION_ENGINE"] = "legacy"
    return {**os.environ, **settings}


@contextlib.contextmanager
def running_n8n(*, sink_url: str, port: int, engine: str) -> Iterator[tuple[str, int]]:
    """A fresh n8n (its own SQLite in a temporary folder) with the bench workflow imported and
    active; yields its base URL and pid."""
    with tempfile.TemporaryDirectory(prefix="bench-n8n-") as folder:
        env = environment(folder=folder, port=port, engine=engine)
        definition = Path(folder) / "workflow.json"
        definition.write_text(json.dumps(workflow(sink_url)))
        _cli(["import:workflow", f"--input={definition}"], env=env)
        _cli(["update:workflow", "--id=galaxycoBench001", "--active=true"], env=env)
        process = subprocess.Popen([str(EXECUTABLE), "start"], cwd=HOME, env=env, stdout=subprocess.DEVNULL)
        try:
            base_url = f"http://127.0.0.1:{port}"
            wait_until_up(f"{base_url}/healthz", process=process, what="n8n", timeout=120)
            _wait_for_webhook(base_url, process=process)
            yield base_url, process.pid
        finally:
            stop(process)


def _cli(arguments: list[str], *, env: dict[str, str]) -> None:
    subprocess.run([str(EXECUTABLE), *arguments], cwd=HOME, env=env, check=True, stdout=subprocess.DEVNULL)


def _wait_for_webhook(base_url: str, *, process: subprocess.Popen[bytes]) -> None:
    """/healthz answers before the active workflows' webhooks are registered."""
    import urllib.error
    import urllib.request

    body = json.dumps({"input": {"name": "Warm", "email": "warm@example.com"}}).encode()
    deadline = time.monotonic() + 60
    while True:
        request = urllib.request.Request(
            f"{base_url}{WEBHOOK_PATH}", data=body, headers={"Content-Type": "application/json"}
        )
        try:
            urllib.request.urlopen(request, timeout=10).close()
            return
        except (urllib.error.HTTPError, OSError):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("n8n's webhook did not answer.") from None
            time.sleep(0.5)
