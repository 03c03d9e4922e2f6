// A small, real SAML 2.0 Identity Provider (npm samlify, signatures by xml-crypto) for Lanyard's tests.
// Usage: node tests/support/saml_idp.mjs  → prints "READY <port>" once listening.
// Env: SAML_IDP_PORT (default 0 = any free port). Base URL B = http://127.0.0.1:<port>.
//
// Endpoints:
//   GET  /metadata                         IdP metadata (entityID = B/metadata, SSO at B/sso, signing cert)
//   GET  /sso?SAMLRequest=…&RelayState=…   HTTP-Redirect binding (base64 of raw DEFLATE)
//   POST /sso  (form: SAMLRequest, RelayState)  HTTP-POST binding (plain base64)
//   GET  /idp-initiated?acs=…&audience=…[&relay_state=…]  unsolicited response (no InResponseTo)
//   Both answer with an HTML form that posts SAMLResponse (+ RelayState) to the ACS URL: it
//   auto-submits when JavaScript is on, and has a visible button for when it is off.
// Test hooks (JSON bodies; fields left out take their defaults, not their previous value):
//   POST /_test/user {name_id, email, first_name, last_name, groups, style?, attributes?, name_id_format?} → 204
//   POST /_test/mode {sign: assertion|response|both|none, key: idp|other, algorithm: sha256|sha1,
//        encrypt?: null | {data: aes256-gcm|aes128-gcm|aes256-cbc|aes128-cbc, key: oaep|rsa15,
//                          cert: first|last}} → 204  (cert: which encryption certificate of
//        the registered metadata, when it lists several during a rotation; default first)
//        With encrypt, the assertion is encrypted (npm @authenio/xml-encryption, via samlify) to the
//        encryption certificate of the registered SP metadata (see /_test/sp): an assertion
//        signature is made before encrypting (inside), a Response signature after (outside).
//   POST /_test/metadata {keys?: [idp|other, …], status?: 200|500, entity_id?} → 204: what
//        GET /metadata publishes (a certificate rollover announced ahead: ["idp", "other"], then
//        ["other"]; an outage: status 500; another IdP: entity_id); {} restores the default.
//   GET  /_test/last → {acs, relay_state, saml_response} of the last response issued (404 before any)
// Single logout (needs a registered SP whose metadata has a SingleLogoutService; every logout
// message is signed and every one received must be signed, with RSA-SHA256):
//   GET  /slo?SAMLRequest=…&RelayState=…&SigAlg=…&Signature=…  the SP's LogoutRequest
//        (HTTP-Redirect): samlify verifies its signature with the signing certificate of the
//        registered SP metadata (403 otherwise), then redirects (302) to the SP's
//        SingleLogoutService with its signed LogoutResponse (InResponseTo, RelayState echoed).
//   GET  /slo?SAMLResponse=…  the SP's LogoutResponse to a logout this IdP started: verified the
//        same way (403 otherwise); answers 200 "signed out".
//   GET  /_test/logout?name_id=…[&session_index=…][&relay_state=…][&binding=redirect|post]
//        this IdP starts a logout: a signed LogoutRequest to the SP's SingleLogoutService, as a
//        302 (redirect) or an auto-posting form with an enveloped signature (post).
//   GET  /_test/last_logout → {request: {id, issuer, name_id, session_index} | null,
//        response: {in_response_to, status, issuer} | null}: what the last verified logout
//        messages from the SP said.
//   POST /_test/sp {metadata: <SP metadata XML> | null} → 204: as an admin uploading the SP's
//        metadata into the IdP. While one that says AuthnRequestsSigned="true" is registered the
//        IdP wants signed AuthnRequests (WantAuthnRequestsSigned): an HTTP-Redirect request must carry SigAlg and Signature that
//        samlify verifies with the signing certificate of that metadata, over the raw query bytes
//        (SAMLRequest=…&RelayState=…&SigAlg=… exactly as sent), and an HTTP-POST request must
//        carry an enveloped signature samlify verifies with that certificate; anything else is
//        answered 403.
import crypto from 'node:crypto';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import samlify from 'samlify';

const { IdentityProvider, ServiceProvider, SamlLib, Constants } = samlify;

// samlify refuses to parse anything until a schema validator is set. This IdP only ever parses
// AuthnRequests sent by the SP under test (Lanyard), and never consumes SAML responses, so
// skipping XSD validation here cannot make a test pass that should fail.
samlify.setSchemaValidator({ validate: async () => 'skipped' });

