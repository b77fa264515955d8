"""``python -m devtools.sidemail_standin``: run the stand-in until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from .server import SidemailStandin
from .state import DEFAULT_API_KEY


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.sidemail_standin",
        description="Local stand-in for Sidemail's email and contacts API, with an inbox page.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=8082, help="port, 0 for any free one (default: %(default)s)"
    )
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        default=None,
        help="an accepted API key; repeat for more (default: $SIDEMAIL_API_KEY or the dev key)",
    )
    parser.add_argument(
        "--state-file",
        type=Path,
        default=None,
        help="keep emails, contacts and settings in this JSON file across restarts (default: in memory only)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    keys = args.api_keys or [os.environ.get("SIDEMAIL_API_KEY") or DEFAULT_API_KEY]
    try:
        standin = SidemailStandin(
            host=args.host, port=args.port, api_keys=keys, state_file=args.state_file, verbose=args.verbose
        ).start()
    except (OSError, ValueError) as exc:
        parser.exit(1, f"sidemail stand-in: cannot start on {args.host}:{args.port}: {exc}\n")
    saved = f", state in {args.state_file}" if args.state_file else ""

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    inbox = f"{standin.url}/_standin/inbox"
    print(f"Sidemail stand-in running at {standin.url} (inbox: {inbox}{saved})", flush=True)  # noqa: T201
    try:
        while not stop.wait(0.5):
            pass
    finally:
        standin.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
