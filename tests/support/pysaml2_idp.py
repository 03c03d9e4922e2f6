"""A second, independent SAML 2.0 Identity Provider for Lanyard's tests: PyPI pysaml2 (its own
XML handling; signatures and encryption by Debian's xmlsec1 binary), beside the npm samlify one
(tests/support/saml_idp.mjs). Driven from tests/api/saml_pysaml2.rs.

Usage: target/pytools-venv/bin/python tests/support/pysaml2_idp.py -> prints "READY <port>".
Env: PYSAML2_IDP_PORT (default 0 = any free port). Base URL B = http://127.0.0.1:<port>.

Endpoints:
  GET  /metadata   IdP metadata made by pysaml2 (entityID = B/metadata, SSO at B/sso, signing cert)
  POST /sso (form: SAMLRequest, RelayState)  HTTP-POST binding: the same, the signature being
       the request's enveloped XML signature (verified by xmlsec1 through pysaml2).
  GET  /sso?SAMLRequest=...&RelayState=...[&SigAlg=...&Signature=...]
       HTTP-Redirect binding. pysaml2's Server.parse_authn_request decodes the request and, when
       the IdP wants signed requests, verifies SigAlg/Signature with the signing certificate of
       the uploaded SP metadata; the response goes to the ACS that metadata names for the
       request. Answers pysaml2's auto-posting HTML form (SAMLResponse, RelayState), or 403 with
       pysaml2's reason when the request is refused.
Single logout (HTTP-Redirect and, IdP-initiated, HTTP-POST; every message signed RSA-SHA256):
  GET  /slo?SAMLRequest=...&RelayState=...&SigAlg=...&Signature=...  the SP's LogoutRequest:
       pysaml2's Server.parse_logout_request decodes it and, while the IdP wants signed requests
       (want_authn_requests_signed, which pysaml2 applies to logout requests too), verifies
       SigAlg/Signature with the uploaded SP metadata's signing certificate (403 otherwise);
       answers 302 to the SP's SingleLogoutService with pysaml2's LogoutResponse, signed.
  GET  /slo?SAMLResponse=...  the SP's LogoutResponse to a logout this IdP started, parsed by
       pysaml2's parse_logout_request_response; answers 200 "signed out".
  GET  /_test/logout?name_id=...[&session_index=...][&relay_state=...][&binding=redirect|post]
       pysaml2 starts a logout (create_logout_request) to the SP's SingleLogoutService: a
       redirect signed over the query, or an auto-posting form with an enveloped signature.
  GET  /_test/last_logout -> {request: {id, issuer, name_id, session_index: [...]} | null,
       response: {in_response_to, status, issuer} | null}
Test hooks (JSON bodies; fields left out take their defaults, not their previous value):
  POST /_test/sp {metadata: <SP metadata XML> | null, want_authn_requests_signed: bool,
       other_sps: [<SP metadata XML>]} -> 204: as an admin uploading the SP's metadata into the
       IdP and setting its policy; other_sps are further SPs the IdP knows (an audience must be
       one of them: pysaml2 issues assertions only for SPs in its metadata).
  POST /_test/user {name_id, email, first_name, last_name, groups} -> 204
  POST /_test/mode {sign: assertion|response|both, audience: null | <entity id>,
       encrypt: null | {data: tripledes-cbc|aes256-cbc|aes128-cbc|aes256-gcm|aes128-gcm,
                        cert: sp|other}} -> 204  (encrypt defaults: aes256-cbc, sp)
       audience: the SP entity id the assertion is issued for (default: the request's Issuer),
       while the Response still goes to the requesting SP's ACS.
       encrypt: pysaml2's encrypt_assertion, to the encryption certificate in the uploaded SP
       metadata (cert: sp) or to tests/support/saml_idp/other.crt (cert: other). pysaml2 signs
       the assertion before encrypting it and the Response after. It always encrypts with
       Triple DES (tripledes-cbc, a 192-bit session key) and has no setting for another
       algorithm; for the others this script swaps the EncryptionMethod of pysaml2's template
       and the session key size it hands xmlsec1 (see `encryption_algorithm`).
"""

