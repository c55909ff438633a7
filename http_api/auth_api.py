"""`/api/auth/*` and `/api/session/refresh`: accounts, sign-in, passwords, TOTP, sessions."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from aiohttp import web

from commands import sessions, users
from http_api.authn import PRINCIPAL
from http_api.keys import SERVICES
from http_api.mailer import MailDeliveryError, password_reset_mail, verification_mail
from http_api.parsing import Body, Field, read_body
from http_api.routes import Route
from http_api.views import (
    LOGIN_FIELDS,
    ME_FIELDS,
    MESSAGE_SCHEMA,
    REGISTER_FIELDS,
    user_json,
    user_schema,
    wrapped,
)
from ledger.times import iso_z
from projections import user_queries

log = logging.getLogger(__name__)

EMAIL = Field("string", max_length=254)
PASSWORD = Field("string", min_length=8, max_length=256)
CODE = Field("string", min_length=1, max_length=64)
TOKEN = Field("string", min_length=1, max_length=512)
USERNAME = Field("string", min_length=3, max_length=30)

REGISTER = Body(
    {
        "email": EMAIL,
        "password": PASSWORD,
        "username": USERNAME,
        "referral_code": Field("string", required=False, max_length=64, nullable=True),
    }
)
LOGIN = Body(
    {
        "email": EMAIL,
        "password": Field("string", max_length=256),
        "totp_code": Field("string", required=False, max_length=64, nullable=True),
    }
)
UPDATE_ME = Body({"username": Field("string", required=False, min_length=3, max_length=30)})
EMPTY = Body()
VERIFY_EMAIL = Body({"token": TOKEN})
FORGOT = Body({"email": EMAIL})
RESET = Body({"token": TOKEN, "password": PASSWORD})
CHANGE = Body({"current_password": Field("string", max_length=256), "new_password": PASSWORD})
TOTP_CODE = Body({"code": CODE})
TOTP_DISABLE = Body(
    {
        "code": Field("string", required=False, max_length=64),
        "password": Field("string", required=False, max_length=256),
    }
)
SESSION_REFRESH = Body({"session_token": TOKEN})


def _json(data: object, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, headers={"Cache-Control": "no-store"})


async def _send_verification(request: web.Request, email: str, code: str) -> None:
    await request.app[SERVICES].mailer.send(verification_mail(email, code))


async def register(request: web.Request) -> web.Response:
    body = await read_body(request, REGISTER)
    services = request.app[SERVICES]
    done: users.UserRegistered = await services.bus.execute(
        users.RegisterUser(
            body["email"], body["username"], body["password"], body.get("referral_code")
        )
    )
    if done.verification_code is not None:
        try:
            await _send_verification(request, done.email, done.verification_code)
        except MailDeliveryError:
            log.warning("verification mail for a new user could not be sent")
    user = await user_queries.user(services.reads, done.user_id)
    return _json({"user": user_json(user, REGISTER_FIELDS)}, status=201)


async def login(request: web.Request) -> web.Response:
    body = await read_body(request, LOGIN)
    services = request.app[SERVICES]
    now = services.bus.clock()
    expires_at = now + timedelta(seconds=services.settings.jwt_lifetime)
    jti = secrets.token_hex(16)
    user_id = await services.bus.execute(
        users.SignIn(body["email"], body["password"], body.get("totp_code"), jti, expires_at)
    )
    token = services.codec.issue(user_id, jti, now, expires_at)
    user = await user_queries.user(services.reads, user_id)
    return _json({"token": token, "user": user_json(user, LOGIN_FIELDS)})


async def me(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    user = await user_queries.user(services.reads, request[PRINCIPAL].user_id)
    return _json({"user": user_json(user, ME_FIELDS)})


async def update_me(request: web.Request) -> web.Response:
    body = await read_body(request, UPDATE_ME)
    services = request.app[SERVICES]
    principal = request[PRINCIPAL]
    if "username" in body:
        await services.bus.execute(users.ChangeUsername(principal.user_id, body["username"]))
    user = await user_queries.user(services.reads, principal.user_id)
    return _json({"user": user_json(user, ME_FIELDS)})


async def logout(request: web.Request) -> web.Response:
    await read_body(request, EMPTY)
    principal = request[PRINCIPAL]
    await request.app[SERVICES].bus.execute(users.SignOut(principal.user_id, principal.jti))
    return _json({"message": "Signed out"})


async def send_verification(request: web.Request) -> web.Response:
    await read_body(request, EMPTY)
    services = request.app[SERVICES]
    issued: users.CodeIssued = await services.bus.execute(
        users.IssueVerificationCode(request[PRINCIPAL].user_id)
    )
    await _send_verification(request, issued.email, issued.code)
    return _json({"message": "Verification code sent"})


async def verify_email(request: web.Request) -> web.Response:
    body = await read_body(request, VERIFY_EMAIL)
    await request.app[SERVICES].bus.execute(users.VerifyEmail(body["token"]))
    return _json({"message": "Email verified"})


FORGOT_ANSWER = {"message": "If the address has an account, a reset code is on its way."}


async def forgot_password(request: web.Request) -> web.Response:
    """Always the same answer, at once: the work happens after the response (no enumeration)."""
    body = await read_body(request, FORGOT)
    services = request.app[SERVICES]
    services.background(_mail_reset_code(request, body["email"]))
    return _json(FORGOT_ANSWER)


async def _mail_reset_code(request: web.Request, email: str) -> None:
    services = request.app[SERVICES]
    issued: users.CodeIssued | None = await services.bus.execute(users.RequestPasswordReset(email))
    if issued is not None:
        await services.mailer.send(password_reset_mail(issued.email, issued.code))


async def reset_password(request: web.Request) -> web.Response:
    body = await read_body(request, RESET)
    await request.app[SERVICES].bus.execute(users.ResetPassword(body["token"], body["password"]))
    return _json({"message": "Password changed; sign in again"})


async def change_password(request: web.Request) -> web.Response:
    body = await read_body(request, CHANGE)
    principal = request[PRINCIPAL]
    await request.app[SERVICES].bus.execute(
        users.ChangePassword(
            principal.user_id, body["current_password"], body["new_password"], principal.jti
        )
    )
    return _json({"message": "Password changed"})


async def totp_setup(request: web.Request) -> web.Response:
    await read_body(request, EMPTY)
    provisioning: users.TotpProvisioning = await request.app[SERVICES].bus.execute(
        users.SetUpTotp(request[PRINCIPAL].user_id)
    )
    return _json({"secret": provisioning.secret, "uri": provisioning.uri})


async def totp_enable(request: web.Request) -> web.Response:
    body = await read_body(request, TOTP_CODE)
    codes = await request.app[SERVICES].bus.execute(
        users.EnableTotp(request[PRINCIPAL].user_id, body["code"])
    )
    return _json({"totp_enabled": True, "recovery_codes": codes})


async def totp_verify(request: web.Request) -> web.Response:
    body = await read_body(request, TOTP_CODE)
    valid = await request.app[SERVICES].bus.execute(
        users.VerifyTotp(request[PRINCIPAL].user_id, body["code"])
    )
    return _json({"valid": valid})


async def totp_disable(request: web.Request) -> web.Response:
    body = await read_body(request, TOTP_DISABLE)
    await request.app[SERVICES].bus.execute(
        users.DisableTotp(request[PRINCIPAL].user_id, body.get("code"), body.get("password"))
    )
    return _json({"totp_enabled": False})


async def session_refresh(request: web.Request) -> web.Response:
    body = await read_body(request, SESSION_REFRESH)
    issued: sessions.SessionToken = await request.app[SERVICES].bus.execute(
        sessions.RefreshSession(body["session_token"])
    )
    return _json({"session_token": issued.token, "expires_at": iso_z(issued.expires_at)})


USER = {200: wrapped("user", user_schema(ME_FIELDS))}
MESSAGE = {200: MESSAGE_SCHEMA}
TOTP_STATE = {200: {"type": "object", "properties": {"totp_enabled": {"type": "boolean"}}}}

AUTH_ROUTES = [
    Route(
        "POST",
        "/api/auth/register",
        register,
        "Create an account",
        "auth",
        request=REGISTER.schema(),
        limit="register",
        responses={201: wrapped("user", user_schema(REGISTER_FIELDS))},
    ),
    Route(
        "POST",
        "/api/auth/login",
        login,
        "Sign in and get a JWT",
        "auth",
        request=LOGIN.schema(),
        limit="login",
        responses={
            200: {
                "type": "object",
                "required": ["token", "user"],
                "properties": {"token": {"type": "string"}, "user": user_schema(LOGIN_FIELDS)},
            }
        },
    ),
    Route("GET", "/api/auth/me", me, "The caller's profile", "auth", auth="jwt", responses=USER),
    Route(
        "PUT",
        "/api/auth/me",
        update_me,
        "Change the caller's username",
        "auth",
        auth="jwt",
        request=UPDATE_ME.schema(),
        responses=USER,
    ),
    Route(
        "POST",
        "/api/auth/logout",
        logout,
        "Revoke the presented JWT",
        "auth",
        auth="jwt",
        responses=MESSAGE,
    ),
    Route(
        "POST",
        "/api/auth/send-verification",
        send_verification,
        "Mail a fresh code",
        "auth",
        auth="jwt",
        responses=MESSAGE,
    ),
    Route(
        "POST",
        "/api/auth/verify-email",
        verify_email,
        "Verify the email with a code",
        "auth",
        request=VERIFY_EMAIL.schema(),
        responses=MESSAGE,
    ),
    Route(
        "POST",
        "/api/auth/forgot-password",
        forgot_password,
        "Mail a reset code",
        "auth",
        request=FORGOT.schema(),
        limit="forgot_password",
        responses=MESSAGE,
    ),
    Route(
        "POST",
        "/api/auth/reset-password",
        reset_password,
        "Set a new password with a code",
        "auth",
        request=RESET.schema(),
        responses=MESSAGE,
    ),
    Route(
        "POST",
        "/api/auth/change-password",
        change_password,
        "Change the password",
        "auth",
        auth="jwt",
        request=CHANGE.schema(),
        responses=MESSAGE,
    ),
    Route(
        "POST",
        "/api/auth/totp/setup",
        totp_setup,
        "Start TOTP set-up",
        "auth",
        auth="jwt",
        responses={
            200: {
                "type": "object",
                "required": ["secret", "uri"],
                "properties": {"secret": {"type": "string"}, "uri": {"type": "string"}},
            }
        },
    ),
    Route(
        "POST",
        "/api/auth/totp/enable",
        totp_enable,
        "Turn TOTP on",
        "auth",
        auth="jwt",
        request=TOTP_CODE.schema(),
        responses={
            200: {
                "type": "object",
                "properties": {
                    "totp_enabled": {"type": "boolean"},
                    "recovery_codes": {"type": "array", "items": {"type": "string"}},
                },
            }
        },
    ),
    Route(
        "POST",
        "/api/auth/totp/verify",
        totp_verify,
        "Check a TOTP code",
        "auth",
        auth="jwt",
        request=TOTP_CODE.schema(),
        responses={200: {"type": "object", "properties": {"valid": {"type": "boolean"}}}},
    ),
    Route(
        "POST",
        "/api/auth/totp/disable",
        totp_disable,
        "Turn TOTP off",
        "auth",
        auth="jwt",
        request=TOTP_DISABLE.schema(),
        responses=TOTP_STATE,
    ),
    Route(
        "POST",
        "/api/session/refresh",
        session_refresh,
        "Rotate a session token",
        "session",
        request=SESSION_REFRESH.schema(),
        responses={
            200: {
                "type": "object",
                "required": ["session_token", "expires_at"],
                "properties": {
                    "session_token": {"type": "string"},
                    "expires_at": {"type": "string"},
                },
            }
        },
    ),
]
