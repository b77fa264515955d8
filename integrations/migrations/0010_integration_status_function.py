"""The status endpoint's query as a PL/pgSQL function (PostgreSQL only; SQLite runs the statement
in integrations.selectors). A function's statement is planned once per database session and its
plan kept, where the same statement sent by the app (client-side binding, no prepared statements,
as Django's default keeps connection poolers working) is planned again on every request: planning
its index probes cost PostgreSQL more than running them.

The types and statuses (in order of preference) are arguments, so new choices need no new function;
a column it reads that is renamed or dropped needs one (the PostgreSQL tests call it)."""

from django.db import migrations

from galaxyco.db.migration_operations import postgresql_only

CREATE = """
CREATE FUNCTION integration_status(workspace bigint, types text[], statuses text[], disconnected text)
RETURNS TABLE (
    type text,
    id bigint,
    status text,
    email text,
    display_name text,
    connected_at timestamptz,
    last_refreshed_at timestamptz,
    last_error_message text,
    default_id bigint
)
LANGUAGE plpgsql STABLE
-- One plan whatever the arguments: PostgreSQL would otherwise keep planning each call, as a
-- generic plan, not knowing how many types and statuses the arrays hold, looks costlier.
SET plan_cache_mode = force_generic_plan
AS $function$
#variable_conflict use_column
BEGIN
    -- Per type: the newest account of the first status in `statuses` that has one (an index
    -- probe of integration_status_idx per status, stopping at the first found), and the default
    -- account while it is connected and its owner a member.
    RETURN QUERY
    SELECT kinds.kind, best.id, best.status::text, best.email::text, best.display_name::text,
           best.connected_at, best.last_refreshed_at, best.last_error_message, chosen.id
    FROM unnest(types) AS kinds(kind)
    LEFT JOIN LATERAL (
        SELECT newest.*
        FROM unnest(statuses) WITH ORDINALITY AS states(state, preference)
        CROSS JOIN LATERAL (
            SELECT i.id, i.status, i.email, i.display_name, i.connected_at, i.last_refreshed_at,
                   i.last_error_message
            FROM integrations_integration i
            WHERE i.workspace_id = workspace AND i.type = kinds.kind AND i.status = states.state
            ORDER BY i.connected_at DESC, i.id DESC
            LIMIT 1
        ) AS newest
        ORDER BY states.preference
        LIMIT 1
    ) AS best ON true
    LEFT JOIN LATERAL (
        SELECT d.id
        FROM integrations_integration d
        WHERE d.workspace_id = workspace AND d.type = kinds.kind AND d.is_default
          AND d.status <> disconnected
          AND EXISTS (
              SELECT 1 FROM workspaces_membership m
              WHERE m.workspace_id = d.workspace_id AND m.user_id = d.connected_by_id
          )
    ) AS chosen ON true;
END
$function$
"""

DROP = "DROP FUNCTION IF EXISTS integration_status(bigint, text[], text[], text)"


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0009_integration_sent_until"),
    ]

    operations = [postgresql_only(forward=CREATE, backward=DROP)]
