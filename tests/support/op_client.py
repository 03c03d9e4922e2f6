"""Drives Lanyard's OpenID Provider with Authlib (PyPI), independently of openid-client:
discovery, authorization code + PKCE, ID token validation (signature against the JWKS, iss,
aud, exp, nonce via authlib.oidc.core.CodeIDToken), UserInfo.

Env: ISSUER, CLIENT_ID, CLIENT_SECRET, AUTH (client_secret_basic|client_secret_post), REDIRECT_URI.
Same line protocol as op_client.mjs: GO <json> -> AUTHORIZE <url>; <callback URL> -> RESULT/ERROR.
"""
import json
import os
import sys

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.oidc.core import CodeIDToken

issuer = os.environ["ISSUER"]
client_id = os.environ["CLIENT_ID"]
meta = requests.get(issuer + "/.well-known/openid-configuration", timeout=10).json()
assert meta["issuer"] == issuer, meta["issuer"]
print("DISCOVERED " + json.dumps(meta), flush=True)
jwks = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())

for line in sys.stdin:
    if not line.startswith("GO "):
        break
    extra = json.loads(line[3:])
    session = OAuth2Session(
        client_id,
        os.environ["CLIENT_SECRET"],
        scope="openid email profile",
        redirect_uri=os.environ["REDIRECT_URI"],
        code_challenge_method="S256",
        token_endpoint_auth_method=os.environ.get("AUTH", "client_secret_basic"),
    )
    verifier = generate_token(64)
    nonce = generate_token(20)
    url, state = session.create_authorization_url(
        meta["authorization_endpoint"], nonce=nonce, code_verifier=verifier, **extra
    )
    print("AUTHORIZE " + url, flush=True)
    back = sys.stdin.readline().strip()
    try:
        token = session.fetch_token(
            meta["token_endpoint"], authorization_response=back, code_verifier=verifier
        )
        claims = jwt.decode(
            token["id_token"],
            jwks,
            claims_cls=CodeIDToken,
            claims_options={
                "iss": {"essential": True, "value": meta["issuer"]},
                "aud": {"essential": True, "value": client_id},
            },
            claims_params={"nonce": nonce, "client_id": client_id},
        )
        claims.validate()
        userinfo = session.get(meta["userinfo_endpoint"], timeout=10).json()
        print("RESULT " + json.dumps({"claims": dict(claims), "userinfo": userinfo}), flush=True)
    except Exception as e:  # the test reads the message
        print("ERROR " + json.dumps(f"{type(e).__name__}: {e}"), flush=True)
