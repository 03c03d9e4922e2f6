// A deliberately misbehaving OpenID Provider for the attacks a certified OP will not perform:
// it signs (or fails to sign) ID tokens the way POST /_test/mode {mode} says.
// Modes: valid, nonce, audience, expired, issuer, none, hs256, rotate.
// Usage: node tests/support/forged_op.mjs → prints "READY <port>".
import http from 'node:http';
import crypto from 'node:crypto';
import * as jose from 'jose';

const clientId = process.env.OP_CLIENT_ID ?? 'lanyard-test';
let mode = 'valid';
let kid = 'key-1';
let keys = await jose.generateKeyPair('RS256', { extractable: true });
let subject = { sub: 'forged-user', email: 'dana@acme.test' };
const codes = new Map();

async function read(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return body;
}

function b64(obj) {
  return Buffer.from(JSON.stringify(obj)).toString('base64url');
}

const server = http.createServer(async (req, res) => {
  const port = server.address().port;
  const issuer = `http://127.0.0.1:${port}`;
  const url = new URL(req.url, issuer);
  const json = (status, obj) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(obj));
  try {
    if (url.pathname === '/_test/mode') {
      const body = JSON.parse(await read(req));
      mode = body.mode;
      if (body.subject) subject = body.subject;
      if (mode === 'rotate') {
        keys = await jose.generateKeyPair('RS256', { extractable: true });
        kid = `key-${crypto.randomUUID()}`;
      }
      return res.writeHead(204).end();
    }
    if (url.pathname === '/.well-known/openid-configuration') {
      return json(200, {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
      });
    }
    if (url.pathname === '/jwks') {
      const jwk = await jose.exportJWK(keys.publicKey);
      return json(200, { keys: [{ ...jwk, kid, alg: 'RS256', use: 'sig' }] });
    }
    if (url.pathname === '/authorize') {
      const code = crypto.randomUUID();
      codes.set(code, url.searchParams.get('nonce'));
      const back = new URL(url.searchParams.get('redirect_uri'));
      back.searchParams.set('code', code);
      back.searchParams.set('state', url.searchParams.get('state'));
      return res.writeHead(302, { location: back.toString() }).end();
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      const form = new URLSearchParams(await read(req));
      const nonce = codes.get(form.get('code'));
      codes.delete(form.get('code'));
      if (nonce === undefined) return json(400, { error: 'invalid_grant' });
      const now = Math.floor(Date.now() / 1000);
      const claims = { iss: issuer, aud: clientId, nonce, iat: now, exp: now + 300, email_verified: true, ...subject };
      if (mode === 'nonce') claims.nonce = 'not-the-nonce-lanyard-sent';
      if (mode === 'audience') claims.aud = 'some-other-client';
      if (mode === 'expired') { claims.iat = now - 7200; claims.exp = now - 3600; }
      if (mode === 'issuer') claims.iss = 'https://evil.example';
      let idToken;
      if (mode === 'none') {
        idToken = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
      } else if (mode === 'hs256') {
        // The classic confusion attack: HMAC keyed with the RSA public key.
        const pem = await jose.exportSPKI(keys.publicKey);
        idToken = await new jose.SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid }).sign(new TextEncoder().encode(pem));
      } else {
        idToken = await new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid }).sign(keys.privateKey);
      }
      return json(200, { access_token: crypto.randomUUID(), token_type: 'Bearer', expires_in: 300, id_token: idToken });
    }
    res.writeHead(404).end();
  } catch (e) {
    res.writeHead(500).end(String(e));
  }
});

server.listen(0, '127.0.0.1', () => console.log(`READY ${server.address().port}`));
