"""geocatalog token providers: Entra tokens for the GeoCatalog scope, cached until five minutes before expiry."""

import time

from azure.core.credentials import AccessToken

from ingest_core.geocatalog import CredentialToken, StaticToken


class CountingCredential:
    def __init__(self, lifetime: float) -> None:
        self.lifetime = lifetime
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(f"token-{len(self.scopes)}", int(time.time() + self.lifetime))


def test_token_is_requested_for_the_geocatalog_scope_and_cached():
    cred = CountingCredential(lifetime=3600)
    token = CredentialToken(cred, "https://geocatalog.spatio.azure.com/.default")
    assert token() == token() == "token-1"
    assert cred.scopes == [("https://geocatalog.spatio.azure.com/.default",)]


def test_token_near_expiry_is_renewed():
    cred = CountingCredential(lifetime=120)  # inside the five-minute skew: every call renews
    token = CredentialToken(cred, "scope")
    assert (token(), token()) == ("token-1", "token-2")


def test_static_token_is_only_for_the_emulator():
    assert StaticToken("local")() == "local"