// Never die because the test harness stopped reading our output.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});
const logError = (...args) => { try { console.error('saml_idp:', ...args); } catch { /* ignore */ } };
process.on('uncaughtException', (e) => logError('uncaught', e));
process.on('unhandledRejection', (e) => logError('unhandled rejection', e));

const here = path.dirname(fileURLToPath(import.meta.url));
const keyDir = path.join(here, 'saml_idp');
const KEYS = {
  idp: { key: fs.readFileSync(path.join(keyDir, 'idp.key'), 'utf8'), cert: fs.readFileSync(path.join(keyDir, 'idp.crt'), 'utf8') },
  other: { key: fs.readFileSync(path.join(keyDir, 'other.key'), 'utf8'), cert: fs.readFileSync(path.join(keyDir, 'other.crt'), 'utf8') },
};
const ALGORITHMS = {
  sha256: Constants.algorithms.signature.RSA_SHA256,
  sha1: Constants.algorithms.signature.RSA_SHA1,
};
const DATA_ALGORITHMS = {
  'aes256-gcm': 'http://www.w3.org/2009/xmlenc11#aes256-gcm',
  'aes128-gcm': 'http://www.w3.org/2009/xmlenc11#aes128-gcm',
  'aes256-cbc': 'http://www.w3.org/2001/04/xmlenc#aes256-cbc',
  'aes128-cbc': 'http://www.w3.org/2001/04/xmlenc#aes128-cbc',
};
const KEY_ALGORITHMS = {
  oaep: 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p',
  rsa15: 'http://www.w3.org/2001/04/xmlenc#rsa-1_5',
};
const NAMEID_EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
const BINDING_POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
const BINDING_REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';

// Attribute names (and how they are written) as the three IdPs Lanyard imitates send them.
const STYLES = {
  okta: {
    names: { email: 'email', first_name: 'firstName', last_name: 'lastName', groups: 'groups' },
    nameFormat: 'urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified',
    xsiString: true,
  },
  entra: {
    names: {
      email: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
      first_name: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname',
      last_name: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname',
      groups: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/groups',
    },
    nameFormat: null,
    xsiString: false,
  },
  google: {
    names: { email: 'email', first_name: 'first_name', last_name: 'last_name', groups: 'groups' },
    nameFormat: 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic',
    xsiString: false,
  },
};

const DEFAULT_USER = {
  name_id: 'dana@acme.test',
  name_id_format: NAMEID_EMAIL,
  email: 'dana@acme.test',
  first_name: 'Dana',
  last_name: 'Lee',
  groups: ['Engineering'],
  style: 'okta',
  attributes: {},
};
const DEFAULT_MODE = { sign: 'assertion', key: 'idp', algorithm: 'sha256', encrypt: null };

let user = { ...DEFAULT_USER };
// The SP whose metadata was uploaded (samlify ServiceProvider), or null: then requests are not
// checked for a signature.
let registeredSp = null;
let mode = { ...DEFAULT_MODE };
let last = null;
// What /metadata publishes (see /_test/metadata).
let published = { keys: ['idp'], status: 200, entity_id: null };
let baseUrl = '';
// The last verified logout messages from the SP (see /_test/last_logout).
let lastLogout = { request: null, response: null };

class HttpError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

const xmlEscape = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]);
const htmlEscape = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

// One IdP per (key, algorithm), built once the port is known. (samlify warns on stderr, once
// each, that there is no SingleLogoutService: this IdP has none.)
const idps = new Map();
function makeIdp(keyName = 'idp', algorithm = 'sha256', wantSigned = false, encrypt = null) {
  const cacheKey = `${keyName}/${algorithm}/${wantSigned}/${encrypt?.data}/${encrypt?.key}`;
  if (!idps.has(cacheKey)) idps.set(cacheKey, buildIdp(keyName, algorithm, wantSigned, encrypt));
  return idps.get(cacheKey);
}
function buildIdp(keyName, algorithm, wantSigned, encrypt) {
  const k = KEYS[keyName];
  const encryption = encrypt
    ? { isAssertionEncrypted: true, dataEncryptionAlgorithm: DATA_ALGORITHMS[encrypt.data], keyEncryptionAlgorithm: KEY_ALGORITHMS[encrypt.key] }
    : {};
  return IdentityProvider({
    ...encryption,
    entityID: `${baseUrl}/metadata`,
    signingCert: k.cert,
    privateKey: k.key,
    wantAuthnRequestsSigned: wantSigned,
    nameIDFormat: [NAMEID_EMAIL],
    requestSignatureAlgorithm: ALGORITHMS[algorithm],
    // The SP's logout messages must be signed (samlify checks with the SP metadata's cert).
    wantLogoutRequestSigned: true,
    wantLogoutResponseSigned: true,
    singleLogoutService: [
      { Binding: BINDING_REDIRECT, Location: `${baseUrl}/slo` },
    ],
    singleSignOnService: [
      { Binding: BINDING_REDIRECT, Location: `${baseUrl}/sso` },
      { Binding: BINDING_POST, Location: `${baseUrl}/sso` },
    ],
  });
}

