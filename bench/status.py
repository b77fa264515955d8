"""GET /api/workspaces/<id>/integrations/status/ against a bare DRF view served by the same
gunicorn in the same run, with 1 and then 500 integrations in the workspace. The abuse limits count in a
private redis-server, as CACHE_URL has them do in a deployment.

    .venv/bin/python bench/status.py                      # 16 connections, 5 s per measurement
    .venv/bin/python bench/status.py --seconds 10 --rounds 3

PostgreSQL only (DATABASE_URL, default: its own database galaxyco_scale_bench, dropped and created
again). gunicorn runs two sync workers, as the issue's baseline did; wrk sends the same number
of connections to both views, alternating bare and status each round, and the figures are the
medians over the rounds. The status endpoint is called with a workspace API key (an admin key);
`--session` measures a member's session instead. The last line is the P4 summary.

Each gunicorn worker keeps a workspace's status for 1 s (integrations/status_cache.py), so nearly
every status request here is answered without the database.
"""

import argparse
import os
import statistics
from datetime import timedelta

from served import (
    DEFAULT_DATABASE_URL,
    TIMES,
    analyze,
    configure_environment,
    gunicorn,
    recreate_database,
    setup_django,
    wrk,
)

from devtools.redis_server import private_redis_server

TYPES = ("gmail", "calendar", "sidemail")
STATUSES = ("active", "active", "reauth_required", "error", "disconnected")


def seed_workspace() -> tuple[int, dict[str, str]]:
    """A workspace with its owner, an admin API key and one (default) Gmail account; returns the
    workspace id and the request headers for each credential."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.utils import timezone

    from integrations.models import Integration
    from workspaces.models import Role
    from workspaces.services import create_api_key, create_workspace

    owner = get_user_model().objects.create_user(username="owner", email="owner@example.com")
    workspace = create_workspace(name="Status", owner=owner)
    _, raw_key = create_api_key(workspace=workspace, name="bench", role=Role.ADMIN)
    Integration.objects.create(
        workspace=workspace,
        connected_by=owner,
        shared=True,
        is_default=True,
        type="gmail",
        email="team@example.com",
        provider_account_id="team",
        connected_at=timezone.now(),
    )
    client = Client()
    client.force_login(owner)
    return workspace.pk, {
        "key": f"Authorization: Bearer {raw_key}",
        "session": f"Cookie: sessionid={client.cookies['sessionid'].value}",
    }


def add_integrations(*, workspace_id: int, count: int) -> None:
    """`count` more accounts of every type and status, owned by the owner and four more members."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from integrations.models import Integration
    from workspaces.models import Membership, Workspace

    workspace = Workspace.objects.get(pk=workspace_id)
    users = list(Membership.objects.for_workspace(workspace).values_list("user_id", flat=True))
    for index in range(4):
        user = get_user_model().objects.create_user(username=f"member{index}", email=f"m{index}@example.com")
        Membership.objects.create(workspace=workspace, user=user, role="member")
        users.append(user.pk)
    now = timezone.now()
    Integration.objects.bulk_create(
        Integration(
            workspace=workspace,
            connected_by_id=users[index % len(users)],
            shared=index % 3 == 0,
            type=TYPES[index % len(TYPES)],
            status=STATUSES[index % len(STATUSES)],
            email=f"account{index}@example.com",
            provider_account_id=f"account{index}",
            connected_at=now - timedelta(minutes=index),
            last_error_message="Reconnect" if index % 5 == 2 else "",
        )
        for index in range(count)
    )


def measure(base: str, *, workspace_id: int, header: str, args: argparse.Namespace) -> tuple[float, float]:
    """Medians of the bare view's and the status endpoint's requests per second, alternating."""
    name, value = header.split(": ", 1)
    bare, status = [], []
    for _ in range(args.rounds):
        bare.append(
            wrk(f"{base}/bench/bare/", headers={}, connections=args.connections, seconds=args.seconds)
        )
        status.append(
            wrk(
                f"{base}/api/workspaces/{workspace_id}/integrations/status/",
                headers={name: value},
                connections=args.connections,
                seconds=args.seconds,
            )
        )
    return statistics.median(bare), statistics.median(status)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--integrations", type=int, default=500)
    parser.add_argument("--session", action="store_true", help="a member's session instead of an API key")
    args = parser.parse_args()

    database_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    with private_redis_server() as redis_url:
        # The abuse limits count in Redis, as a deployment's do (not in the default cache table).
        configure_environment(database_url=database_url, extra={"CACHE_URL": redis_url})
        measure_status(database_url=database_url, args=args)


def measure_status(*, database_url: str, args: argparse.Namespace) -> None:
    recreate_database(database_url)
    setup_django(migrate=True)
    workspace_id, headers = seed_workspace()
    analyze()
    header = headers["session" if args.session else "key"]
    credential = "a member's session" if args.session else "an API key"
    print(
        f"PostgreSQL, gunicorn 2 sync workers, wrk {args.connections} connections, {args.seconds} s {TIMES} {args.rounds}"
    )

    with gunicorn(urlconf="status_urls") as base:
        wrk(f"{base}/bench/bare/", headers={}, connections=args.connections, seconds=1)  # warm up
        bare_one, status_one = measure(base, workspace_id=workspace_id, header=header, args=args)
        print(f"1 integration:   status {status_one:.0f} req/s ({credential}), bare DRF {bare_one:.0f} req/s")
        add_integrations(workspace_id=workspace_id, count=args.integrations - 1)
        analyze()
        bare_many, status_many = measure(base, workspace_id=workspace_id, header=header, args=args)
        print(
            f"{args.integrations} integrations: status {status_many:.0f} req/s ({credential}), "
            f"bare DRF {bare_many:.0f} req/s"
        )

    bare = statistics.mean([bare_one, bare_many])
    ratio = status_many / bare
    change = (status_many / status_one - 1) * 100
    met = ratio >= 0.5 and abs(change) <= 20
    print(
        f"P4 status {status_many:.0f} req/s = {ratio:.2f}{TIMES} bare DRF {bare:.0f} req/s; "
        f"{args.integrations} vs 1 integrations {change:+.0f}% (goal ≥ 0.5{TIMES}, within 20%): "
        f"{'met' if met else 'missed'}"
    )


if __name__ == "__main__":
    main()
