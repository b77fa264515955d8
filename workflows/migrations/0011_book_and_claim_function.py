"""A paced attempt's booking and claim as one PL/pgSQL function (PostgreSQL only; SQLite runs the
two UPDATEs in a transaction, workflows.engine._start_attempt).

Sent as statements, the booking and the claim take four round trips (BEGIN, two UPDATEs, COMMIT)
and the claim's UPDATE is compiled by the ORM on every attempt: a sixth of a one-step run's CPU in
the app. The function is one statement, so one round trip and one commit in autocommit, planned
once per database session. It takes the locks in the engine's order (the account, then the step
run) and books nothing unless the claim wins, which is what the transaction's rollback of a lost
claim's booking did.

`near` false: the account's next slot or moment to send is further than `p_within` seconds (or
there is no such account), nothing was written. `claimed` false: another executor has the
attempt, nothing was written. Otherwise both were written and `wait` is the seconds until the
moment to send; the attempt is marked under way (`p_mark_at`) only when there is nothing to wait
for. A column it reads or writes that is renamed or dropped needs a new function (the PostgreSQL
tests call it)."""

from django.db import migrations

from galaxyco.db.migration_operations import postgresql_only

CREATE = """
CREATE FUNCTION book_and_claim_attempt(
    p_integration bigint,
    p_interval double precision,
    p_kept_slot double precision,
    p_now double precision,
    p_within double precision,
    p_used_at timestamptz,
    p_step bigint,
    p_attempts integer,
    p_send_slot_at timestamptz,
    p_call_started_at timestamptz,
    p_claimable text[],
    p_running text,
    p_now_at timestamptz,
    p_started_at timestamptz,
    p_lease_until timestamptz,
    p_mark_at timestamptz,
    OUT near boolean,
    OUT claimed boolean,
    OUT wait double precision
)
LANGUAGE plpgsql VOLATILE
AS $function$
DECLARE
    v_paced double precision;
    v_sent double precision;
    v_slot double precision;
BEGIN
    near := false;
    claimed := false;
    SELECT i.paced_until, i.sent_until INTO v_paced, v_sent
    FROM integrations_integration i WHERE i.id = p_integration FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    -- The slot kept from an earlier booking, else the account's next one.
    v_slot := GREATEST(COALESCE(p_kept_slot, v_paced, p_now), p_now);
    IF v_slot > p_now + p_within OR COALESCE(v_sent, p_now) > p_now + p_within THEN
        RETURN;
    END IF;
    near := true;
    wait := GREATEST(GREATEST(COALESCE(v_sent, p_now), v_slot) - p_now, 0);

    UPDATE workflows_steprun s
    SET attempts = p_attempts + 1,
        status = p_running,
        started_at = p_started_at,
        next_attempt_at = p_lease_until,
        send_slot_at = NULL,
        provider_call_started_at = CASE WHEN wait = 0 AND p_mark_at IS NOT NULL
                                        THEN p_mark_at ELSE s.provider_call_started_at END
    WHERE s.id = p_step
      AND s.attempts = p_attempts
      AND s.send_slot_at IS NOT DISTINCT FROM p_send_slot_at
      AND s.provider_call_started_at IS NOT DISTINCT FROM p_call_started_at
      AND (s.status = ANY (p_claimable) OR (s.status = p_running AND s.next_attempt_at < p_now_at));
    IF NOT FOUND THEN
        RETURN;
    END IF;
    claimed := true;

    UPDATE integrations_integration i
    SET paced_until = CASE WHEN p_kept_slot IS NULL THEN v_slot + p_interval ELSE i.paced_until END,
        sent_until = GREATEST(COALESCE(v_sent, p_now), v_slot) + p_interval,
        last_used_at = COALESCE(p_used_at, i.last_used_at)
    WHERE i.id = p_integration;
END
$function$
"""

DROP = """
DROP FUNCTION IF EXISTS book_and_claim_attempt(
    bigint, double precision, double precision, double precision, double precision, timestamptz,
    bigint, integer, timestamptz, timestamptz, text[], text, timestamptz, timestamptz, timestamptz,
    timestamptz
)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0010_run_resumed_at"),
        ("integrations", "0010_integration_status_function"),
    ]

    operations = [postgresql_only(forward=CREATE, backward=DROP)]