// The SP is whoever sent the request: built on the fly from its Issuer and ACS URL. Its
// wantAssertionsSigned / wantMessageSigned flags are how samlify is told what to sign.
// `encryptCert` (PEM) is where an encrypted assertion goes.
function makeSp(entityID, acs, sign = 'assertion', encryptCert = undefined) {
  return ServiceProvider({
    entityID,
    encryptCert,
    assertionConsumerService: [{ Binding: BINDING_POST, Location: acs }],
    wantAssertionsSigned: sign === 'assertion' || sign === 'both',
    wantMessageSigned: sign === 'response' || sign === 'both',
  });
}

function attributeStatementXml(u) {
  const style = STYLES[u.style];
  const attrs = [
    [style.names.email, [u.email]],
    [style.names.first_name, [u.first_name]],
    [style.names.last_name, [u.last_name]],
    [style.names.groups, u.groups ?? []],
    ...Object.entries(u.attributes ?? {}).map(([name, values]) => [name, Array.isArray(values) ? values : [values]]),
  ];
  const out = [];
  for (const [name, rawValues] of attrs) {
    const values = rawValues.filter((v) => v !== undefined && v !== null);
    if (values.length === 0) continue;
    const nf = style.nameFormat ? ` NameFormat="${xmlEscape(style.nameFormat)}"` : '';
    const type = style.xsiString ? ' xsi:type="xs:string"' : '';
    const vals = values.map((v) => `<saml:AttributeValue${type}>${xmlEscape(v)}</saml:AttributeValue>`).join('');
    out.push(`<saml:Attribute Name="${xmlEscape(name)}"${nf}>${vals}</saml:Attribute>`);
  }
  return out.length ? `<saml:AttributeStatement>${out.join('')}</saml:AttributeStatement>` : '';
}

// Fills samlify's login-response template. Used as createLoginResponse's customTagReplacement
// (and directly for sign=none, which samlify itself never produces).
function fillTemplate(template, { acs, audience, inResponseTo, u }) {
  const now = Date.now();
  const iso = (ms) => new Date(ms).toISOString();
  const id = `_${crypto.randomUUID()}`;
  const assertionId = `_${crypto.randomUUID()}`;
  let xml = SamlLib.replaceTagsByValue(template, {
    ID: id,
    AssertionID: assertionId,
    Destination: acs,
    Audience: audience,
    SubjectRecipient: acs,
    Issuer: `${baseUrl}/metadata`,
    IssueInstant: iso(now),
    StatusCode: Constants.StatusCode.Success,
    ConditionsNotBefore: iso(now - 60_000),
    ConditionsNotOnOrAfter: iso(now + 5 * 60_000),
    SubjectConfirmationDataNotOnOrAfter: iso(now + 5 * 60_000),
    NameIDFormat: u.name_id_format || NAMEID_EMAIL,
    NameID: u.name_id,
    // undefined → samlify drops the InResponseTo attributes altogether (unsolicited response).
    InResponseTo: inResponseTo ?? undefined,
  });
  // These two are XML fragments, so they go in after the escaping tag replacement.
  const authn = `<saml:AuthnStatement AuthnInstant="${iso(now)}" SessionIndex="${assertionId}"><saml:AuthnContext>`
    + '<saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef>'
    + '</saml:AuthnContext></saml:AuthnStatement>';
  xml = xml.replace('{AuthnStatement}', () => authn).replace('{AttributeStatement}', () => attributeStatementXml(u));
  return { id, context: xml };
}