import functools
import json
import os
import shutil
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import saml2.entity
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, saml, sigver
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.s_utils import UnknownPrincipal, UnsupportedBinding
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NameID
from saml2.server import Server
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

HERE = os.path.dirname(os.path.abspath(__file__))
KEY_DIR = os.path.join(HERE, "saml_idp")
XMLSEC = shutil.which("xmlsec1") or "/usr/bin/xmlsec1"

# Content algorithm -> (EncryptionMethod URI, xmlsec1 --session-key).
DATA_ALGORITHMS = {
    "tripledes-cbc": (sigver.TRIPLE_DES_CBC, "des-192"),
    "aes256-cbc": ("http://www.w3.org/2001/04/xmlenc#aes256-cbc", "aes-256"),
    "aes128-cbc": ("http://www.w3.org/2001/04/xmlenc#aes128-cbc", "aes-128"),
    "aes256-gcm": ("http://www.w3.org/2009/xmlenc11#aes256-gcm", "aes-256"),
    "aes128-gcm": ("http://www.w3.org/2009/xmlenc11#aes128-gcm", "aes-128"),
}

DEFAULT_USER = {
    "name_id": "dana@acme.test",
    "email": "dana@acme.test",
    "first_name": "Dana",
    "last_name": "Lee",
    "groups": ["Engineering"],
}
DEFAULT_MODE = {"sign": "assertion", "audience": None, "encrypt": None}

lock = threading.Lock()
# One sign-in at a time: `encryption_algorithm` sets pysaml2 module state for the next response.
login_lock = threading.Lock()
state = {
    "base": "",
    "user": dict(DEFAULT_USER),
    "mode": dict(DEFAULT_MODE),
    "sp_metadata": None,
    "want_signed": False,
    "server": None,
    "last_logout": {"request": None, "response": None},
}


class HttpError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def config(base, sp_metadata, want_signed, other_sps=()):
    """pysaml2's IdP configuration: one SSO endpoint (HTTP-Redirect), RSA-SHA256 signatures."""
    return {
        "entityid": f"{base}/metadata",
        "xmlsec_binary": XMLSEC,
        "key_file": os.path.join(KEY_DIR, "idp.key"),
        "cert_file": os.path.join(KEY_DIR, "idp.crt"),
        "metadata": {"inline": [sp_metadata, *other_sps]} if sp_metadata else {},
        "accepted_time_diff": 60,
        "service": {
            "idp": {
                "name": "Lanyard test IdP (pysaml2)",
                "endpoints": {
                    "single_sign_on_service": [
                        (f"{base}/sso", BINDING_HTTP_REDIRECT),
                        (f"{base}/sso", BINDING_HTTP_POST),
                    ],
                    "single_logout_service": [
                        (f"{base}/slo", BINDING_HTTP_REDIRECT),
                        (f"{base}/slo", BINDING_HTTP_POST),
                    ],
                },
                "want_authn_requests_signed": want_signed,
                # pysaml2 reads these from the service section (the top-level ones are not
                # what the IdP signs with); without them it signs with RSA-SHA1.
                "signing_algorithm": SIG_RSA_SHA256,
                "digest_algorithm": DIGEST_SHA256,
                "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
                "policy": {
                    "default": {
                        "lifetime": {"minutes": 5},
                        # No attribute filtering: the test decides what is sent.
                        "attribute_restrictions": None,
                        "name_form": "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified",
                    },
                },
            },
        },
    }


def make_server(base, sp_metadata, want_signed, other_sps=()):
    cfg = IdPConfig()
    cfg.load(config(base, sp_metadata, want_signed, other_sps))
    return Server(config=cfg)


