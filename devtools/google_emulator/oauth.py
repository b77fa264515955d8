"""OAuth 2.0 / OpenID Connect endpoints: authorize, token, certs, userinfo, revoke."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus, urlsplit

from . import pages
from .state import Account, AuthCode, Grant
from .web import (
    Context,
    Request,
    Response,
    add_query,
    api_error,
    html_response,
    json_response,
    oauth_error,
    redirect,
)

AUTH_CODE_LIFETIME = 600
ID_TOKEN_LIFETIME = 3600
USERINFO_EMAIL = "https://www.googleapis.com/auth/userinfo.email"
USERINFO_PROFILE = "https://www.googleapis.com/auth/userinfo.profile"
IDENTITY_SCOPES = frozenset({"openid", "email", "profile", USERINFO_EMAIL, USERINFO_PROFILE})
DEFAULT_EMAIL = "demo@example.com"
DEFAULT_NAME = "Demo User"

# The original authorize parameters, carried through the consent form in hidden fields.
AUTHORIZE_PARAMS = (
    "client_id",
    "redirect_uri",
    "response_type",
    "state",
    "code_challenge",
    "code_challenge_method",
    "access_type",
    "prompt",
    "include_granted_scopes",
    "login_hint",
    "nonce",
)

_SCOPE_LABELS = {
    "openid": "Associate you with your personal info on Google",
    "email": "See your primary Google Account email address",
    USERINFO_EMAIL: "See your primary Google Account email address",
    "profile": "See your personal info, including any personal info you've made publicly available",
    USERINFO_PROFILE: "See your personal info, including any personal info you've made publicly available",
    "https://www.googleapis.com/auth/gmail.send": "Send email on your behalf",
    "https://www.googleapis.com/auth/gmail.compose": "Manage drafts and send emails",
    "https://www.googleapis.com/auth/gmail.modify": "Read, compose, and send emails from your Gmail account",
    "https://mail.google.com/": "Read, compose, send, and permanently delete all your email from Gmail",
    "https://www.googleapis.com/auth/calendar": (
        "See, edit, share, and permanently delete all the calendars you can access using Google Calendar"
    ),
    "https://www.googleapis.com/auth/calendar.events": "View and edit events on all your calendars",
}

_NO_STORE = {"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate", "Pragma": "no-cache"}
_CERTS_CACHE = {"Cache-Control": "public, max-age=3600, must-revalidate, no-transform"}


def parse_scopes(value: str | None) -> list[str]:
    """Split a scope parameter on spaces, '+' or commas; keep order, drop duplicates."""
    return list(dict.fromkeys(part for part in re.split(r"[\s,+]+", value or "") if part))


def _b64url_sha256(value: str) -> str:
    digest = hashlib.sha256(value.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _split_name(name: str) -> tuple[str, str]:
    given, _, family = name.strip().partition(" ")
    return given, family.strip()


def profile(ctx: Context, account: Account) -> dict[str, Any]:
    given, family = _split_name(account.name)
    return {
        "sub": account.sub,
        "id": account.sub,
        "email": account.email,
        "email_verified": True,
        "verified_email": True,
        "name": account.name,
        "given_name": given,
        "family_name": family,
        "picture": f"{ctx.base_url}/_emulator/avatar/{account.sub}.svg",
    }


# --------------------------------------------------------------------- authorize


def _authorize_problem(ctx: Context, params: dict[str, str], scopes: list[str]) -> tuple[str, str] | None:
    """Why an authorize request cannot even be redirected back (error code, message)."""
    if params["client_id"] != ctx.client_id:
        return (
            "invalid_client",
            f"The OAuth client was not found: {params['client_id'] or '(missing client_id)'}",
        )
    redirect_uri = urlsplit(params["redirect_uri"])
    if not params["redirect_uri"]:
        return "invalid_request", "Missing required parameter: redirect_uri"
    if redirect_uri.scheme not in ("http", "https") or not redirect_uri.netloc:
        return "invalid_request", f"Invalid parameter value for redirect_uri: {params['redirect_uri']}"
    if params["response_type"] not in ("", "code"):
        return "unsupported_response_type", f"Unsupported response_type: {params['response_type']}"
    if not scopes:
        return "invalid_request", "Missing required parameter: scope"
    if params["code_challenge_method"] not in ("", "S256", "plain"):
        return "invalid_request", f"Invalid code_challenge_method: {params['code_challenge_method']}"
    return None


def _error_page(problem: tuple[str, str]) -> Response:
    return html_response(pages.error_page(*problem), 400)


def _deny(params: dict[str, str]) -> Response:
    return redirect(
        add_query(params["redirect_uri"], {"error": "access_denied", "state": params["state"] or None})
    )


def _allow(
    ctx: Context,
    params: dict[str, str],
    granted: list[str],
    *,
    email: str,
    name: str,
    issue_refresh_token: bool,
) -> Response:
    state = ctx.state
    with state.lock:
        account = state.get_or_create_account(email, name)
        previous = account.granted_scopes.get(ctx.client_id, [])
        if params["include_granted_scopes"].lower() == "true":
            granted = list(dict.fromkeys([*previous, *granted]))
        account.granted_scopes[ctx.client_id] = list(dict.fromkeys([*previous, *granted]))
        code = AuthCode(
            code="4/0" + secrets.token_urlsafe(48),
            client_id=ctx.client_id,
            redirect_uri=params["redirect_uri"],
            email=account.email,
            scopes=granted,
            code_challenge=params["code_challenge"] or None,
            # RFC 7636: a challenge without a method is "plain".
            code_challenge_method=(params["code_challenge_method"] or "plain")
            if params["code_challenge"]
            else None,
            nonce=params["nonce"] or None,
            access_type=params["access_type"] or "online",
            issue_refresh_token=issue_refresh_token,
            expires_at=time.time() + AUTH_CODE_LIFETIME,
        )
        state.codes[code.code] = code
    location = add_query(
        params["redirect_uri"],
        {
            "code": code.code,
            "state": params["state"] or None,
            "scope": " ".join(granted),
            "authuser": "0",
            "prompt": "consent",
        },
    )
    return redirect(location)


def _scope_items(scopes: list[str]) -> list[pages.ScopeItem]:
    return [
        pages.ScopeItem(scope, _SCOPE_LABELS.get(scope, f"Access {scope}"), scope in IDENTITY_SCOPES)
        for scope in scopes
    ]


def authorize(ctx: Context, req: Request) -> Response:
    """GET /o/oauth2/v2/auth: the consent page (or an armed set_consent answer)."""
    params = {name: req.args.get(name) or "" for name in AUTHORIZE_PARAMS}
    scopes = parse_scopes(req.args.get("scope"))
    problem = _authorize_problem(ctx, params, scopes)
    if problem:
        return _error_page(problem)

    preset = ctx.state.pop_consent()
    if preset is not None:
        if preset.decision == "deny":
            return _deny(params)
        granted = [s for s in scopes if preset.scopes is None or s in IDENTITY_SCOPES or s in preset.scopes]
        return _allow(
            ctx,
            params,
            granted,
            email=preset.email,
            name=preset.name or DEFAULT_NAME,
            issue_refresh_token=preset.issue_refresh_token,
        )

    hidden = {name: value for name, value in params.items() if value}
    hidden["requested_scope"] = " ".join(scopes)
    markup = pages.consent_page(
        client_id=ctx.client_id,
        scopes=_scope_items(scopes),
        hidden=hidden,
        email=params["login_hint"] or DEFAULT_EMAIL,
        name=DEFAULT_NAME,
    )
    return html_response(markup, headers={"X-Frame-Options": "DENY", **_NO_STORE})


def authorize_decision(ctx: Context, req: Request) -> Response:
    """POST /o/oauth2/v2/auth: the consent form's Allow / Deny."""
    params = {name: req.field(name) or "" for name in AUTHORIZE_PARAMS}
    ticked = set(req.fields.getlist("scope"))
    requested = parse_scopes(req.field("requested_scope")) or list(ticked)
    problem = _authorize_problem(ctx, params, requested)
    if problem:
        return _error_page(problem)

    decision = req.field("decision")
    if decision == "deny":
        return _deny(params)
    if decision != "allow":
        return _error_page(("invalid_request", "The consent form must be answered with Allow or Deny."))
    email = (req.field("email") or "").strip()
    name = (req.field("name") or "").strip()
    if "@" not in email:
        hidden = {key: value for key, value in params.items() if value}
        hidden["requested_scope"] = " ".join(requested)
        markup = pages.consent_page(
            client_id=ctx.client_id,
            scopes=_scope_items(requested),
            hidden=hidden,
            email=email,
            name=name,
            error="Enter an email address.",
        )
        return html_response(markup, 400)
    granted = [s for s in requested if s in IDENTITY_SCOPES or s in ticked]
    return _allow(ctx, params, granted, email=email, name=name or DEFAULT_NAME, issue_refresh_token=True)


