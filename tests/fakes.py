"""Stand-ins for what cannot run offline: an Entra credential. Nothing else is faked."""

from __future__ import annotations

import base64
import json
import time
import uuid

from azure.core.credentials import AccessToken, AccessTokenInfo

TENANT = str(uuid.UUID(int=1))
OBJECT_ID = str(uuid.UUID(int=2))


def _b64(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


class FakeEntraCredential:
    """An azure-identity-shaped credential whose unsigned JWT Azurite's `--oauth basic` accepts.

    No Entra ID exists offline; Azurite checks only iss/aud/nbf/exp/iat, so storage calls are real.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        self.calls.append(scopes)
        now = int(time.time())
        claims = {"aud": "https://storage.azure.com", "iss": f"https://sts.windows.net/{TENANT}/",
                  "nbf": now - 60, "iat": now - 60, "exp": now + 3600, "oid": OBJECT_ID, "tid": TENANT}  # fmt: skip
        return AccessToken(_b64({"alg": "none", "typ": "JWT"}) + "." + _b64(claims) + ".ZmFrZXNpZw", now + 3600)

    def get_token_info(self, *scopes: str, options: object = None) -> AccessTokenInfo:
        tok = self.get_token(*scopes)
        return AccessTokenInfo(tok.token, tok.expires_on)