def encryption_algorithm(server, data):
    """pysaml2 builds its EncryptedData template with pre_encryption_part(msg_enc=TRIPLE_DES_CBC)
    and calls xmlsec1 with --session-key des-192, with no setting for either. Point both at
    `data` for the next response; xmlsec1 still does the encryption, as pysaml2 drives it."""
    uri, session_key = DATA_ALGORITHMS[data]
    saml2.entity.pre_encryption_part = functools.partial(sigver.pre_encryption_part, msg_enc=uri)
    sec = server.sec
    sec.encrypt_assertion = functools.partial(type(sec).encrypt_assertion, sec, key_type=session_key)


def pem_body(path):
    with open(path, encoding="ascii") as f:
        return "".join(line.strip() for line in f if not line.startswith("-----"))


def identity(user):
    # Attribute names as Okta sends them (Lanyard's default mapping reads these).
    ava = {
        "email": [user["email"]],
        "firstName": [user["first_name"]],
        "lastName": [user["last_name"]],
        "groups": list(user["groups"]),
    }
    return {k: v for k, v in ava.items() if v and all(x is not None for x in v)}


def login(query, binding=BINDING_HTTP_REDIRECT):
    """An AuthnRequest over HTTP-Redirect (the query) or HTTP-POST (the form body)
    -> (ACS URL, base64 Response, RelayState)."""
    params = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
    if "SAMLRequest" not in params:
        raise HttpError(400, "missing SAMLRequest parameter")
    with lock:
        server = state["server"]
        user = dict(state["user"])
        mode = json.loads(json.dumps(state["mode"]))
    if server is None or state["sp_metadata"] is None:
        raise HttpError(409, "no SP metadata: POST /_test/sp first (pysaml2 sends responses only to SPs it knows)")
    try:
        req = server.parse_authn_request(
            params["SAMLRequest"],
            binding,
            relay_state=params.get("RelayState"),
            sigalg=params.get("SigAlg"),
            signature=params.get("Signature"),
        )
    except Exception as e:  # pysaml2 raises many kinds; each one is a refusal
        raise HttpError(403, f"AuthnRequest refused by pysaml2: {type(e).__name__}: {e}") from e
    if req is None:
        raise HttpError(403, "AuthnRequest refused by pysaml2")
    try:
        args = server.response_args(req.message, [BINDING_HTTP_POST])
    except (UnknownPrincipal, UnsupportedBinding) as e:
        raise HttpError(403, f"pysaml2 has no ACS for this request: {type(e).__name__}: {e}") from e
    sp_entity_id = args["sp_entity_id"]
    audience = mode["audience"] or sp_entity_id
    sign = mode["sign"]
    kwargs = {}
    enc = mode["encrypt"]
    if enc is not None:
        encryption_algorithm(server, enc["data"])
        kwargs["encrypt_assertion"] = True
        if enc["cert"] == "other":
            kwargs["encrypt_cert_assertion"] = pem_body(os.path.join(KEY_DIR, "other.crt"))
        elif not server.has_encrypt_cert_in_metadata(sp_entity_id):
            raise HttpError(409, "encrypt mode needs SP metadata with an encryption certificate")
    response = server.create_authn_response(
        identity(user),
        in_response_to=args["in_response_to"],
        destination=args["destination"],
        sp_entity_id=audience,
        name_id=saml.NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=user["name_id"]),
        authn={
            "class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
        },
        sign_assertion=sign in ("assertion", "both"),
        sign_response=sign in ("response", "both"),
        **kwargs,
    )
    if enc is not None and "EncryptedAssertion" not in str(response):
        raise HttpError(500, "pysaml2 did not encrypt the assertion")
    return args["destination"], str(response), params.get("RelayState")


def registered_sp(server):
    with lock:
        md = state["sp_metadata"]
    if server is None or md is None:
        raise HttpError(409, "no SP metadata: POST /_test/sp first")
    entity_id = md.split('entityID="', 1)[1].split('"', 1)[0]
    return entity_id


