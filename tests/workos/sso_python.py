"""The end of a WorkOS SSO sign-in with the official Python SDK (PyPI workos 10.x), configured
through WORKOS_BASE_URL, WORKOS_API_KEY and WORKOS_CLIENT_ID: the code for the profile and an
access token, then the profile with the access token; with env LOGOUT, also the logout token and
URL for that profile (authorize_logout, get_logout_url). Env CODE; prints one JSON line."""
import json
import os

from workos import WorkOSClient
from workos._errors import AuthenticationError, BadRequestError

client = WorkOSClient()
r = client.sso.get_profile_and_token(code=os.environ["CODE"])
again = client.sso.get_profile(access_token=r.access_token)
reused = None
try:
    client.sso.get_profile_and_token(code=os.environ["CODE"])
except BadRequestError as e:
    reused = type(e).__name__
bad_token = None
try:
    client.sso.get_profile(access_token="lanyard_sat_nope")
except AuthenticationError as e:
    bad_token = type(e).__name__
logout = None
if os.environ.get("LOGOUT"):
    a = client.sso.authorize_logout(profile_id=r.profile.id)
    logout = {"token": a.logout_token, "url": a.logout_url, "sdk_url": client.sso.get_logout_url(token=a.logout_token)}
print(json.dumps({
    "sdk": "python-10",
    "profile": r.profile.to_dict(),
    "again": again.to_dict(),
    "expires_in": r.expires_in,
    "access_token": r.access_token,
    "reused": reused,
    "bad_token": bad_token,
    "logout": logout,
}))
