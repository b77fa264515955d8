"""``python -m devtools.google_emulator``: run the emulator until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from .server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, GoogleEmulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.google_emulator",
        description="Local stand-in for Google's OAuth, Gmail and Calendar endpoints.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=8081, help="port, 0 for any free one (default: %(default)s)"
    )
    parser.add_argument(
        "--client-id",
        default=os.environ.get("GOOGLE_CLIENT_ID") or DEFAULT_CLIENT_ID,
        help="accepted OAuth client id (default: $GOOGLE_CLIENT_ID or %(default)s)",
    )
    parser.add_argument(
        "--client-secret",
        default=os.environ.get("GOOGLE_CLIENT_SECRET") or DEFAULT_CLIENT_SECRET,
        help="accepted OAuth client secret (default: $GOOGLE_CLIENT_SECRET or the dev secret)",
    )
    parser.add_argument("--issuer", default=None, help="'iss' of id_tokens (default: the emulator's URL)")
    parser.add_argument(
        "--access-token-lifetime", type=int, default=3600, help="seconds (default: %(default)s)"
    )
    parser.add_argument(
        "--gmail-quota",
        type=int,
        default=15000,
        help="Gmail quota units per mailbox per minute (default: %(default)s)",
    )
    parser.add_argument(
        "--state-file",
        type=Path,
        default=None,
        help="keep accounts, grants, tokens, mail and events in this JSON file across restarts "
        "(default: in memory only)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        emulator = GoogleEmulator(
            host=args.host,
            port=args.port,
            client_id=args.client_id,
            client_secret=args.client_secret,
            issuer=args.issuer,
            access_token_lifetime=args.access_token_lifetime,
            gmail_quota_units_per_minute=args.gmail_quota,
            state_file=args.state_file,
            verbose=args.verbose,
        ).start()
    except (OSError, ValueError) as exc:
        parser.exit(1, f"google emulator: cannot start on {args.host}:{args.port}: {exc}\n")
    saved = f", state in {args.state_file}" if args.state_file else ""

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    print(f"Google emulator running at {emulator.url} (client_id={emulator.client_id}{saved})", flush=True)  # noqa: T201
    try:
        # A timeout keeps the main thread responsive to signals on every platform.
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