async function buildResponse({ acs, audience, inResponseTo }) {
  const u = user;
  const m = mode;
  const info = { acs, audience, inResponseTo, u };
  if (m.sign === 'none') {
    const { context } = fillTemplate(SamlLib.defaultLoginResponseTemplate.context, info);
    return Buffer.from(context, 'utf8').toString('base64');
  }
  let encryptCert;
  if (m.encrypt) {
    const cert = registeredSp?.entityMeta.getX509Certificate('encryption');
    if (!cert) throw new HttpError(409, 'encrypt mode needs SP metadata with an encryption certificate: POST /_test/sp first');
    // Several published (a rotation): the first or the last, as the metadata lists them.
    const chosen = Array.isArray(cert) ? (m.encrypt.cert === 'last' ? cert[cert.length - 1] : cert[0]) : cert;
    const b64 = chosen.replace(/\s+/g, '');
    encryptCert = `-----BEGIN CERTIFICATE-----\n${b64.match(/.{1,64}/g).join('\n')}\n-----END CERTIFICATE-----\n`;
  }
  const idp = makeIdp(m.key, m.algorithm, false, m.encrypt);
  const sp = makeSp(audience, acs, m.sign, encryptCert);
  const requestInfo = inResponseTo ? { extract: { request: { id: inResponseTo } } } : {};
  const { context } = await idp.createLoginResponse(sp, requestInfo, 'post', { email: u.email }, {
    customTagReplacement: (template) => fillTemplate(template, info),
    // A Response signature covers what is sent (the EncryptedAssertion), as IdPs do.
    encryptThenSign: true,
  });
  return context;
}

function postPage(res, { acs, relayState, samlResponse }) {
  last = { acs, relay_state: relayState ?? null, saml_response: samlResponse };
  const relay = relayState === undefined || relayState === null
    ? ''
    : `\n  <input type="hidden" name="RelayState" value="${htmlEscape(relayState)}">`;
  const html = `<!doctype html>
<html><head><meta charset="utf-8"><title>Signing in…</title></head>
<body>
<form method="post" action="${htmlEscape(acs)}">
  <input type="hidden" name="SAMLResponse" value="${htmlEscape(samlResponse)}">${relay}
  <p>Signed in at the test identity provider.</p>
  <button type="submit">Continue to the application</button>
</form>
<script>document.forms[0].submit()</script>
</body></html>
`;
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(html);
}

// The signed part of an HTTP-Redirect query (SAML bindings 3.4.4.1), from the raw query string:
// SAMLRequest, RelayState and SigAlg, in that order, still URL-encoded as sent.
function octetString(rawQuery) {
  const parts = rawQuery.split('&');
  return ['SAMLRequest', 'RelayState', 'SigAlg']
    .map((name) => parts.find((p) => p.startsWith(`${name}=`)))
    .filter((p) => p !== undefined)
    .join('&');
}

async function handleSignedSso(res, binding, params, rawQuery) {
  const query = {
    SAMLRequest: params.get('SAMLRequest'),
    RelayState: params.get('RelayState') ?? undefined,
    SigAlg: params.get('SigAlg') ?? undefined,
    Signature: params.get('Signature') ?? undefined,
  };
  let parsed;
  try {
    // HTTP-POST: samlify verifies the request's enveloped XML signature (xml-crypto) with the
    // signing certificate of the registered SP metadata.
    parsed = binding === 'redirect'
      ? await makeIdp('idp', 'sha256', true).parseLoginRequest(registeredSp, 'redirect', { query, octetString: octetString(rawQuery) })
      : await makeIdp('idp', 'sha256', true).parseLoginRequest(registeredSp, 'post', { body: { SAMLRequest: query.SAMLRequest } });
  } catch (e) {
    throw new HttpError(403, `AuthnRequest refused: this IdP wants signed requests (${e?.message ?? e})`);
  }
  const request = parsed.extract?.request;
  const issuer = typeof parsed.extract?.issuer === 'string' ? parsed.extract.issuer.trim() : '';
  if (!request || Array.isArray(request) || !request.id) throw new HttpError(400, 'SAMLRequest is not a samlp:AuthnRequest');
  if (issuer !== registeredSp.entityMeta.getEntityID()) throw new HttpError(403, `AuthnRequest from ${issuer}, not from the registered SP`);
  const acs = request.assertionConsumerServiceUrl;
  const samlResponse = await buildResponse({ acs, audience: issuer, inResponseTo: request.id });
  postPage(res, { acs, relayState: query.RelayState, samlResponse });
}