# ------------------------------------------------------------------------- token


def _client_credentials(req: Request) -> tuple[str | None, str | None]:
    auth = req.authorization
    if auth is not None and auth.type == "basic":
        # RFC 6749 2.3.1: both halves are form-urlencoded before joining.
        username, password = auth.username or "", auth.password or ""
        return unquote_plus(username), unquote_plus(password)
    if req.headers.get("Authorization", "").lower().startswith("basic"):
        return None, None  # a Basic header werkzeug could not decode
    return req.field("client_id"), req.field("client_secret")


def _id_token(ctx: Context, account: Account, access_token: str, nonce: str | None) -> str:
    now = int(time.time())
    # at_hash: base64url of the left half of SHA-256(access token), as OpenID Connect defines it.
    at_hash = base64.urlsafe_b64encode(hashlib.sha256(access_token.encode()).digest()[:16]).rstrip(b"=")
    claims: dict[str, Any] = {
        "iss": ctx.issuer,
        "azp": ctx.client_id,
        "aud": ctx.client_id,
        "sub": account.sub,
        "email": account.email,
        "email_verified": True,
        "at_hash": at_hash.decode("ascii"),
        "name": account.name,
        "picture": f"{ctx.base_url}/_emulator/avatar/{account.sub}.svg",
        "given_name": _split_name(account.name)[0],
        "family_name": _split_name(account.name)[1],
        "iat": now,
        "exp": now + ID_TOKEN_LIFETIME,
    }
    if nonce:
        claims["nonce"] = nonce
    return ctx.keys.sign(claims)


