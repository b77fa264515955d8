import pytest

from workflows.engine import MAX_BACKOFF_SECONDS, backoff_seconds
from workflows.rendering import render_params


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5, 12])
def test_backoff_grows_exponentially_with_jitter_and_a_ceiling(settings, attempt):
    settings.WORKFLOW_RETRY_BASE_SECONDS = 2.0
    ceiling = min(MAX_BACKOFF_SECONDS, 2.0 * 2 ** (attempt - 1))
    delays = {backoff_seconds(attempt=attempt, retry_after=None) for _ in range(50)}
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len(delays) > 1  # jittered


def test_backoff_honours_retry_after(settings):
    settings.WORKFLOW_RETRY_BASE_SECONDS = 2.0
    assert backoff_seconds(attempt=1, retry_after=30) == 30


def test_placeholders_escape_html_only_in_html_params():
    rendered = render_params(
        {"subject": "Hi {{ input.name }}", "html": "<b>{{ input.name }}</b>", "to": ["{{ input.email }}"]},
        run_input={"name": "<Ada & Co>", "email": "ada@example.com"},
        html_params=frozenset({"html"}),
    )
    assert rendered == {
        "subject": "Hi <Ada & Co>",
        "html": "<b>&lt;Ada &amp; Co&gt;</b>",
        "to": ["ada@example.com"],
    }


def test_a_missing_input_value_renders_empty():
    assert render_params({"subject": "Hi {{ input.name }}"}, run_input={}, html_params=frozenset()) == {
        "subject": "Hi "
    }
