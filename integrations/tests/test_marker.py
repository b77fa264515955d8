"""The marker of mail a workspace's runs send (integrations.google.marker): different on every
email, made only with the server's key, bound to the email's own step id and to one workspace."""

from datetime import UTC, datetime, timedelta

from django.utils.crypto import salted_hmac

from integrations.google.marker import LEGACY_ORIGIN_UNTIL, is_own_origin, origin_value

STEP = "<run-7-step-0-0123456789abcdef0123456789abcdef@galaxyco.test>"
OTHER_STEP = "<run-8-step-0-fedcba9876543210fedcba9876543210@galaxyco.test>"
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def own(value: str, *, step: str = STEP, workspace_id: int = 1, received_at: datetime | None = NOW) -> bool:
    return is_own_origin(value=value, step=step, workspace_id=workspace_id, received_at=received_at)


def legacy_value(workspace_id: int) -> str:
    """The one value per workspace that every email carried before the marker named its step."""
    return salted_hmac("galaxyco.gmail.origin", str(workspace_id), algorithm="sha256").hexdigest()[:32]


def test_two_emails_of_one_workspace_carry_different_values():
    first = origin_value(workspace_id=1, step=STEP)
    second = origin_value(workspace_id=1, step=OTHER_STEP)

    assert first != second
    assert own(first) and own(second, step=OTHER_STEP)


def test_the_same_step_id_gives_each_workspace_its_own_value():
    value = origin_value(workspace_id=1, step=STEP)
    assert len(value) == 32 and set(value) <= set("0123456789abcdef")
    assert value != origin_value(workspace_id=2, step=STEP)


def test_a_value_moved_onto_another_step_id_is_not_ours():
    assert not own(origin_value(workspace_id=1, step=STEP), step=OTHER_STEP)


def test_both_headers_copied_into_mail_to_another_workspace_are_not_that_workspaces():
    assert not own(origin_value(workspace_id=1, step=STEP), workspace_id=2)


def test_a_guess_or_nothing_is_not_ours():
    value = origin_value(workspace_id=1, step=STEP)
    for guess in ("", "   ", value[:-1], value[:-1] + ("0" if value[-1] != "0" else "1"), value.upper()):
        assert not own(guess)
    assert not own(value, step="")


def test_the_step_header_as_it_arrives_folded_or_padded_is_the_same_step():
    value = origin_value(workspace_id=1, step=STEP)
    assert own(f"  {value} ", step=f"\r\n {STEP} ")


def test_a_value_made_under_a_key_since_rotated_out_is_still_ours(settings):
    old_key = settings.SECRET_KEY
    value = origin_value(workspace_id=1, step=STEP)
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40
    settings.SECRET_KEY_FALLBACKS = [old_key]

    assert own(value)
    settings.SECRET_KEY_FALLBACKS = []
    assert not own(value)


def test_the_old_constant_value_is_ours_only_on_mail_received_before_the_transition_ends():
    old = legacy_value(1)

    assert own(old, received_at=LEGACY_ORIGIN_UNTIL - timedelta(days=30))
    assert own(old, step="", received_at=LEGACY_ORIGIN_UNTIL - timedelta(seconds=1))
    assert not own(old, received_at=LEGACY_ORIGIN_UNTIL)
    assert not own(old, received_at=None)
    assert not own(legacy_value(2), received_at=LEGACY_ORIGIN_UNTIL - timedelta(days=30))
