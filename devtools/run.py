"""`make run`: a development .env when there is none, migrations, a demo login, the Google
emulator beside the app (unless a real GOOGLE_CLIENT_ID is configured), the Sidemail stand-in
(unless a real SIDEMAIL_API_KEY is), so every system email shows in its inbox, and the app itself: every
process the Procfile names (web, worker, beat), with the Procfile's own commands. Without a
CELERY_BROKER_URL they share the embedded broker (files under var/celery/).
"""

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from cryptography.fernet import Fernet

from devtools.google_endpoints import emulator_settings
from devtools.sidemail_standin import DEFAULT_API_KEY as STANDIN_API_KEY
from devtools.sidemail_standin import StandinClient

ROOT = Path(__file__).resolve().parent.parent
PROCFILE = ROOT / "Procfile"
ENV_FILE = ROOT / ".env"
APP_PORT = int(os.environ.get("PORT", "8000"))
EMULATOR_PORT = int(os.environ.get("EMULATOR_PORT", "8081"))
EMULATOR_URL = f"http://127.0.0.1:{EMULATOR_PORT}"
# Connections and the inbox outlive a restart of `make run` (var/ is git-ignored).
EMULATOR_STATE_FILE = ROOT / "var" / "google_emulator.json"
STANDIN_PORT = int(os.environ.get("SIDEMAIL_STANDIN_PORT", "8082"))
STANDIN_URL = f"http://127.0.0.1:{STANDIN_PORT}"
STANDIN_STATE_FILE = ROOT / "var" / "sidemail_standin.json"
DEMO_EMAIL = "demo@galaxyco.local"
DEMO_PASSWORD = "galaxy-demo-2026"  # a local demo login, printed for the developer
DEV_CLIENT_ID = "galaxyco-dev-client"


def emulator_env() -> dict[str, str]:
    return {
        "GOOGLE_CLIENT_ID": DEV_CLIENT_ID,
        "GOOGLE_CLIENT_SECRET": "galaxyco-dev-secret",
        **emulator_settings(EMULATOR_URL),
    }


def standin_env() -> dict[str, str]:
    return {
        "SIDEMAIL_API_KEY": STANDIN_API_KEY,
        "SIDEMAIL_API_URL": f"{STANDIN_URL}/v1",
        "SIDEMAIL_WEBHOOK_SECRET": secrets.token_urlsafe(24),
    }


def add_standin_env() -> None:
    """A .env from before the stand-in existed, with no Sidemail key of its own, gets its settings."""
    if os.environ.get("SIDEMAIL_API_KEY") or dotenv_value("SIDEMAIL_API_KEY"):
        return
    lines = [f"{key}={value}" for key, value in standin_env().items()]
    with ENV_FILE.open("a") as env_file:
        env_file.write("# The local Sidemail stand-in (added by `make run`).\n" + "\n".join(lines) + "\n")


def write_dev_env() -> None:
    """Fresh secrets for this machine only; .env is git-ignored."""
    values = {
        "DEBUG": "true",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
        "SITE_URL": f"http://127.0.0.1:{APP_PORT}",
    }
    if os.environ.get("GOOGLE_CLIENT_ID", DEV_CLIENT_ID) == DEV_CLIENT_ID:
        values |= emulator_env()
    if not os.environ.get("SIDEMAIL_API_KEY"):
        values |= standin_env()
    lines = [f"{key}={value}" for key, value in values.items()]
    ENV_FILE.write_text(
        "# Development settings written by `make run`. Never commit this file.\n" + "\n".join(lines) + "\n"
    )
    print(f"Wrote a development {ENV_FILE.name}.")


def dotenv_value(name: str) -> str:
    for line in ENV_FILE.read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == name:
            return value.strip()
    return os.environ.get(name, "")


def manage(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, check=True, capture_output=True, text=True
    )
    return result.stdout


