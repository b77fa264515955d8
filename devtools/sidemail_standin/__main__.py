"""``python -m devtools.sidemail_standin``: run the stand-in until SIGINT/SIGTERM."""

from __future__ import annotations

import os
from collections.abc import Sequence

from devtools.standin.cli import make_parser, serve

from .server import SidemailStandin
from .state import DEFAULT_API_KEY


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser(
        prog="python -m devtools.sidemail_standin",
        description="Local stand-in for Sidemail's email and contacts API, with an inbox page.",
        port=8082,
        kept="emails, contacts and settings",
    )
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        default=None,
        help="an accepted API key; repeat for more (default: $SIDEMAIL_API_KEY or the dev key)",
    )
    args = parser.parse_args(argv)
    keys = args.api_keys or [os.environ.get("SIDEMAIL_API_KEY") or DEFAULT_API_KEY]
    return serve(
        parser,
        args,
        name="Sidemail stand-in",
        start=lambda: SidemailStandin(
            host=args.host, port=args.port, api_keys=keys, state_file=args.state_file, verbose=args.verbose
        ).start(),
        details=lambda standin: f"inbox: {standin.url}/_standin/inbox",
    )


if __name__ == "__main__":
    raise SystemExit(main())