def slo(query):
    """A logout message from the SP by HTTP-Redirect -> (status, headers, body)."""
    params = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
    with lock:
        server = state["server"]
    registered_sp(server)
    if "SAMLResponse" in params:
        try:
            resp = server.parse_logout_request_response(params["SAMLResponse"], BINDING_HTTP_REDIRECT)
        except Exception as e:
            raise HttpError(403, f"LogoutResponse refused by pysaml2: {type(e).__name__}: {e}") from e
        if resp is None:
            raise HttpError(403, "LogoutResponse refused by pysaml2")
        m = resp.response
        with lock:
            state["last_logout"]["response"] = {
                "in_response_to": m.in_response_to,
                "status": m.status.status_code.value,
                "issuer": m.issuer.text.strip() if m.issuer is not None else None,
            }
        return 200, [], "signed out\n"
    if "SAMLRequest" not in params:
        raise HttpError(400, "missing SAMLRequest or SAMLResponse")
    try:
        req = server.parse_logout_request(
            params["SAMLRequest"],
            BINDING_HTTP_REDIRECT,
            relay_state=params.get("RelayState"),
            sigalg=params.get("SigAlg"),
            signature=params.get("Signature"),
        )
    except Exception as e:
        raise HttpError(403, f"LogoutRequest refused by pysaml2: {type(e).__name__}: {e}") from e
    if req is None:
        raise HttpError(403, "LogoutRequest refused by pysaml2")
    msg = req.message
    with lock:
        state["last_logout"]["request"] = {
            "id": msg.id,
            "issuer": msg.issuer.text.strip(),
            "name_id": msg.name_id.text.strip() if msg.name_id is not None else None,
            "session_index": [si.text for si in msg.session_index],
        }
    response = server.create_logout_response(msg, [BINDING_HTTP_REDIRECT], sign=False)
    info = server.apply_binding(
        BINDING_HTTP_REDIRECT,
        str(response),
        response.destination,
        params.get("RelayState", ""),
        response=True,
        sign=True,
        sigalg=SIG_RSA_SHA256,
    )
    return 302, info["headers"], ""


def start_logout(query):
    """pysaml2 starts a logout at the SP -> (status, headers, body)."""
    params = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
    with lock:
        server = state["server"]
    sp = registered_sp(server)
    if not params.get("name_id"):
        raise HttpError(400, "name_id is required")
    binding = BINDING_HTTP_POST if params.get("binding") == "post" else BINDING_HTTP_REDIRECT
    _, destination = server.pick_binding("single_logout_service", [binding], "spsso", entity_id=sp)
    post = binding == BINDING_HTTP_POST
    _, request = server.create_logout_request(
        destination,
        sp,
        name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=params["name_id"]),
        session_indexes=[params["session_index"]] if params.get("session_index") else None,
        # HTTP-POST: an enveloped signature; HTTP-Redirect: signed over the query below.
        sign=post,
        sign_alg=SIG_RSA_SHA256,
        digest_alg=DIGEST_SHA256,
    )
    info = server.apply_binding(
        binding, str(request), destination, params.get("relay_state", ""),
        sign=not post, sigalg=SIG_RSA_SHA256,
    )
    if post:
        return 200, [], info["data"]
    return 302, info["headers"], ""