async function handleSso(res, binding, params, rawQuery = '') {
  const samlRequest = params.get('SAMLRequest');
  if (!samlRequest) throw new HttpError(400, 'missing SAMLRequest parameter');
  if (registeredSp?.entityMeta.isAuthnRequestSigned()) {
    await handleSignedSso(res, binding, params, rawQuery);
    return;
  }
  const relayState = params.has('RelayState') ? params.get('RelayState') : undefined;
  // The request's signature is not checked (WantAuthnRequestsSigned=false), and samlify does not
  // compare an AuthnRequest's Issuer with the SP's, so a placeholder SP serves for parsing.
  const placeholder = makeSp('urn:lanyard-test:sp-not-yet-known', 'http://127.0.0.1/acs');
  const idp = makeIdp();
  let parsed;
  try {
    parsed = binding === 'redirect'
      ? await idp.parseLoginRequest(placeholder, 'redirect', { query: { SAMLRequest: samlRequest }, octetString: '' })
      : await idp.parseLoginRequest(placeholder, 'post', { body: { SAMLRequest: samlRequest } });
  } catch (e) {
    const hint = binding === 'redirect'
      ? " (HTTP-Redirect wants base64 of raw DEFLATE, URL-encoded: '+' must be sent as %2B)"
      : ' (HTTP-POST wants plain base64, form-encoded)';
    throw new HttpError(400, `could not decode the AuthnRequest: ${e?.message ?? e}${hint}`);
  }
  // samlify's extractor gives [] when the document element is not an AuthnRequest.
  const request = parsed.extract?.request;
  if (!request || Array.isArray(request)) throw new HttpError(400, 'SAMLRequest is not a samlp:AuthnRequest');
  const id = request.id;
  const issuer = typeof parsed.extract?.issuer === 'string' ? parsed.extract.issuer.trim() : '';
  const acs = request.assertionConsumerServiceUrl; // samlify camel-cases the attribute name
  if (!acs) throw new HttpError(400, 'AuthnRequest has no AssertionConsumerServiceURL; this test IdP needs it (it has no SP registry to look the ACS up in)');
  if (!issuer) throw new HttpError(400, 'AuthnRequest has no Issuer; this test IdP needs it (it becomes the Audience)');
  if (!id) throw new HttpError(400, 'AuthnRequest has no ID');
  const samlResponse = await buildResponse({ acs, audience: issuer, inResponseTo: id });
  postPage(res, { acs, relayState, samlResponse });
}

// A logout message from the registered SP by HTTP-Redirect: its signature is verified by samlify
// over the raw query bytes with the SP metadata's signing certificate.
async function handleSlo(res, params, rawQuery) {
  if (!registeredSp) throw new HttpError(409, 'no SP registered: POST /_test/sp first');
  const isRequest = params.has('SAMLRequest');
  const query = {
    SAMLRequest: params.get('SAMLRequest') ?? undefined,
    SAMLResponse: params.get('SAMLResponse') ?? undefined,
    RelayState: params.get('RelayState') ?? undefined,
    SigAlg: params.get('SigAlg') ?? undefined,
    Signature: params.get('Signature') ?? undefined,
  };
  const parts = rawQuery.split('&');
  const octetString = [isRequest ? 'SAMLRequest' : 'SAMLResponse', 'RelayState', 'SigAlg']
    .map((name) => parts.find((q) => q.startsWith(`${name}=`)))
    .filter((q) => q !== undefined)
    .join('&');
  const idp = makeIdp();
  let parsed;
  try {
    parsed = isRequest
      ? await idp.parseLogoutRequest(registeredSp, 'redirect', { query, octetString })
      : await idp.parseLogoutResponse(registeredSp, 'redirect', { query, octetString });
  } catch (e) {
    throw new HttpError(403, `logout message refused by samlify: ${e?.message ?? e}`);
  }
  const ex = parsed.extract ?? {};
  const issuer = typeof ex.issuer === 'string' ? ex.issuer.trim() : '';
  if (issuer !== registeredSp.entityMeta.getEntityID()) throw new HttpError(403, `logout message from ${issuer}, not from the registered SP`);
  if (!isRequest) {
    const status = parsed.samlContent.match(/StatusCode[^>]*Value="([^"]+)"/)?.[1] ?? null;
    lastLogout.response = { in_response_to: ex.response?.inResponseTo ?? null, status, issuer };
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('signed out\n');
    return;
  }
  lastLogout.request = { id: ex.request?.id ?? null, issuer, name_id: ex.nameID ?? null, session_index: ex.sessionIndex ?? null };
  const { context } = idp.createLogoutResponse(registeredSp, parsed, 'redirect', { relayState: query.RelayState ?? '' });
  res.writeHead(302, { location: context }).end();
}

