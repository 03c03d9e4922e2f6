// A vendor's product in miniature, signing its users in through Lanyard's OpenID Provider with
// npm openid-client (certified by the OpenID Foundation) and nothing Lanyard-specific: issuer URL,
// client id and secret. Used by the browser journey end2end/tests/openid_provider.spec.ts.
//
// Env: ISSUER (Lanyard's public URL), RP_PORT (0 = any). Prints `READY <port>` once listening.
// The journey registers the OAuth client after the port is known (its redirect URI names it) and
// then configures the app: POST /_configure {client_id, client_secret}.
//
// Pages: GET /            "Sign in with SSO", or who is signed in (email, org_id, org_name, role)
//        GET /login       starts the code flow (PKCE S256, state, nonce kept server side)
//        GET /callback    redeems the code, validates the ID token, fetches UserInfo
import http from 'node:http';
import crypto from 'node:crypto';
import * as client from 'openid-client';

const { ISSUER, RP_PORT = '0' } = process.env;
let config = null;
let redirectUri = '';
const pending = new Map(); // state -> { verifier, nonce }
const sessions = new Map(); // session id -> { claims, userinfo }

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (res, status, body) => {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Acme Analytics</title></head><body><h1>Acme Analytics</h1>${body}</body></html>`);
};
const cookies = (req) => Object.fromEntries((req.headers.cookie ?? '').split(/;\s*/).filter(Boolean).map((c) => c.split('=').map(decodeURIComponent)));

async function configure(req, res) {
  let body = '';
  for await (const chunk of req) body += chunk;
  const { client_id, client_secret } = JSON.parse(body);
  config = await client.discovery(new URL(ISSUER), client_id, undefined, client.ClientSecretBasic(client_secret), {
    execute: [client.allowInsecureRequests],
  });
  res.writeHead(204).end();
}

async function login(res) {
  const verifier = client.randomPKCECodeVerifier();
  const nonce = client.randomNonce();
  const state = client.randomState();
  pending.set(state, { verifier, nonce });
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid email profile',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    nonce,
    state,
  });
  res.writeHead(302, { location: url.href }).end();
}

async function callback(req, res, url) {
  const state = url.searchParams.get('state') ?? '';
  const flow = pending.get(state);
  pending.delete(state);
  if (!flow) return page(res, 400, '<p role="alert" data-testid="rp-error">Unknown or used sign-in attempt.</p><a href="/">Back</a>');
  try {
    const tokens = await client.authorizationCodeGrant(config, url, {
      pkceCodeVerifier: flow.verifier,
      expectedNonce: flow.nonce,
      expectedState: state,
      idTokenExpected: true,
    });
    const claims = tokens.claims();
    const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    const sid = crypto.randomBytes(16).toString('hex');
    sessions.set(sid, { claims, userinfo });
    res.writeHead(302, { location: '/', 'set-cookie': `rp_session=${sid}; Path=/; HttpOnly; SameSite=Lax` }).end();
  } catch (e) {
    page(res, 400, `<p role="alert" data-testid="rp-error">${esc(`${e.name}: ${e.message} ${e.error ?? ''} ${e.error_description ?? ''}`)}</p><a href="/">Back</a>`);
  }
}

function home(req, res) {
  const s = sessions.get(cookies(req).rp_session);
  if (!s) return page(res, 200, '<p>Welcome.</p><a href="/login" data-testid="sign-in">Sign in with SSO</a>');
  const { claims, userinfo } = s;
  page(res, 200, `<p data-testid="signed-in">Signed in as <span data-testid="email">${esc(claims.email)}</span></p>
<dl><dt>Organization</dt><dd data-testid="org-id">${esc(claims.org_id)}</dd>
<dt>Organization name</dt><dd data-testid="org-name">${esc(claims.org_name)}</dd>
<dt>Role</dt><dd data-testid="role">${esc(claims.role)}</dd>
<dt>Email verified</dt><dd data-testid="email-verified">${esc(claims.email_verified)}</dd>
<dt>UserInfo subject</dt><dd data-testid="userinfo-sub">${esc(userinfo.sub)}</dd>
<dt>Subject</dt><dd data-testid="sub">${esc(claims.sub)}</dd></dl>`);
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, redirectUri || 'http://127.0.0.1');
  try {
    if (req.method === 'POST' && url.pathname === '/_configure') return await configure(req, res);
    if (!config) return page(res, 503, '<p>Not configured yet.</p>');
    if (url.pathname === '/') return home(req, res);
    if (url.pathname === '/login') return await login(res);
    if (url.pathname === '/callback') return await callback(req, res, new URL(url.pathname + url.search, redirectUri));
    page(res, 404, '<p>Not found.</p>');
  } catch (e) {
    page(res, 500, `<p role="alert">${esc(e.message)}</p>`);
  }
});
server.listen(Number(RP_PORT), '127.0.0.1', () => {
  const { port } = server.address();
  redirectUri = `http://127.0.0.1:${port}/callback`;
  console.log(`READY ${port}`);
});
