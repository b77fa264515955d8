"""The command line every stand-in shares: host, port, state file, verbose; run until a signal."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TypeVar

from .server import BackgroundServer

S = TypeVar("S", bound=BackgroundServer)


def make_parser(*, prog: str, description: str, port: int, kept: str) -> argparse.ArgumentParser:
    """A parser with --host, --port (default ``port``), --state-file (keeping ``kept``) and --verbose."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=port, help="port, 0 for any free one (default: %(default)s)"
    )
    parser.add_argument(
        "--state-file",
        type=Path,
        default=None,
        help=f"keep {kept} in this JSON file across restarts (default: in memory only)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser


def serve(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    *,
    name: str,
    start: Callable[[], S],
    details: Callable[[S], str],
) -> int:
    """Start the server, say where it runs (with ``details``), serve until SIGINT/SIGTERM, stop it."""
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        server = start()
    except (OSError, ValueError) as exc:
        parser.exit(1, f"{name.lower()}: cannot start on {args.host}:{args.port}: {exc}\n")
    saved = f", state in {args.state_file}" if args.state_file else ""

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    print(f"{name} running at {server.url} ({details(server)}{saved})", flush=True)  # noqa: T201
    try:
        # A timeout keeps the main thread responsive to signals on every platform.
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0