async function readBody(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 1_000_000) throw new HttpError(413, 'request body too large');
  }
  return body;
}

async function readJson(req) {
  const body = await readBody(req);
  if (!body.trim()) return {};
  try {
    const v = JSON.parse(body);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v;
  } catch (e) {
    throw new HttpError(400, `body must be a JSON object: ${e.message}`);
  }
}

function oneOf(name, value, allowed) {
  if (!allowed.includes(value)) throw new HttpError(400, `${name} must be one of ${allowed.join(', ')} (got ${JSON.stringify(value)})`);
  return value;
}

async function route(req, res) {
  const url = new URL(req.url, baseUrl);
  const p = url.pathname;

  if (req.method === 'GET' && p === '/metadata') {
    if (published.status !== 200) {
      res.writeHead(published.status, { 'content-type': 'text/plain' }).end('metadata unavailable');
      return;
    }
    // One signing KeyDescriptor per published key, as samlify writes it for that key.
    const keyDescriptor = (xml) => xml.match(/<KeyDescriptor use="signing">[\s\S]*?<\/KeyDescriptor>/)[0];
    let xml = makeIdp(published.keys[0]).getMetadata();
    const descriptors = published.keys.map((k) => keyDescriptor(makeIdp(k).getMetadata())).join('');
    xml = xml.replace(keyDescriptor(xml), descriptors);
    if (published.entity_id) xml = xml.replace(/entityID="[^"]*"/, `entityID="${published.entity_id}"`);
    res.writeHead(200, { 'content-type': 'application/samlmetadata+xml; charset=utf-8' }).end(xml);
    return;
  }
  if (p === '/_test/metadata' && req.method === 'POST') {
    const body = await readJson(req);
    const keys = body.keys ?? ['idp'];
    if (!Array.isArray(keys) || keys.length === 0) throw new HttpError(400, 'keys must be a non-empty array');
    for (const k of keys) oneOf('keys[]', k, Object.keys(KEYS));
    published = { keys, status: body.status ?? 200, entity_id: body.entity_id ?? null };
    res.writeHead(204).end();
    return;
  }
  if (p === '/sso' && req.method === 'GET') {
    await handleSso(res, 'redirect', url.searchParams, url.search.slice(1));
    return;
  }
  if (p === '/sso' && req.method === 'POST') {
    await handleSso(res, 'post', new URLSearchParams(await readBody(req)));
    return;
  }
  if (p === '/idp-initiated' && req.method === 'GET') {
    const acs = url.searchParams.get('acs');
    const audience = url.searchParams.get('audience');
    if (!acs || !audience) throw new HttpError(400, 'idp-initiated needs ?acs=<ACS URL>&audience=<SP entity id>[&relay_state=…]');
    const relayState = url.searchParams.has('relay_state') ? url.searchParams.get('relay_state') : undefined;
    const samlResponse = await buildResponse({ acs, audience, inResponseTo: undefined });
    postPage(res, { acs, relayState, samlResponse });
    return;
  }
  if (p === '/_test/user' && req.method === 'POST') {
    const body = await readJson(req);
    const next = { ...DEFAULT_USER, ...body };
    oneOf('style', next.style, Object.keys(STYLES));
    if (!Array.isArray(next.groups)) throw new HttpError(400, 'groups must be an array');
    if (next.attributes === null || typeof next.attributes !== 'object' || Array.isArray(next.attributes)) {
      throw new HttpError(400, 'attributes must be an object of name → [values]');
    }
    if (!next.name_id) throw new HttpError(400, 'name_id must not be empty');
    user = next;
    res.writeHead(204).end();
    return;
  }
  if (p === '/_test/mode' && req.method === 'POST') {
    const next = { ...DEFAULT_MODE, ...(await readJson(req)) };
    oneOf('sign', next.sign, ['assertion', 'response', 'both', 'none']);
    oneOf('key', next.key, Object.keys(KEYS));
    oneOf('algorithm', next.algorithm, Object.keys(ALGORITHMS));
    if (next.encrypt !== null) {
      if (typeof next.encrypt !== 'object') throw new HttpError(400, 'encrypt must be null or {data, key}');
      next.encrypt = { data: 'aes256-gcm', key: 'oaep', cert: 'first', ...next.encrypt };
      oneOf('encrypt.cert', next.encrypt.cert, ['first', 'last']);
      oneOf('encrypt.data', next.encrypt.data, Object.keys(DATA_ALGORITHMS));
      oneOf('encrypt.key', next.encrypt.key, Object.keys(KEY_ALGORITHMS));
      if (next.sign === 'none') throw new HttpError(400, 'encrypt needs a signed response (sign: assertion|response|both)');
    }
    mode = { sign: next.sign, key: next.key, algorithm: next.algorithm, encrypt: next.encrypt };
    res.writeHead(204).end();
    return;
  }
  if (p === '/_test/sp' && req.method === 'POST') {
    const body = await readJson(req);
    if (body.metadata === null || body.metadata === undefined) {
      registeredSp = null;
    } else {
      if (typeof body.metadata !== 'string') throw new HttpError(400, 'metadata must be the SP metadata XML');
      // Logout messages to this SP are signed (samlify signs when the target wants them signed).
      const sp = ServiceProvider({ metadata: body.metadata, wantLogoutRequestSigned: true, wantLogoutResponseSigned: true });
      if (sp.entityMeta.isAuthnRequestSigned() && !sp.entityMeta.getX509Certificate('signing')) {
        throw new HttpError(400, 'the SP metadata says AuthnRequestsSigned but has no signing certificate (KeyDescriptor use="signing")');
      }
      registeredSp = sp;
    }
    res.writeHead(204).end();
    return;
  }
  if (p === '/slo' && req.method === 'GET') {
    await handleSlo(res, url.searchParams, url.search.slice(1));
    return;
  }
  if (p === '/_test/logout' && req.method === 'GET') {
    if (!registeredSp) throw new HttpError(409, 'no SP registered: POST /_test/sp first');
    const nameId = url.searchParams.get('name_id');
    if (!nameId) throw new HttpError(400, 'name_id is required');
    const binding = url.searchParams.get('binding') ?? 'redirect';
    oneOf('binding', binding, ['redirect', 'post']);
    const user = { logoutNameID: nameId, sessionIndex: url.searchParams.get('session_index') ?? '' };
    const relayState = url.searchParams.get('relay_state') ?? '';
    const idp = makeIdp();
    // samlify's template always has a SessionIndex element; without one, leave it out.
    const dropEmptyIndex = (template, tags) => {
      const t = user.sessionIndex ? template : template.replace('<samlp:SessionIndex>{SessionIndex}</samlp:SessionIndex>', '');
      return { id: tags.ID, context: SamlLib.replaceTagsByValue(t, tags) };
    };
    if (binding === 'redirect') {
      const { context } = idp.createLogoutRequest(registeredSp, 'redirect', user, { relayState, customTagReplacement: dropEmptyIndex });
      res.writeHead(302, { location: context }).end();
      return;
    }
    const out = idp.createLogoutRequest(registeredSp, 'post', user, { relayState });
    const relay = relayState ? `\n  <input type="hidden" name="RelayState" value="${htmlEscape(relayState)}">` : '';
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(`<!doctype html>
<html><head><meta charset="utf-8"><title>Signing out…</title></head>
<body>
<form method="post" action="${htmlEscape(out.entityEndpoint)}">
  <input type="hidden" name="SAMLRequest" value="${htmlEscape(out.context)}">${relay}
  <button type="submit">Continue</button>
</form>
</body></html>
`);
    return;
  }
  if (p === '/_test/last_logout' && req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(lastLogout));
    return;
  }
  if (p === '/_test/last' && req.method === 'GET') {
    if (!last) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'no response issued yet' }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(last));
    return;
  }
  throw new HttpError(404, `no route for ${req.method} ${p}`);
}

const server = http.createServer(async (req, res) => {
  try {
    await route(req, res);
  } catch (e) {
    const status = e instanceof HttpError ? e.status : 500;
    if (status === 500) logError(e);
    if (!res.headersSent) res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`${e?.message ?? e}\n`);
  }
});
server.on('clientError', (err, socket) => { try { socket.destroy(); } catch { /* ignore */ } });

server.listen(Number(process.env.SAML_IDP_PORT ?? 0), '127.0.0.1', () => {
  const port = server.address().port;
  baseUrl = `http://127.0.0.1:${port}`;
  console.log(`READY ${port}`);
});
