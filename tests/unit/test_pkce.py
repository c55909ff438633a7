"""PKCE S256 as the server computes it: the worked example of RFC 7636 Appendix B."""

from __future__ import annotations

import base64

from commands.credentials import pkce_s256
from commands.grants import CHALLENGE, VERIFIER
from tests.e2e.oauth_helpers import s256

# RFC 7636 Appendix B: the 32 octets of the example, their base64url encoding (the
# code_verifier) and BASE64URL(SHA256(code_verifier)) (the code_challenge).
RFC7636_OCTETS = bytes(
    [116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186,
     22, 212, 37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121]
)  # fmt: skip
RFC7636_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
RFC7636_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_the_verifier_is_the_base64url_of_the_appendix_octets() -> None:
    encoded = base64.urlsafe_b64encode(RFC7636_OCTETS).decode().rstrip("=")
    assert encoded == RFC7636_VERIFIER


def test_pkce_s256_gives_the_appendix_b_challenge() -> None:
    assert pkce_s256(RFC7636_VERIFIER) == RFC7636_CHALLENGE


def test_the_test_helper_agrees_with_the_server() -> None:
    assert s256(RFC7636_VERIFIER) == pkce_s256(RFC7636_VERIFIER)


def test_the_vector_passes_the_servers_shape_checks() -> None:
    assert VERIFIER.fullmatch(RFC7636_VERIFIER)
    assert CHALLENGE.fullmatch(RFC7636_CHALLENGE)
    assert "=" not in pkce_s256(RFC7636_VERIFIER)


def test_one_character_changes_the_challenge() -> None:
    assert pkce_s256(RFC7636_VERIFIER[:-1] + "j") != RFC7636_CHALLENGE
