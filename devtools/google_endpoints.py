"""The app's Google settings for an emulator at `base_url` (used by `make run` and the tests)."""


def emulator_settings(base_url: str) -> dict[str, str]:
    base_url = base_url.rstrip("/")
    return {
        "GOOGLE_OAUTH_AUTHORIZE_URL": f"{base_url}/o/oauth2/v2/auth",
        "GOOGLE_OAUTH_TOKEN_URL": f"{base_url}/token",
        "GOOGLE_OAUTH_USERINFO_URL": f"{base_url}/oauth2/v3/userinfo",
        "GOOGLE_OAUTH_REVOKE_URL": f"{base_url}/revoke",
        "GOOGLE_OAUTH_CERTS_URL": f"{base_url}/oauth2/v1/certs",
        "GOOGLE_ID_TOKEN_ISSUER": base_url,
        "GOOGLE_API_BASE_URL": f"{base_url}/",
    }