def wait_until_up(url: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up within {timeout:.0f} s.")


def procfile() -> dict[str, str]:
    """The Procfile's processes: name -> command line (a shell expands its ${VARIABLES})."""
    processes = {}
    for line in PROCFILE.read_text().splitlines():
        name, separator, command = line.partition(":")
        if separator and name.strip() and not name.startswith("#"):
            processes[name.strip()] = command.strip()
    return processes


def start_process(command: str) -> subprocess.Popen[bytes]:
    """`exec`, so that the signal to stop reaches the process itself, not a shell."""
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOST": "127.0.0.1",
        "PORT": str(APP_PORT),
    }
    return subprocess.Popen(["/bin/sh", "-c", f"exec {command}"], cwd=ROOT, env=env)


def main() -> None:
    if not ENV_FILE.exists():
        write_dev_env()
    add_standin_env()
    manage("migrate", "--noinput")
    manage("create_workspace_user", "--email", DEMO_EMAIL, "--password", DEMO_PASSWORD, "--workspace", "Demo")

    children: list[subprocess.Popen[bytes]] = []
    use_emulator = dotenv_value("GOOGLE_CLIENT_ID") in ("", DEV_CLIENT_ID)
    use_standin = dotenv_value("SIDEMAIL_API_URL") == f"{STANDIN_URL}/v1"

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt  # unwinds whatever the main thread waits on; cleanup follows

    signal.signal(signal.SIGTERM, interrupt)
    try:
        if use_emulator:
            children.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "devtools.google_emulator",
                        "--port",
                        str(EMULATOR_PORT),
                        "--state-file",
                        str(EMULATOR_STATE_FILE),
                    ],
                    cwd=ROOT,
                )
            )
            wait_until_up(f"{EMULATOR_URL}/")
        if use_standin:
            children.append(start_standin())
        processes = {name: start_process(command) for name, command in procfile().items()}
        children[:0] = processes.values()  # stopped before the emulator their work may still call
        wait_until_up(f"http://127.0.0.1:{APP_PORT}/healthz")
        print()
        print(f"  GalaxyCo is running at   http://127.0.0.1:{APP_PORT}/")
        print(f"  Log in as                {DEMO_EMAIL} / {DEMO_PASSWORD}")
        if use_emulator:
            print(f"  Emulator inbox           {EMULATOR_URL}/_emulator/inbox")
        if use_standin:
            print(f"  System email (Sidemail)  {STANDIN_URL}/_standin/inbox")
        print(f"  Processes                {', '.join(processes)} (Procfile)")
        print("  Stop with Ctrl-C.")
        print()
        with contextlib.suppress(KeyboardInterrupt):
            while all(process.poll() is None for process in processes.values()):
                time.sleep(0.5)
            stopped = [name for name, process in processes.items() if process.poll() is not None]
            print(f"{', '.join(stopped)} stopped; stopping the others.")
    finally:
        stop(children)


def start_standin() -> subprocess.Popen[bytes]:
    """The Sidemail stand-in, taking the app's key and sending its webhooks to the app."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devtools.sidemail_standin",
            "--port",
            str(STANDIN_PORT),
            "--api-key",
            dotenv_value("SIDEMAIL_API_KEY"),
            "--state-file",
            str(STANDIN_STATE_FILE),
        ],
        cwd=ROOT,
    )
    wait_until_up(f"{STANDIN_URL}/")
    StandinClient(STANDIN_URL).set_webhook(
        url=f"http://127.0.0.1:{APP_PORT}/webhooks/sidemail/", secret=dotenv_value("SIDEMAIL_WEBHOOK_SECRET")
    )
    return process


def stop(children: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM: gunicorn finishes its requests, the worker its tasks (a run waiting for a retry
    goes back to the broker), beat exits; one after the other, the emulator last. Whatever is
    still running 20 s after its signal is killed."""
    for child in children:
        if child.poll() is None:
            child.terminate()
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


if __name__ == "__main__":
    main()
