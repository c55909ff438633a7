"""Every secret that crossed the wire in an account's life, looked for in everything stored."""

from __future__ import annotations

import time

import pyotp
from aiohttp.test_utils import TestClient

from http_api.settings import Settings
from tests.e2e.auth_helpers import (
    claims_of,
    mailed_code,
    refresh,
    reset_code,
    start_session,
)
from tests.e2e.helpers import Person, outbox_codes
from tests.secret_scan import assert_secrets_not_stored, stored_cells


async def test_no_secret_sent_over_http_is_stored_in_usable_form(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    person = Person(client, settings.data_dir, password="first secret password")
    secrets = [person.password]

    await person.register()
    await person.login()
    secrets.append(person.token)
    sent = await client.post("/api/auth/send-verification", headers=person.auth)
    assert sent.status == 200
    await person.verify_email()
    secrets += outbox_codes(settings.data_dir, person.email)  # both verification codes

    setup = await (await client.post("/api/auth/totp/setup", headers=person.auth)).json()
    totp = pyotp.TOTP(setup["secret"])
    secrets += [setup["secret"], setup["uri"]]
    enabled = await client.post(
        "/api/auth/totp/enable", headers=person.auth, json={"code": totp.now()}
    )
    recovery = (await enabled.json())["recovery_codes"]
    secrets += recovery
    await person.login(totp_code=totp.at(time.time() + 30))
    secrets.append(person.token)
    await person.login(totp_code=recovery[0])
    secrets.append(person.token)

    session = await start_session(client, person.user["id"])
    rotated = await (await refresh(client, session)).json()
    secrets += [session, rotated["session_token"]]

    changed = await client.post(
        "/api/auth/change-password",
        headers=person.auth,
        json={"current_password": person.password, "new_password": "second secret password"},
    )
    assert changed.status == 200
    person.password = "second secret password"
    secrets.append(person.password)

    code = await reset_code(person)
    reset = await client.post(
        "/api/auth/reset-password", json={"token": code, "password": "third secret password"}
    )
    assert reset.status == 200
    person.password = "third secret password"
    secrets += [code, person.password]
    already = len(outbox_codes(settings.data_dir, person.email))
    await client.post("/api/auth/forgot-password", json={"email": person.email})
    secrets.append(await mailed_code(settings.data_dir, person.email, already))  # never used

    await person.login(totp_code=recovery[1])
    secrets.append(person.token)
    jti = claims_of(person.token)["jti"]
    assert jti not in secrets  # a jti alone may be stored
    # The scan sees the event log and the read models: the jti is in both.
    assert {table for table, cell in stored_cells(settings) if jti in cell} >= {
        "credentials",
        "buddo_events" if settings.backend == "postgres" else "stored_events",
    }

    # The random part of each locator code must not be stored either.
    secrets += [code.partition(".")[2] for code in outbox_codes(settings.data_dir, person.email)]
    secrets += [token.partition(".")[2] for token in (session, rotated["session_token"])]
    assert_secrets_not_stored(settings, secrets)