def _token_body(ctx: Context, grant: Grant, *, refresh: bool, nonce: str | None) -> dict[str, Any]:
    state = ctx.state
    access = state.issue_access_token(grant)
    body: dict[str, Any] = {
        "access_token": access.token,
        "expires_in": round(access.expires_at - access.issued_at),
    }
    if refresh and grant.refresh_token:
        body["refresh_token"] = grant.refresh_token
    body["scope"] = " ".join(grant.scopes)
    body["token_type"] = "Bearer"
    if IDENTITY_SCOPES.intersection(grant.scopes):
        body["id_token"] = _id_token(ctx, state.accounts_by_email[grant.email], access.token, nonce)
    return body


def _exchange_code(ctx: Context, req: Request, client_id: str) -> Response:
    state = ctx.state
    verifier = req.field("code_verifier")
    with state.lock:
        code = state.codes.get(req.field("code") or "")
        if code is None or code.used or code.expires_at < time.time() or code.client_id != client_id:
            return oauth_error(400, "invalid_grant", "Bad Request")
        if req.field("redirect_uri") != code.redirect_uri:
            return oauth_error(400, "redirect_uri_mismatch", "Bad Request")
        if code.code_challenge:
            if not verifier:
                return oauth_error(400, "invalid_grant", "Missing code verifier.")
            expected = _b64url_sha256(verifier) if code.code_challenge_method == "S256" else verifier
            if not hmac.compare_digest(expected.encode(), code.code_challenge.encode()):
                return oauth_error(400, "invalid_grant", "Invalid code verifier.")
        # Consumed only on success, so a client can retry after fixing its own mistake.
        code.used = True
        grant = state.create_grant(
            email=code.email,
            client_id=client_id,
            scopes=code.scopes,
            with_refresh_token=code.access_type == "offline" and code.issue_refresh_token,
        )
        body = _token_body(ctx, grant, refresh=True, nonce=code.nonce)
    return json_response(body, headers=_NO_STORE)


