// Drives Lanyard's OpenID Provider with npm openid-client (certified by the OpenID Foundation):
// discovery, authorization code + PKCE, ID token validation (the library's checks: iss, aud,
// exp, nonce), UserInfo. openid-client trusts the TLS channel for an ID token it got from the
// token endpoint and does not check its signature, so the signature is verified as most
// resource servers do it: npm jose's remote JWKS set, fetched once and cached (a kid it does not
// know makes it fetch again).
// Env: ISSUER, CLIENT_ID, CLIENT_SECRET (empty for a public client), AUTH (basic|post|none),
//      REDIRECT_URI.
// Protocol on stdin/stdout, one line each, so one configuration (and its cached JWKS) serves
// several sign-ins:
//   in:  GO <json of extra authorize parameters>   out: AUTHORIZE <url>
//   in:  <the callback URL the browser reached>     out: RESULT <json> | ERROR <message>
import * as client from 'openid-client';
import readline from 'node:readline';
import * as jose from 'jose';

const { ISSUER, CLIENT_ID, CLIENT_SECRET = '', AUTH = 'basic', REDIRECT_URI } = process.env;
const auth = AUTH === 'none' ? client.None()
  : AUTH === 'post' ? client.ClientSecretPost(CLIENT_SECRET)
  : client.ClientSecretBasic(CLIENT_SECRET);
const config = await client.discovery(new URL(ISSUER), CLIENT_ID, undefined, auth, {
  execute: [client.allowInsecureRequests],
});
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const next = async () => (await lines.next()).value;
console.log('DISCOVERED ' + JSON.stringify(config.serverMetadata()));
const jwks = jose.createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri));
for (;;) {
  const go = await next();
  if (!go || !go.startsWith('GO ')) break;
  const extra = JSON.parse(go.slice(3));
  const verifier = client.randomPKCECodeVerifier();
  const nonce = client.randomNonce();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid email profile',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    nonce,
    state,
    ...extra,
  });
  console.log('AUTHORIZE ' + url.href);
  const back = await next();
  try {
    const tokens = await client.authorizationCodeGrant(config, new URL(back), {
      pkceCodeVerifier: verifier,
      expectedNonce: nonce,
      expectedState: state,
      idTokenExpected: true,
    });
    const claims = tokens.claims();
    await jose.jwtVerify(tokens.id_token, jwks, {
      issuer: ISSUER,
      audience: CLIENT_ID,
      algorithms: config.serverMetadata().id_token_signing_alg_values_supported,
    });
    const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    console.log('RESULT ' + JSON.stringify({ claims, userinfo, id_token: tokens.id_token, access_token: tokens.access_token }));
  } catch (e) {
    console.log('ERROR ' + JSON.stringify(`${e.name}: ${e.message} ${e.code ?? ''} ${e.error ?? ''} ${e.error_description ?? ''}`));
  }
}