def checked_mode(body):
    mode = {**DEFAULT_MODE, **body}
    if mode["sign"] not in ("assertion", "response", "both"):
        raise HttpError(400, "sign must be assertion, response or both")
    if mode["audience"] is not None and not isinstance(mode["audience"], str):
        raise HttpError(400, "audience must be null or a string")
    if mode["encrypt"] is not None:
        if not isinstance(mode["encrypt"], dict):
            raise HttpError(400, "encrypt must be null or {data, cert}")
        enc = {"data": "aes256-cbc", "cert": "sp", **mode["encrypt"]}
        if enc["data"] not in DATA_ALGORITHMS:
            raise HttpError(400, f"encrypt.data must be one of {', '.join(DATA_ALGORITHMS)}")
        if enc["cert"] not in ("sp", "other"):
            raise HttpError(400, "encrypt.cert must be sp or other")
        mode["encrypt"] = enc
    return {k: mode[k] for k in DEFAULT_MODE}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, status, body=b"", ctype="text/plain; charset=utf-8", headers=()):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
        self.send_header("cache-control", "no-store")
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self):
        raw = self.rfile.read(int(self.headers.get("content-length", "0")))
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError as e:
            raise HttpError(400, f"body must be a JSON object: {e}") from e
        if not isinstance(body, dict):
            raise HttpError(400, "body must be a JSON object")
        return body

    def _guard(self, handler):
        try:
            handler()
        except HttpError as e:
            self._send(e.status, f"{e}\n")
        except Exception as e:
            traceback.print_exc(file=sys.stderr)
            self._send(500, f"{type(e).__name__}: {e}\n")

    def do_GET(self):
        self._guard(self._get)

    def do_POST(self):
        self._guard(self._post)

    def _get(self):
        url = urlsplit(self.path)
        if url.path == "/metadata":
            with lock:
                server = state["server"]
            xml = create_metadata_string(None, config=server.config, valid=None, sign=False)
            self._send(200, xml, "application/samlmetadata+xml; charset=utf-8")
        elif url.path == "/sso":
            with login_lock:
                acs, response, relay_state = login(url.query)
            with lock:
                server = state["server"]
            # pysaml2's HTTP-POST binding: it base64-encodes the Response into its own form.
            info = server.apply_binding(BINDING_HTTP_POST, response, acs, relay_state or "", response=True)
            self._send(200, info["data"], "text/html; charset=utf-8")
        elif url.path in ("/slo", "/_test/logout"):
            status, headers, body = (slo if url.path == "/slo" else start_logout)(url.query)
            self._send(status, body, "text/html; charset=utf-8", headers=[h for h in headers if h[0].lower() != "content-type"])
        elif url.path == "/_test/last_logout":
            with lock:
                body = json.dumps(state["last_logout"])
            self._send(200, body, "application/json")
        else:
            raise HttpError(404, f"no route for GET {url.path}")

    def _post(self):
        path = urlsplit(self.path).path
        if path == "/sso":
            # HTTP-POST binding: pysaml2 verifies the request's enveloped signature (xmlsec1)
            # when the IdP wants signed requests.
            form = self.rfile.read(int(self.headers.get("content-length", "0"))).decode("utf-8")
            with login_lock:
                acs, response, relay_state = login(form, BINDING_HTTP_POST)
            with lock:
                server = state["server"]
            info = server.apply_binding(BINDING_HTTP_POST, response, acs, relay_state or "", response=True)
            self._send(200, info["data"], "text/html; charset=utf-8")
            return
        body = self._json()
        if path == "/_test/sp":
            metadata = body.get("metadata")
            want = body.get("want_authn_requests_signed", False)
            other_sps = body.get("other_sps", [])
            if not isinstance(other_sps, list) or not all(isinstance(x, str) for x in other_sps):
                raise HttpError(400, "other_sps must be a list of SP metadata XML")
            if metadata is not None and not isinstance(metadata, str):
                raise HttpError(400, "metadata must be the SP metadata XML or null")
            if not isinstance(want, bool):
                raise HttpError(400, "want_authn_requests_signed must be a boolean")
            try:
                server = make_server(state["base"], metadata, want, other_sps)
            except Exception as e:
                raise HttpError(400, f"pysaml2 could not load the SP metadata: {type(e).__name__}: {e}") from e
            with lock:
                state.update(server=server, sp_metadata=metadata, want_signed=want)
        elif path == "/_test/user":
            user = {**DEFAULT_USER, **body}
            if not user["name_id"]:
                raise HttpError(400, "name_id must not be empty")
            if not isinstance(user["groups"], list):
                raise HttpError(400, "groups must be an array")
            with lock:
                state["user"] = user
        elif path == "/_test/mode":
            mode = checked_mode(body)
            with lock:
                state["mode"] = mode
        else:
            raise HttpError(404, f"no route for POST {path}")
        self._send(204)


def main():
    httpd = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PYSAML2_IDP_PORT", "0"))), Handler)
    port = httpd.server_address[1]
    state["base"] = f"http://127.0.0.1:{port}"
    state["server"] = make_server(state["base"], None, False)
    print(f"READY {port}", flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
