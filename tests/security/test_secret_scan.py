"""The secret scan (tests/secret_scan.py) finds a planted secret and never shows it."""

import logging
import secrets
from pathlib import Path

import pytest

from galaxyco.logging import JsonFormatter, SecretsFilter
from tests.secret_scan import ACCESS_TOKEN, API_KEY, AUTHORIZATION_CODE, SecretScan, fingerprint

pytest_plugins = ["pytester"]


@pytest.fixture
def scan():
    return SecretScan()


def test_a_token_in_a_log_line_is_found_and_reported_without_the_token(scan):
    token = "ya29." + secrets.token_urlsafe(64)
    scan.register(token, ACCESS_TOKEN)
    scan.observe("a log line of galaxyco.test", f'{{"message": "refreshed, new token {token}"}}')

    [finding] = scan.findings()
    assert (finding.kind, finding.digest) == (ACCESS_TOKEN, fingerprint(token))
    assert token not in str(finding)
    assert str(finding) == f"access token (sha256 {fingerprint(token)[:12]}) in a log line of galaxyco.test"


def test_an_api_key_known_only_by_its_hash_is_found_in_a_response(scan):
    raw_key = "gxy_" + secrets.token_urlsafe(32)
    scan.register_digest(fingerprint(raw_key), API_KEY, len(raw_key))
    scan.observe("the response to GET /api/workspaces/", f'{{"key":"{raw_key}"}}')
    assert [finding.kind for finding in scan.findings()] == [API_KEY]


def test_a_secret_glued_to_more_characters_is_still_found(scan):
    code = "4/0" + secrets.token_urlsafe(48)
    scan.register(code, AUTHORIZATION_CODE)
    scan.observe("the database table integrations_integration", code + "trailing-chars")
    assert len(scan.findings()) == 1


def test_the_response_that_creates_a_key_may_show_it_and_no_other(scan):
    raw_key = "gxy_" + secrets.token_urlsafe(32)
    scan.register_digest(fingerprint(raw_key), API_KEY, len(raw_key))
    scan.observe("the new key page", raw_key, allowed={fingerprint(raw_key)})
    assert scan.findings() == []
    scan.observe("the key list page", raw_key)
    assert [finding.where for finding in scan.findings()] == ["the key list page"]


def test_unknown_secret_shaped_strings_and_redacted_lines_are_not_findings(scan):
    token = "ya29." + secrets.token_urlsafe(64)
    scan.register(token, ACCESS_TOKEN)
    scan.observe("a test fixture's token", "ya29.test-access-1 and 1//test-refresh-1")
    redacted = JsonFormatter().format(_record_with(token))
    scan.observe("a log line", redacted)
    assert scan.findings() == []


def test_a_secret_of_a_shape_the_scan_cannot_see_is_refused(scan):
    with pytest.raises(ValueError, match="cannot recognise"):
        scan.register("opaque-" + secrets.token_urlsafe(16), ACCESS_TOKEN)


def _record_with(token):
    record = logging.LogRecord("galaxyco", logging.INFO, __file__, 1, "token %s", (token,), None)
    SecretsFilter().filter(record)
    return record


def test_a_suite_that_leaks_a_code_into_a_log_line_fails_naming_the_kind_not_the_code(pytester, monkeypatch):
    code = "4/0" + secrets.token_urlsafe(48)
    pytester.makepyfile(
        f"""
        import logging

        from tests.secret_scan import AUTHORIZATION_CODE, SCAN


        def test_leaks():
            SCAN.register("{code}", AUTHORIZATION_CODE)
            # The log filter redacts tokens and keys, but nothing named "code".
            logging.getLogger("galaxyco.leaky").warning("exchanged code=%s", "{code}")
        """
    )
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]))
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "galaxyco.test_settings")
    result = pytester.runpytest_subprocess("-p", "tests.secret_scan", "-p", "no:cacheprovider")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    output = result.stdout.str()
    assert f"authorization code (sha256 {fingerprint(code)[:12]}) in a log line of galaxyco.leaky" in output
    assert code not in output