def _refresh(ctx: Context, req: Request, client_id: str) -> Response:
    state = ctx.state
    with state.lock:
        grant_id = state.refresh_tokens.get(req.field("refresh_token") or "")
        grant = state.grants.get(grant_id) if grant_id else None
        if grant is None or grant.revoked or grant.client_id != client_id:
            return oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        body = _token_body(ctx, grant, refresh=False, nonce=None)
    return json_response(body, headers=_NO_STORE)


def token(ctx: Context, req: Request) -> Response:
    """POST /token."""
    client_id, client_secret = _client_credentials(req)
    if (
        client_id != ctx.client_id
        or client_secret is None
        or not hmac.compare_digest(client_secret.encode(), ctx.client_secret.encode())
    ):
        return oauth_error(401, "invalid_client", "Unauthorized")
    grant_type = req.field("grant_type")
    if grant_type == "authorization_code":
        return _exchange_code(ctx, req, client_id)
    if grant_type == "refresh_token":
        return _refresh(ctx, req, client_id)
    if not grant_type:
        return oauth_error(400, "invalid_request", "Missing required parameter: grant_type")
    return oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")


# ------------------------------------------------- certs, userinfo, revoke, discovery


def certs_x509(ctx: Context, req: Request) -> Response:
    """GET /oauth2/v1/certs: kid -> PEM certificate (what django-allauth verifies with)."""
    return json_response(ctx.keys.x509_certs(), headers=_CERTS_CACHE)


def certs_jwks(ctx: Context, req: Request) -> Response:
    """GET /oauth2/v3/certs: the same key as a JWKS."""
    return json_response(ctx.keys.jwks(), headers=_CERTS_CACHE)


@dataclass(frozen=True)
class Authorized:
    account: Account
    grant: Grant


def require_token(ctx: Context, req: Request, scopes: frozenset[str] | None) -> Authorized | Response:
    """Check the bearer token (401) and, when given, that one of ``scopes`` was granted (403)."""
    found = ctx.state.authenticate(req.bearer_token())
    if found is None:
        return api_error(
            401,
            "Request had invalid authentication credentials.",
            "authError",
            detail="Invalid Credentials",
            extra={"location": "Authorization", "locationType": "header"},
            headers={
                "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'
            },
        )
    account, grant = found
    if scopes is not None and not scopes.intersection(grant.scopes):
        return api_error(
            403,
            "Request had insufficient authentication scopes.",
            "insufficientPermissions",
            detail="Insufficient Permission",
            headers={
                "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="insufficient_scope"'
            },
        )
    return Authorized(account, grant)


def userinfo(ctx: Context, req: Request) -> Response:
    """GET /oauth2/v3/userinfo and /oauth2/v2/userinfo (same body, both naming styles)."""
    auth = require_token(ctx, req, None)
    if isinstance(auth, Response):
        return auth
    return json_response(profile(ctx, auth.account))


def revoke(ctx: Context, req: Request) -> Response:
    """POST /revoke: revoking any token of a grant revokes the whole grant."""
    token_value = req.field("token") or req.args.get("token") or ""
    with ctx.state.lock:
        grant = ctx.state.grant_for_token(token_value)
        if grant is None or grant.revoked:
            return oauth_error(400, "invalid_token", "Token expired or revoked")
        grant.revoked = True
    return json_response({})


def openid_configuration(ctx: Context, req: Request) -> Response:
    """GET /.well-known/openid-configuration, trimmed to what the emulator serves."""
    base = ctx.base_url
    return json_response(
        {
            "issuer": ctx.issuer,
            "authorization_endpoint": f"{base}/o/oauth2/v2/auth",
            "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/oauth2/v3/userinfo",
            "revocation_endpoint": f"{base}/revoke",
            "jwks_uri": f"{base}/oauth2/v3/certs",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "code_challenge_methods_supported": ["plain", "S256"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
        }
    )


def avatar(ctx: Context, req: Request, sub: str) -> Response:
    """GET /_emulator/avatar/<sub>.svg: the ``picture`` URL of every account."""
    with ctx.state.lock:
        names = [a.name for a in ctx.state.accounts_by_email.values() if a.sub == sub]
    body = pages.avatar_svg(names[0] if names else "?").encode("utf-8")
    return Response(body, 200, {"Cache-Control": "public, max-age=3600"}, content_type="image/svg+xml")
