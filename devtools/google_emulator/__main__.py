"""``python -m devtools.google_emulator``: run the emulator until SIGINT/SIGTERM."""

from __future__ import annotations

import os
from collections.abc import Sequence

from devtools.standin.cli import make_parser, serve

from .server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, GoogleEmulator


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser(
        prog="python -m devtools.google_emulator",
        description="Local stand-in for Google's OAuth, Gmail and Calendar endpoints.",
        port=8081,
        kept="accounts, grants, tokens, mail and events",
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
        "--rewrite-message-ids",
        action="store_true",
        help="give each sent message a Message-ID of Gmail's own, as Gmail's API does",
    )
    args = parser.parse_args(argv)
    return serve(
        parser,
        args,
        name="Google emulator",
        start=lambda: GoogleEmulator(
            host=args.host,
            port=args.port,
            client_id=args.client_id,
            client_secret=args.client_secret,
            issuer=args.issuer,
            access_token_lifetime=args.access_token_lifetime,
            gmail_quota_units_per_minute=args.gmail_quota,
            rewrite_message_ids=args.rewrite_message_ids,
            state_file=args.state_file,
            verbose=args.verbose,
        ).start(),
        details=lambda emulator: f"client_id={emulator.client_id}",
    )


if __name__ == "__main__":
    raise SystemExit(main())
