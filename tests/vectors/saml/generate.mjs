#!/usr/bin/env node
// Generates the SAML 2.0 test vectors under tests/vectors/saml/cases/.
//
//   node tests/vectors/saml/generate.mjs        (from the repository root; any cwd works)
//
// Two independent XML-DSig implementations sign the vectors:
//   * the `xmlsec1` command (libxmlsec1, OpenSSL backend), fed a <ds:Signature> template;
//   * npm `xml-crypto` (SignedXml), from /work/main/node_modules.
// Every signature is then checked with `xmlsec1 --verify` against the pinned certificate(s), and
// the "ok" vectors are cross-checked with xml-crypto too. Generation fails when a check does not
// give the expected answer (a good vector that does not verify, a tampered one that does, ...).
//
// Keys live in keys/ and are reused when present (only created when missing), so a re-run
// rewrites cases/ byte for byte identically (RSA PKCS#1 v1.5 signatures are deterministic).

import { execFileSync, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import xmlCrypto from "xml-crypto";
import xmldom from "@xmldom/xmldom";
// samlify's dependency (the maintained fork of npm xml-encryption): the second XML-Enc
// implementation beside xmlsec1.
import xmlenc from "@authenio/xml-encryption";

const { SignedXml } = xmlCrypto;
const { DOMParser, XMLSerializer } = xmldom;

const HERE = path.dirname(fileURLToPath(import.meta.url));
const KEYS = path.join(HERE, "keys");
const CASES = path.join(HERE, "cases");
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "lanyard-saml-vectors-"));
process.on("exit", () => fs.rmSync(TMP, { recursive: true, force: true }));

// ---------------------------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------------------------

const NS = {
  samlp: "urn:oasis:names:tc:SAML:2.0:protocol",
  saml: "urn:oasis:names:tc:SAML:2.0:assertion",
  ds: "http://www.w3.org/2000/09/xmldsig#",
  xs: "http://www.w3.org/2001/XMLSchema",
  xsi: "http://www.w3.org/2001/XMLSchema-instance",
  xenc: "http://www.w3.org/2001/04/xmlenc#",
};
const ALG = {
  excC14n: "http://www.w3.org/2001/10/xml-exc-c14n#",
  enveloped: "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
  rsaSha256: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
  rsaSha1: "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
  sha256: "http://www.w3.org/2001/04/xmlenc#sha256",
  sha1: "http://www.w3.org/2000/09/xmldsig#sha1",
};
const STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success";
const STATUS_RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder";
const NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
const NAMEID_PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
const BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const ATTR_BASIC = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic";
const ATTR_UNSPECIFIED = "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified";

const SP = {
  sp_entity_id: "http://127.0.0.1:3000/sso/saml/conn_01JVECTORS000000000000000/metadata",
  acs_url: "http://127.0.0.1:3000/sso/saml/conn_01JVECTORS000000000000000/acs",
  idp_entity_id: "http://idp.vectors.test/metadata",
  certificates: ["keys/idp.crt"],
  skew_seconds: 120,
};
const REQ1 = "_lanyard_req_1";
const REQ2 = "_lanyard_req_2";
const NOW = "2026-11-28T12:01:00Z";
const T = {
  issue: "2026-11-28T12:00:00Z",
  notBefore: "2026-11-28T11:59:00Z",
  notOnOrAfter: "2026-11-28T12:05:00Z",
};
const EVIL_NAME_ID = "attacker@evil.test";

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

function fail(msg) {
  console.error(`generate.mjs: ${msg}`);
  process.exit(1);
}

/** Deterministic SAML ID (an NCName): `_<kind>_<32 hex>` derived from a seed. */
function sid(kind, seed) {
  return `_${kind}_${crypto.createHash("sha256").update(`${kind}:${seed}`).digest("hex").slice(0, 32)}`;
}

/** Deterministic GUID-looking string derived from a seed (Entra-style object ids). */
function guid(seed) {
  const h = crypto.createHash("sha256").update(`guid:${seed}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function esc(s) {
  return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function attrs(obj) {
  return Object.entries(obj)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => ` ${k}="${esc(v)}"`)
    .join("");
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", ...opts });
  if (r.error) fail(`cannot run ${cmd}: ${r.error.message}`);
  return r;
}

/**
 * xmlsec1 wraps base64 at 64 columns; Okta and Entra write SignatureValue and X509Certificate on
 * one line. Neither element is inside SignedInfo, so this does not touch what was signed (but an
 * enclosing signature must be computed after it).
 */
function unwrapBase64(xml) {
  return xml.replace(
    /(<(?:[A-Za-z0-9_]+:)?(?:SignatureValue|X509Certificate)>)([^<]*)(<)/g,
    (_, open, b64, close) => open + b64.replace(/\s+/g, "") + close,
  );
}

function replaceOnce(xml, from, to) {
  const i = xml.indexOf(from);
  if (i < 0) fail(`mutation failed: ${JSON.stringify(from)} not found`);
  if (xml.indexOf(from, i + from.length) >= 0) fail(`mutation ambiguous: ${JSON.stringify(from)} found twice`);
  return xml.slice(0, i) + to + xml.slice(i + from.length);
}

// ---------------------------------------------------------------------------------------------
// Keys (created only when missing)
// ---------------------------------------------------------------------------------------------

const KEY_SPECS = [
  { name: "idp", cn: "Vectors IdP", serial: "1001" },
  { name: "idp2", cn: "Vectors IdP 2026 rotation", serial: "1002" },
  // The attacker copies the subject name of the real IdP; only the key differs.
  { name: "attacker", cn: "Vectors IdP", serial: "1003" },
  // Lanyard's SP encryption key of the connection (what IdPs encrypt assertions to), and another
  // SP key the connection does not hold (as a retired key once its overlap has ended).
  { name: "sp_enc", cn: "Vectors SP encryption", serial: "1004", usage: "keyEncipherment" },
  { name: "sp_enc_other", cn: "Vectors SP encryption (not held)", serial: "1005", usage: "keyEncipherment" },
];

function ensureKeys() {
  fs.mkdirSync(KEYS, { recursive: true });
  for (const { name, cn, serial, usage = "digitalSignature" } of KEY_SPECS) {
    const key = path.join(KEYS, `${name}.key`);
    const crt = path.join(KEYS, `${name}.crt`);
    if (fs.existsSync(key) && fs.existsSync(crt)) continue;
    console.log(`creating keys/${name}.key + keys/${name}.crt`);
    const dir = fs.mkdtempSync(path.join(TMP, `ca-${name}-`));
    const openssl = (args) => {
      const r = run("openssl", args);
      if (r.status !== 0) fail(`openssl ${args.join(" ")}\n${r.stderr}`);
    };
    openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key]);
    openssl(["req", "-new", "-key", key, "-subj", `/CN=${cn}`, "-out", path.join(dir, "req.csr")]);
    // `openssl ca -selfsign` is the OpenSSL 3.0 way to choose exact notBefore/notAfter dates.
    fs.writeFileSync(path.join(dir, "index.txt"), "");
    fs.writeFileSync(path.join(dir, "serial"), `${serial}\n`);
    fs.writeFileSync(
      path.join(dir, "ca.cnf"),
      [
        "[ ca ]",
        "default_ca = vectors",
        "[ vectors ]",
        `database = ${dir}/index.txt`,
        `new_certs_dir = ${dir}`,
        `serial = ${dir}/serial`,
        "default_md = sha256",
        "policy = policy_any",
        "unique_subject = no",
        "email_in_dn = no",
        "copy_extensions = none",
        "x509_extensions = ext",
        "[ policy_any ]",
        "commonName = supplied",
        "[ ext ]",
        "basicConstraints = critical,CA:FALSE",
        `keyUsage = critical,${usage}`,
        "subjectKeyIdentifier = hash",
        "",
      ].join("\n"),
    );
    openssl([
      "ca", "-batch", "-notext", "-selfsign", "-config", path.join(dir, "ca.cnf"), "-keyfile", key,
      "-in", path.join(dir, "req.csr"), "-out", crt,
      "-startdate", "20260101000000Z", "-enddate", "20360101000000Z",
    ]);
  }
}

const keyPath = (name) => path.join(KEYS, `${name}.key`);
const crtPath = (name) => path.join(KEYS, `${name}.crt`);
const readKey = (name) => fs.readFileSync(keyPath(name), "utf8");
const readCrt = (name) => fs.readFileSync(crtPath(name), "utf8");

// ---------------------------------------------------------------------------------------------
// The baseline Response (samlp:/saml: prefixes, both declared on the root)
// ---------------------------------------------------------------------------------------------

const OKTA_STYLE_ATTRIBUTES = [
  { name: "email", values: ["dana@acme.test"] },
  { name: "firstName", values: ["Dana"] },
  { name: "lastName", values: ["Lee"] },
  { name: "groups", values: ["Engineering", "Admins"] },
];
const OKTA_STYLE_EXPECTED = {
  email: ["dana@acme.test"],
  firstName: ["Dana"],
  lastName: ["Lee"],
  groups: ["Engineering", "Admins"],
};

/**
 * Options (all optional): seed, respId, assertId, inResponseTo (null = IdP-initiated; applies to
 * the Response and the SubjectConfirmationData), destination, issuer, status, withAssertion,
 * nameId, nameIdFormat, recipient, audience, notBefore, notOnOrAfter, scdNotOnOrAfter,
 * attributes, respSig / assertSig (a <ds:Signature> template to place after the Issuer).
 */
function baseline(o = {}) {
  const seed = o.seed ?? "baseline";
  const respId = o.respId ?? sid("resp", seed);
  const assertId = o.assertId ?? sid("assert", seed);
  const irt = o.inResponseTo === undefined ? REQ1 : o.inResponseTo;
  const issuer = o.issuer ?? SP.idp_entity_id;
  const withAssertion = o.withAssertion ?? true;
  const lines = [];
  lines.push(
    `<samlp:Response xmlns:samlp="${NS.samlp}" xmlns:saml="${NS.saml}"${attrs({
      ID: respId,
      Version: "2.0",
      IssueInstant: T.issue,
      Destination: o.destination ?? SP.acs_url,
      InResponseTo: irt ?? undefined,
    })}>`,
  );
  lines.push(`  <saml:Issuer>${esc(issuer)}</saml:Issuer>`);
  if (o.respSig) lines.push(indent(o.respSig, 2));
  lines.push(`  <samlp:Status>`);
  lines.push(`    <samlp:StatusCode Value="${o.status ?? STATUS_SUCCESS}"/>`);
  if (o.statusMessage) lines.push(`    <samlp:StatusMessage>${esc(o.statusMessage)}</samlp:StatusMessage>`);
  lines.push(`  </samlp:Status>`);
  if (withAssertion) lines.push(indent(assertionXml({ ...o, assertId, irt, issuer }), 2));
  lines.push(`</samlp:Response>`);
  return lines.join("\n") + "\n";
}

function assertionXml(o) {
  const l = [];
  l.push(`<saml:Assertion${attrs({ ID: o.assertId, Version: "2.0", IssueInstant: T.issue })}>`);
  l.push(`  <saml:Issuer>${esc(o.assertionIssuer ?? o.issuer)}</saml:Issuer>`);
  if (o.assertSig) l.push(indent(o.assertSig, 2));
  l.push(`  <saml:Subject>`);
  l.push(`    <saml:NameID Format="${o.nameIdFormat ?? NAMEID_EMAIL}">${esc(o.nameId ?? "dana@acme.test")}</saml:NameID>`);
  l.push(`    <saml:SubjectConfirmation Method="${BEARER}">`);
  l.push(
    `      <saml:SubjectConfirmationData${attrs({
      InResponseTo: o.irt ?? undefined,
      NotOnOrAfter: o.scdNotOnOrAfter ?? T.notOnOrAfter,
      Recipient: o.recipient ?? SP.acs_url,
    })}/>`,
  );
  l.push(`    </saml:SubjectConfirmation>`);
  l.push(`  </saml:Subject>`);
  l.push(`  <saml:Conditions NotBefore="${o.notBefore ?? T.notBefore}" NotOnOrAfter="${o.notOnOrAfter ?? T.notOnOrAfter}">`);
  l.push(`    <saml:AudienceRestriction>`);
  l.push(`      <saml:Audience>${esc(o.audience ?? SP.sp_entity_id)}</saml:Audience>`);
  l.push(`    </saml:AudienceRestriction>`);
  l.push(`  </saml:Conditions>`);
  l.push(`  <saml:AuthnStatement AuthnInstant="${T.issue}" SessionIndex="${sid("session", o.seed ?? "baseline")}">`);
  l.push(`    <saml:AuthnContext>`);
  l.push(`      <saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef>`);
  l.push(`    </saml:AuthnContext>`);
  l.push(`  </saml:AuthnStatement>`);
  l.push(`  <saml:AttributeStatement>`);
  for (const a of o.attributes ?? OKTA_STYLE_ATTRIBUTES) {
    l.push(`    <saml:Attribute Name="${esc(a.name)}" NameFormat="${a.nameFormat ?? ATTR_BASIC}">`);
    for (const v of a.values) l.push(`      <saml:AttributeValue>${esc(v)}</saml:AttributeValue>`);
    l.push(`    </saml:Attribute>`);
  }
  l.push(`  </saml:AttributeStatement>`);
  l.push(`</saml:Assertion>`);
  return l.join("\n");
}

function indent(s, n) {
  const pad = " ".repeat(n);
  return s
    .split("\n")
    .map((line) => (line ? pad + line : line))
    .join("\n");
}

// ---------------------------------------------------------------------------------------------
// Signature templates for xmlsec1
// ---------------------------------------------------------------------------------------------

/**
 * A <Signature> template: xmlsec1 fills DigestValue, SignatureValue and X509Certificate.
 * prefix: "ds" or "" (default namespace, as Entra ID writes it). compact: no whitespace.
 */
function sigTemplate(refId, o = {}) {
  const p = o.prefix === undefined ? "ds" : o.prefix;
  const q = p ? `${p}:` : "";
  const xmlns = p ? `xmlns:${p}` : "xmlns";
  const incl = o.prefixList
    ? `<ec:InclusiveNamespaces xmlns:ec="${ALG.excC14n}" PrefixList="${o.prefixList}"/>`
    : "";
  const x509 = [
    o.x509SubjectName ? `<${q}X509SubjectName/>` : "",
    `<${q}X509Certificate/>`,
  ].join("");
  const parts = [
    `<${q}Signature ${xmlns}="${NS.ds}">`,
    `  <${q}SignedInfo>`,
    `    <${q}CanonicalizationMethod Algorithm="${ALG.excC14n}"/>`,
    `    <${q}SignatureMethod Algorithm="${o.sigAlg ?? ALG.rsaSha256}"/>`,
    `    <${q}Reference URI="#${refId}">`,
    `      <${q}Transforms>`,
    `        <${q}Transform Algorithm="${ALG.enveloped}"/>`,
    incl
      ? `        <${q}Transform Algorithm="${ALG.excC14n}">${incl}</${q}Transform>`
      : `        <${q}Transform Algorithm="${ALG.excC14n}"/>`,
    `      </${q}Transforms>`,
    `      <${q}DigestMethod Algorithm="${o.digestAlg ?? ALG.sha256}"/>`,
    `      <${q}DigestValue/>`,
    `    </${q}Reference>`,
    `  </${q}SignedInfo>`,
    `  <${q}SignatureValue/>`,
    `  <${q}KeyInfo>`,
    `    <${q}X509Data>${x509}</${q}X509Data>`,
    `  </${q}KeyInfo>`,
    `</${q}Signature>`,
  ];
  return o.compact ? parts.map((s) => s.trim()).join("") : parts.join("\n");
}

const ID_ATTRS = [
  "--id-attr:ID", `${NS.saml}:Assertion`,
  "--id-attr:ID", `${NS.samlp}:Response`,
];

function sigXpathFor(refId) {
  return `//*[local-name()='Signature' and namespace-uri()='${NS.ds}'][*[local-name()='SignedInfo']/*[local-name()='Reference' and @URI='#${refId}']]`;
}

/** Signs the template whose Reference points at #refId with xmlsec1. */
function xmlsecSign(xml, refId, keyName = "idp") {
  const inFile = path.join(TMP, "sign-in.xml");
  const outFile = path.join(TMP, "sign-out.xml");
  fs.writeFileSync(inFile, xml);
  const r = run("xmlsec1", [
    "--sign", "--privkey-pem", `${keyPath(keyName)},${crtPath(keyName)}`,
    ...ID_ATTRS, "--node-xpath", sigXpathFor(refId), "--output", outFile, inFile,
  ]);
  if (r.status !== 0) fail(`xmlsec1 --sign failed for #${refId}\n${r.stderr}`);
  let out = fs.readFileSync(outFile, "utf8");
  // Keep the input's XML declaration choice: xmlsec1 always writes one.
  if (!xml.startsWith("<?xml")) out = out.replace(/^<\?xml[^>]*\?>\n?/, "");
  return out;
}

// ---------------------------------------------------------------------------------------------
// xml-crypto signing
// ---------------------------------------------------------------------------------------------

/**
 * Signs the element selected by `refXpath` with xml-crypto, placing <ds:Signature> right after
 * the element selected by `afterXpath` (the Issuer).
 */
function xcSign(xml, { refXpath, afterXpath, keyName = "idp", sigAlg = ALG.rsaSha256, digestAlg = ALG.sha256, prefixList }) {
  const sig = new SignedXml({
    idAttribute: "ID",
    privateKey: readKey(keyName),
    publicCert: readCrt(keyName),
    signatureAlgorithm: sigAlg,
    canonicalizationAlgorithm: ALG.excC14n,
  });
  sig.addReference({
    xpath: refXpath,
    transforms: [ALG.enveloped, ALG.excC14n],
    digestAlgorithm: digestAlg,
    inclusiveNamespacesPrefixList: prefixList ? prefixList.split(" ") : [],
  });
  sig.computeSignature(xml, { prefix: "ds", location: { reference: afterXpath, action: "after" } });
  return sig.getSignedXml();
}

const XP = {
  assertion: "//*[local-name(.)='Assertion' and namespace-uri(.)='urn:oasis:names:tc:SAML:2.0:assertion']",
  assertionIssuer:
    "//*[local-name(.)='Assertion' and namespace-uri(.)='urn:oasis:names:tc:SAML:2.0:assertion']/*[local-name(.)='Issuer']",
  response: "/*[local-name(.)='Response' and namespace-uri(.)='urn:oasis:names:tc:SAML:2.0:protocol']",
  responseIssuer: "/*[local-name(.)='Response']/*[local-name(.)='Issuer']",
};

const xcSignAssertion = (xml, o = {}) => xcSign(xml, { refXpath: XP.assertion, afterXpath: XP.assertionIssuer, ...o });
const xcSignResponse = (xml, o = {}) => xcSign(xml, { refXpath: XP.response, afterXpath: XP.responseIssuer, ...o });

// ---------------------------------------------------------------------------------------------
// Verification (xmlsec1 for everything, xml-crypto as a second opinion on the "ok" vectors)
// ---------------------------------------------------------------------------------------------

function parse(xml) {
  const errors = [];
  const doc = new DOMParser({
    onError: (level, msg) => {
      if (level !== "warning") errors.push(msg);
    },
  }).parseFromString(xml, "text/xml");
  if (errors.length) fail(`xmldom could not parse a vector: ${errors.join("; ")}`);
  return doc;
}

function signatureCount(xml) {
  return parse(xml).getElementsByTagNameNS(NS.ds, "Signature").length;
}

/** xmlsec1 --verify of the n-th (1-based, document order) ds:Signature with one certificate. */
function xmlsecVerifyOne(file, n, cert) {
  const xpath = `(//*[local-name()='Signature' and namespace-uri()='${NS.ds}'])[${n}]`;
  const r = run("xmlsec1", ["--verify", "--pubkey-cert-pem", path.join(HERE, cert), ...ID_ATTRS, "--node-xpath", xpath, file]);
  return r.status === 0;
}

/** For each ds:Signature in document order: does it verify with any of `certs` (xmlsec1)? */
function xmlsecVerifyAll(xml, certs) {
  const file = path.join(TMP, "verify.xml");
  fs.writeFileSync(file, xml);
  const n = signatureCount(xml);
  const res = [];
  for (let i = 1; i <= n; i++) res.push(certs.some((c) => xmlsecVerifyOne(file, i, c)));
  return res;
}

/** xml-crypto's view: does every ds:Signature verify with one of `certs`? */
function xmlCryptoVerifyAll(xml, certs) {
  const doc = parse(xml);
  const sigs = Array.from(doc.getElementsByTagNameNS(NS.ds, "Signature"));
  return sigs.map((node) =>
    certs.some((c) => {
      // No idAttribute here: "ID" is already in xml-crypto's default list, and adding it again
      // makes its duplicate-ID guard count every element twice.
      const sx = new SignedXml({ publicCert: fs.readFileSync(path.join(HERE, c), "utf8") });
      sx.loadSignature(node);
      try {
        return sx.checkSignature(xml) === true;
      } catch {
        return false;
      }
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// DOM helpers for the wrapping attacks
// ---------------------------------------------------------------------------------------------

function serialize(doc) {
  return new XMLSerializer().serializeToString(doc);
}

function firstNS(node, ns, local) {
  return node.getElementsByTagNameNS(ns, local)[0] ?? null;
}

function childNS(node, ns, local) {
  for (let c = node.firstChild; c; c = c.nextSibling) {
    if (c.nodeType === 1 && c.namespaceURI === ns && c.localName === local) return c;
  }
  return null;
}

/**
 * Removes the direct ds:Signature child of `el`. The surrounding whitespace text nodes stay:
 * that is exactly what the enveloped-signature transform digested, so the element still matches
 * its DigestValue.
 */
function removeOwnSignature(el) {
  const sig = childNS(el, NS.ds, "Signature");
  if (!sig) fail("removeOwnSignature: no signature");
  el.removeChild(sig);
  return sig;
}

/** Turns an assertion (subtree) into the attacker's: new ID, NameID attacker@evil.test. */
function makeEvil(el, newId) {
  el.setAttribute("ID", newId);
  for (const nameId of Array.from(el.getElementsByTagNameNS(NS.saml, "NameID"))) {
    while (nameId.firstChild) nameId.removeChild(nameId.firstChild);
    nameId.appendChild(el.ownerDocument.createTextNode(EVIL_NAME_ID));
  }
  for (const v of Array.from(el.getElementsByTagNameNS(NS.saml, "AttributeValue"))) {
    if (v.textContent === "dana@acme.test") {
      while (v.firstChild) v.removeChild(v.firstChild);
      v.appendChild(el.ownerDocument.createTextNode(EVIL_NAME_ID));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Signed building blocks
// ---------------------------------------------------------------------------------------------

/** Baseline with the Assertion signed by xmlsec1. */
function xmlsecAssertionSigned(o = {}, key = "idp", tpl = {}) {
  const seed = o.seed ?? "baseline";
  const assertId = o.assertId ?? sid("assert", seed);
  return xmlsecSign(baseline({ ...o, assertId, assertSig: sigTemplate(assertId, tpl) }), assertId, key);
}

/** Baseline with only the Response signed by xmlsec1. */
function xmlsecResponseSigned(o = {}, key = "idp", tpl = {}) {
  const seed = o.seed ?? "baseline";
  const respId = o.respId ?? sid("resp", seed);
  return xmlsecSign(baseline({ ...o, respId, respSig: sigTemplate(respId, tpl) }), respId, key);
}

function xcAssertionSigned(o = {}, sign = {}) {
  return xcSignAssertion(baseline(o), sign);
}

// ---------------------------------------------------------------------------------------------
// Vendor shapes
// ---------------------------------------------------------------------------------------------

/**
 * Okta: saml2p:/saml2: prefixes re-declared on each element, "id" + digits IDs, millisecond
 * instants, xsi:type="xs:string" attribute values, Response AND Assertion signed, and the
 * exc-c14n transform carries <ec:InclusiveNamespaces PrefixList="xs"/> (the "xs" prefix is only
 * used inside xsi:type values, so it must be pulled into the canonical form explicitly).
 */
function oktaShape(seed) {
  const digits = (k) => BigInt(`0x${crypto.createHash("sha256").update(`${k}:${seed}`).digest("hex").slice(0, 20)}`).toString().padStart(24, "0").slice(0, 24);
  const respId = `id${digits("resp")}`;
  const assertId = `id${digits("assert")}`;
  const p2 = `xmlns:saml2p="${NS.samlp}"`;
  const a2 = `xmlns:saml2="${NS.saml}"`;
  const ENTITY = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity";
  const av = (v) => `<saml2:AttributeValue xmlns:xsi="${NS.xsi}" xsi:type="xs:string">${esc(v)}</saml2:AttributeValue>`;
  const attr = (name, values) =>
    `<saml2:Attribute Name="${name}" NameFormat="${ATTR_UNSPECIFIED}">${values.map(av).join("")}</saml2:Attribute>`;
  const tpl = (id) => sigTemplate(id, { compact: true, prefixList: "xs" });
  const xml =
    `<?xml version="1.0" encoding="UTF-8"?>` +
    `<saml2p:Response ${p2} Destination="${SP.acs_url}" ID="${respId}" InResponseTo="${REQ1}" IssueInstant="2026-11-28T12:00:00.417Z" Version="2.0" xmlns:xs="${NS.xs}">` +
    `<saml2:Issuer ${a2} Format="${ENTITY}">${SP.idp_entity_id}</saml2:Issuer>` +
    tpl(respId) +
    `<saml2p:Status ${p2}><saml2p:StatusCode Value="${STATUS_SUCCESS}"/></saml2p:Status>` +
    `<saml2:Assertion ${a2} ID="${assertId}" IssueInstant="2026-11-28T12:00:00.417Z" Version="2.0" xmlns:xs="${NS.xs}">` +
    `<saml2:Issuer ${a2} Format="${ENTITY}">${SP.idp_entity_id}</saml2:Issuer>` +
    tpl(assertId) +
    `<saml2:Subject ${a2}><saml2:NameID Format="${NAMEID_EMAIL}">dana@acme.test</saml2:NameID>` +
    `<saml2:SubjectConfirmation Method="${BEARER}"><saml2:SubjectConfirmationData InResponseTo="${REQ1}" NotOnOrAfter="2026-11-28T12:05:00.417Z" Recipient="${SP.acs_url}"/></saml2:SubjectConfirmation></saml2:Subject>` +
    `<saml2:Conditions ${a2} NotBefore="2026-11-28T11:55:00.417Z" NotOnOrAfter="2026-11-28T12:05:00.417Z"><saml2:AudienceRestriction><saml2:Audience>${SP.sp_entity_id}</saml2:Audience></saml2:AudienceRestriction></saml2:Conditions>` +
    `<saml2:AuthnStatement ${a2} AuthnInstant="2026-11-28T11:58:41.002Z" SessionIndex="${REQ1}"><saml2:AuthnContext><saml2:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml2:AuthnContextClassRef></saml2:AuthnContext></saml2:AuthnStatement>` +
    `<saml2:AttributeStatement ${a2}>` +
    attr("email", ["dana@acme.test"]) +
    attr("firstName", ["Dana"]) +
    attr("lastName", ["Lee"]) +
    attr("groups", ["Engineering", "Admins"]) +
    `</saml2:AttributeStatement></saml2:Assertion></saml2p:Response>`;
  // Assertion first, then the Response (whose digest covers the signed Assertion).
  return unwrapBase64(xmlsecSign(unwrapBase64(xmlsecSign(xml, assertId)), respId));
}

/**
 * Microsoft Entra ID: Assertion in the *default* namespace, <Signature> in the default
 * namespace too, "_"+GUID IDs, millisecond instants, no whitespace, persistent (opaque) NameID,
 * claim-URI attribute names without NameFormat, groups as object ids; only the Assertion signed.
 */
function entraShape(seed) {
  const respId = `_${guid(`resp:${seed}`)}`;
  const assertId = `_${guid(`assert:${seed}`)}`;
  const tenant = guid(`tenant:${seed}`);
  const oid = guid(`oid:${seed}`);
  const groupIds = [guid(`group-eng:${seed}`), guid(`group-admins:${seed}`)];
  const nameId = crypto.createHash("sha256").update(`pairwise:${seed}`).digest("base64url").slice(0, 43);
  const C = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims";
  const MS = "http://schemas.microsoft.com";
  const attr = (name, values) =>
    `<Attribute Name="${name}">${values.map((v) => `<AttributeValue>${esc(v)}</AttributeValue>`).join("")}</Attribute>`;
  const xml =
    `<samlp:Response ID="${respId}" Version="2.0" IssueInstant="2026-11-28T12:00:00.388Z" Destination="${SP.acs_url}" InResponseTo="${REQ1}" xmlns:samlp="${NS.samlp}">` +
    `<Issuer xmlns="${NS.saml}">${SP.idp_entity_id}</Issuer>` +
    `<samlp:Status><samlp:StatusCode Value="${STATUS_SUCCESS}"/></samlp:Status>` +
    `<Assertion ID="${assertId}" IssueInstant="2026-11-28T12:00:00.388Z" Version="2.0" xmlns="${NS.saml}">` +
    `<Issuer>${SP.idp_entity_id}</Issuer>` +
    sigTemplate(assertId, { prefix: "", compact: true }) +
    `<Subject><NameID Format="${NAMEID_PERSISTENT}">${nameId}</NameID>` +
    `<SubjectConfirmation Method="${BEARER}"><SubjectConfirmationData InResponseTo="${REQ1}" NotOnOrAfter="2026-11-28T12:05:00.388Z" Recipient="${SP.acs_url}"/></SubjectConfirmation></Subject>` +
    `<Conditions NotBefore="2026-11-28T11:55:00.388Z" NotOnOrAfter="2026-11-28T13:00:00.388Z"><AudienceRestriction><Audience>${SP.sp_entity_id}</Audience></AudienceRestriction></Conditions>` +
    `<AttributeStatement>` +
    attr(`${MS}/identity/claims/tenantid`, [tenant]) +
    attr(`${MS}/identity/claims/objectidentifier`, [oid]) +
    attr(`${MS}/identity/claims/displayname`, ["Dana Lee"]) +
    attr(`${MS}/identity/claims/identityprovider`, [`https://sts.windows.net/${tenant}/`]) +
    attr(`${MS}/claims/authnmethodsreferences`, ["http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password"]) +
    attr(`${C}/givenname`, ["Dana"]) +
    attr(`${C}/surname`, ["Lee"]) +
    attr(`${C}/emailaddress`, ["dana@acme.test"]) +
    attr(`${C}/name`, ["dana@acme.test"]) +
    attr(`${MS}/ws/2008/06/identity/claims/groups`, groupIds) +
    `</AttributeStatement>` +
    `<AuthnStatement AuthnInstant="2026-11-28T11:58:12.000Z" SessionIndex="_${guid(`session:${seed}`)}"><AuthnContext><AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:Password</AuthnContextClassRef></AuthnContext></AuthnStatement>` +
    `</Assertion></samlp:Response>`;
  const signed = unwrapBase64(xmlsecSign(xml, assertId));
  return {
    xml: signed,
    nameId,
    attributes: {
      [`${C}/emailaddress`]: ["dana@acme.test"],
      [`${C}/givenname`]: ["Dana"],
      [`${C}/surname`]: ["Lee"],
      [`${MS}/ws/2008/06/identity/claims/groups`]: groupIds,
      [`${MS}/identity/claims/objectidentifier`]: [oid],
    },
  };
}

/**
 * Google Workspace: saml2p:/saml2: prefixes declared per element, "_"+hex IDs, no whitespace,
 * admin-chosen attribute names (email, first_name, last_name), no groups (not mapped by default),
 * xsi:type="xs:anyType" values, KeyInfo with X509SubjectName + X509Certificate, Assertion signed
 * (Google's default; "Signed response" is an opt-in checkbox). Signed here by xml-crypto.
 */
function googleShape(seed) {
  const hex = (k) => crypto.createHash("sha256").update(`${k}:${seed}`).digest("hex").slice(0, 32);
  const respId = `_${hex("resp")}`;
  const assertId = `_${hex("assert")}`;
  const p2 = `xmlns:saml2p="${NS.samlp}"`;
  const a2 = `xmlns:saml2="${NS.saml}"`;
  const attr = (name, v) =>
    `<saml2:Attribute Name="${name}"><saml2:AttributeValue xmlns:xs="${NS.xs}" xmlns:xsi="${NS.xsi}" xsi:type="xs:anyType">${esc(v)}</saml2:AttributeValue></saml2:Attribute>`;
  const xml =
    `<?xml version="1.0" encoding="UTF-8"?>` +
    `<saml2p:Response ${p2} Destination="${SP.acs_url}" ID="${respId}" InResponseTo="${REQ1}" IssueInstant="2026-11-28T12:00:00.532Z" Version="2.0">` +
    `<saml2:Issuer ${a2}>${SP.idp_entity_id}</saml2:Issuer>` +
    `<saml2p:Status><saml2p:StatusCode Value="${STATUS_SUCCESS}"/></saml2p:Status>` +
    `<saml2:Assertion ${a2} ID="${assertId}" IssueInstant="2026-11-28T12:00:00.532Z" Version="2.0">` +
    `<saml2:Issuer>${SP.idp_entity_id}</saml2:Issuer>` +
    `<saml2:Subject><saml2:NameID Format="${NAMEID_EMAIL}">dana@acme.test</saml2:NameID>` +
    `<saml2:SubjectConfirmation Method="${BEARER}"><saml2:SubjectConfirmationData InResponseTo="${REQ1}" NotOnOrAfter="2026-11-28T12:05:00.532Z" Recipient="${SP.acs_url}"/></saml2:SubjectConfirmation></saml2:Subject>` +
    `<saml2:Conditions NotBefore="2026-11-28T11:55:00.532Z" NotOnOrAfter="2026-11-28T12:05:00.532Z"><saml2:AudienceRestriction><saml2:Audience>${SP.sp_entity_id}</saml2:Audience></saml2:AudienceRestriction></saml2:Conditions>` +
    `<saml2:AttributeStatement>` +
    attr("email", "dana@acme.test") +
    attr("first_name", "Dana") +
    attr("last_name", "Lee") +
    `</saml2:AttributeStatement>` +
    `<saml2:AuthnStatement AuthnInstant="2026-11-28T11:59:47.000Z" SessionIndex="_${hex("session")}"><saml2:AuthnContext><saml2:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified</saml2:AuthnContextClassRef></saml2:AuthnContext></saml2:AuthnStatement>` +
    `</saml2:Assertion></saml2p:Response>`;
  // Google's KeyInfo carries the subject name next to the certificate.
  const subject = run("openssl", ["x509", "-in", crtPath("idp"), "-noout", "-subject", "-nameopt", "RFC2253"]).stdout.trim().replace(/^subject=/, "");
  const sig = new SignedXml({
    idAttribute: "ID",
    privateKey: readKey("idp"),
    publicCert: readCrt("idp"),
    signatureAlgorithm: ALG.rsaSha256,
    canonicalizationAlgorithm: ALG.excC14n,
    getKeyInfoContent: ({ publicCert, prefix }) => {
      const q = prefix ? `${prefix}:` : "";
      const der = String(publicCert).replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
      return `<${q}X509Data><${q}X509SubjectName>${esc(subject)}</${q}X509SubjectName><${q}X509Certificate>${der}</${q}X509Certificate></${q}X509Data>`;
    },
  });
  sig.addReference({ xpath: XP.assertion, transforms: [ALG.enveloped, ALG.excC14n], digestAlgorithm: ALG.sha256 });
  sig.computeSignature(xml, { prefix: "ds", location: { reference: XP.assertionIssuer, action: "after" } });
  return sig.getSignedXml();
}

// ---------------------------------------------------------------------------------------------
// XML Signature Wrapping (SAML Raider XSW1..XSW8, see README for the exact shapes)
// ---------------------------------------------------------------------------------------------

function xsw(n, seed) {
  const responseSigned = n <= 2;
  const xml = responseSigned ? xmlsecResponseSigned({ seed }) : xmlsecAssertionSigned({ seed });
  const doc = parse(xml);
  const response = doc.documentElement;
  const assertion = firstNS(doc, NS.saml, "Assertion");
  const evilResp = sid("evil_resp", seed);
  const evilAssert = sid("evil_assert", seed);
  const dsEl = (local) => doc.createElementNS(NS.ds, `ds:${local}`);
  const nl = () => doc.createTextNode("\n");

  switch (n) {
    case 1: {
      // Root = evil Response (new ID); the original signed Response, minus its signature, is
      // moved into the root's Signature (as a ds:Object child).
      const original = response.cloneNode(true);
      removeOwnSignature(original);
      makeEvil(firstNS(response, NS.saml, "Assertion"), evilAssert);
      response.setAttribute("ID", evilResp);
      const sig = childNS(response, NS.ds, "Signature");
      const obj = dsEl("Object");
      obj.appendChild(original);
      sig.appendChild(obj);
      sig.appendChild(nl());
      break;
    }
    case 2: {
      // Same, but the original Response sits right before the Signature, as a sibling.
      const original = response.cloneNode(true);
      removeOwnSignature(original);
      makeEvil(firstNS(response, NS.saml, "Assertion"), evilAssert);
      response.setAttribute("ID", evilResp);
      const sig = childNS(response, NS.ds, "Signature");
      response.insertBefore(original, sig);
      response.insertBefore(doc.createTextNode("\n  "), sig);
      break;
    }
    case 3: {
      // Evil Assertion (no signature) inserted before the signed one, as a sibling.
      const evil = assertion.cloneNode(true);
      removeOwnSignature(evil);
      makeEvil(evil, evilAssert);
      response.insertBefore(evil, assertion);
      response.insertBefore(doc.createTextNode("\n  "), assertion);
      break;
    }
    case 4: {
      // Evil Assertion replaces the signed one and wraps it as its last child.
      const evil = assertion.cloneNode(true);
      removeOwnSignature(evil);
      makeEvil(evil, evilAssert);
      response.replaceChild(evil, assertion);
      evil.appendChild(assertion);
      evil.appendChild(nl());
      break;
    }
    case 5: {
      // Evil copy keeps the original Signature; the original Assertion (signature removed) is
      // appended at the end of the Response.
      const original = assertion.cloneNode(true);
      removeOwnSignature(original);
      makeEvil(assertion, evilAssert);
      response.appendChild(original);
      response.appendChild(nl());
      break;
    }
    case 6: {
      // Evil copy keeps the Signature; the original Assertion (signature removed) is placed
      // inside that Signature element (SAML Raider appends it directly to ds:Signature).
      const original = assertion.cloneNode(true);
      removeOwnSignature(original);
      makeEvil(assertion, evilAssert);
      const sig = childNS(assertion, NS.ds, "Signature");
      sig.appendChild(original);
      sig.appendChild(nl());
      break;
    }
    case 7: {
      // SAML Raider XSW7: a samlp:Extensions element holding the evil Assertion (no signature) is
      // put before the untouched signed Assertion.
      const ext = doc.createElementNS(NS.samlp, "samlp:Extensions");
      const evil = assertion.cloneNode(true);
      removeOwnSignature(evil);
      makeEvil(evil, evilAssert);
      ext.appendChild(evil);
      response.insertBefore(ext, assertion);
      response.insertBefore(doc.createTextNode("\n  "), assertion);
      break;
    }
    case 8: {
      // Evil copy keeps the Signature; the original Assertion (signature removed) goes into a
      // ds:Object inside that Signature.
      const original = assertion.cloneNode(true);
      removeOwnSignature(original);
      makeEvil(assertion, evilAssert);
      const sig = childNS(assertion, NS.ds, "Signature");
      const obj = dsEl("Object");
      obj.appendChild(original);
      sig.appendChild(obj);
      sig.appendChild(nl());
      break;
    }
    default:
      fail(`xsw${n}?`);
  }
  return serialize(doc);
}

/** The variant the brief described for XSW7: original signed Assertion inside samlp:Extensions
 *  (right after the Response's Issuer, where the schema puts Extensions), evil one in its place. */
function xsw7OriginalInExtensions(seed) {
  const doc = parse(xmlsecAssertionSigned({ seed }));
  const response = doc.documentElement;
  const assertion = firstNS(doc, NS.saml, "Assertion");
  const evil = assertion.cloneNode(true);
  removeOwnSignature(evil);
  makeEvil(evil, sid("evil_assert", seed));
  response.replaceChild(evil, assertion);
  const ext = doc.createElementNS(NS.samlp, "samlp:Extensions");
  ext.appendChild(assertion);
  const issuer = childNS(response, NS.saml, "Issuer");
  response.insertBefore(ext, issuer.nextSibling);
  response.insertBefore(doc.createTextNode("\n  "), ext);
  return serialize(doc);
}

/**
 * One-assertion wrapping: the IdP's genuinely signed *error* Response (no assertion) is carried
 * in samlp:Extensions of an attacker Response whose only Assertion is unsigned.
 * detached=false: the signature stays inside the nested Response (no signature on the root or
 * the Assertion -> "unsigned" at step 5).
 * detached=true: the nested Response's Signature is moved up to be the root Response's own
 * ds:Signature child; it still verifies (its Reference points at the nested Response), but it
 * covers neither the root Response nor the Assertion -> "unsigned" at step 7.
 */
function wrapSignedErrorResponse(seed, detached) {
  const errorXml = xmlsecResponseSigned({ seed: `${seed}:error`, status: STATUS_RESPONDER, withAssertion: false });
  const errDoc = parse(errorXml);
  const attackXml = baseline({ seed, inResponseTo: REQ1, nameId: EVIL_NAME_ID });
  const doc = parse(attackXml);
  const response = doc.documentElement;
  const nested = doc.importNode(errDoc.documentElement, true);
  const ext = doc.createElementNS(NS.samlp, "samlp:Extensions");
  ext.appendChild(nested);
  const issuer = childNS(response, NS.saml, "Issuer");
  response.insertBefore(ext, issuer.nextSibling);
  response.insertBefore(doc.createTextNode("\n  "), ext);
  if (detached) {
    const sig = removeOwnSignature(nested);
    response.insertBefore(sig, ext);
    response.insertBefore(doc.createTextNode("\n  "), ext);
  }
  return serialize(doc);
}

// ---------------------------------------------------------------------------------------------
// The cases
// ---------------------------------------------------------------------------------------------

/**
 * Each case: name, description, signer, expect, xml (function of the case name), optional now,
 * in_response_to (default REQ1), allow_idp_initiated, certificates, name_id, attributes, and
 * `xmlsec`: the expected `xmlsec1 --verify` result for each ds:Signature in document order,
 * checked against the case's pinned certificates (also `xmlsecWith` for another cert set).
 */
// ---------------------------------------------------------------------------------------------
// Encrypted assertions (xmlsec1 --encrypt and @authenio/xml-encryption)
// ---------------------------------------------------------------------------------------------

const ENC = {
  aes256gcm: "http://www.w3.org/2009/xmlenc11#aes256-gcm",
  aes128gcm: "http://www.w3.org/2009/xmlenc11#aes128-gcm",
  aes256cbc: "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
  aes128cbc: "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
  oaep: "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
  rsa15: "http://www.w3.org/2001/04/xmlenc#rsa-1_5",
};
const SESSION_KEY = { [ENC.aes256gcm]: "aes-256", [ENC.aes128gcm]: "aes-128", [ENC.aes256cbc]: "aes-256", [ENC.aes128cbc]: "aes-128" };
// The keys an encrypted case's connection holds (its published SP encryption keys).
const SP_DECRYPTION_KEYS = ["keys/sp_enc.key"];

/** [text before, the one top-level saml:Assertion element, text after]. */
function splitAssertion(xml) {
  const start = xml.indexOf("<saml:Assertion");
  const endTag = "</saml:Assertion>";
  const end = xml.lastIndexOf(endTag);
  if (start < 0 || end < 0 || xml.indexOf("<saml:Assertion", start + 1) >= 0) fail("splitAssertion: not exactly one saml:Assertion");
  return [xml.slice(0, start), xml.slice(start, end + endTag.length), xml.slice(end + endTag.length)];
}

/** The Assertion encrypted by xmlsec1 (EncryptedData of Type Element inside saml:EncryptedAssertion). */
function xmlsecEncryptAssertion(xml, { data = ENC.aes256gcm, key = ENC.oaep, keyName = "sp_enc" } = {}) {
  splitAssertion(xml); // exactly one saml:Assertion
  return xmlsecEncryptElement(xml, {
    find: /<saml:Assertion[\s\S]*<\/saml:Assertion>/,
    xpath: `//*[local-name()='Assertion' and namespace-uri()='${NS.saml}']`,
    wrapper: "saml:EncryptedAssertion", data, key, keyName,
  });
}

/**
 * One element of the Assertion (matched by `find`, selected for xmlsec1 by `xpath`) wrapped in
 * `wrapper` (saml:EncryptedID or saml:EncryptedAttribute) and encrypted there by xmlsec1, before
 * the Assertion is signed (the signature then covers the ciphertext).
 */
function xmlsecEncryptElement(xml, { find, xpath, wrapper, data = ENC.aes256gcm, key = ENC.oaep, keyName = "sp_enc" }) {
  const m = xml.match(find);
  if (!m) fail(`xmlsecEncryptElement: nothing matches ${find}`);
  const dataFile = path.join(TMP, "enc-el-data.xml");
  const tmplFile = path.join(TMP, "enc-el-tmpl.xml");
  const outFile = path.join(TMP, "enc-el-out.xml");
  fs.writeFileSync(dataFile, xml.replace(m[0], `<${wrapper}>${m[0]}</${wrapper}>`));
  const digest = key === ENC.oaep ? `<ds:DigestMethod Algorithm="${ALG.sha1}"/>` : "";
  fs.writeFileSync(
    tmplFile,
    `<xenc:EncryptedData xmlns:xenc="${NS.xenc}" Type="${NS.xenc}Element">`
      + `<xenc:EncryptionMethod Algorithm="${data}"/>`
      + `<ds:KeyInfo xmlns:ds="${NS.ds}"><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="${key}">${digest}</xenc:EncryptionMethod>`
      + `<xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo>`
      + `<xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedData>\n`,
  );
  const r = run("xmlsec1", [
    "--encrypt", "--pubkey-cert-pem", crtPath(keyName), "--session-key", SESSION_KEY[data],
    "--xml-data", dataFile, "--node-xpath", xpath, "--output", outFile, tmplFile,
  ]);
  if (r.status !== 0) fail(`xmlsec1 --encrypt failed\n${r.stderr}`);
  let out = fs.readFileSync(outFile, "utf8");
  if (!xml.startsWith("<?xml")) out = out.replace(/^<\?xml[^>]*\?>\n?/, "");
  return out;
}

/** The baseline Assertion with its NameID and email Attribute encrypted, then signed by xmlsec1. */
function encryptedIdAndAttribute(seed, nameIdKey = "sp_enc") {
  const assertId = sid("assert", seed);
  let x = baseline({ seed, assertId, assertSig: sigTemplate(assertId) });
  x = xmlsecEncryptElement(x, {
    find: /<saml:NameID[^>]*>[^<]*<\/saml:NameID>/, xpath: `//*[local-name()='NameID' and namespace-uri()='${NS.saml}']`,
    wrapper: "saml:EncryptedID", keyName: nameIdKey,
  });
  x = xmlsecEncryptElement(x, {
    find: /<saml:Attribute Name="email"[\s\S]*?<\/saml:Attribute>/,
    xpath: `//*[local-name()='Attribute' and namespace-uri()='${NS.saml}' and @Name='email']`,
    wrapper: "saml:EncryptedAttribute", data: ENC.aes128cbc,
  });
  return xmlsecSign(x, assertId);
}

/** The Assertion encrypted by @authenio/xml-encryption, as samlify-based IdPs send it. */
async function xmlencEncryptAssertion(xml, { data = ENC.aes128cbc, key = ENC.oaep, keyName = "sp_enc" } = {}) {
  const [before, assertion, after] = splitAssertion(xml);
  const pem = readCrt(keyName);
  const rsaPub = new crypto.X509Certificate(pem).publicKey.export({ type: "spki", format: "pem" });
  const enc = await new Promise((resolve, reject) => {
    xmlenc.encrypt(assertion, {
      rsa_pub: Buffer.from(rsaPub), pem: Buffer.from(pem), encryptionAlgorithm: data, keyEncryptionAlgorithm: key,
      disallowEncryptionWithInsecureAlgorithm: false, warnInsecureAlgorithm: false,
    }, (err, res) => (err ? reject(err) : resolve(res)));
  });
  return `${before}<saml:EncryptedAssertion>${enc}</saml:EncryptedAssertion>${after}`;
}

/** XORs byte `at` of the EncryptedData's CipherValue (the last one in the document) with `mask`. */
function tamperCiphertext(xml, at, mask = 0x01) {
  const m = [...xml.matchAll(/(<(?:[A-Za-z0-9_]+:)?CipherValue>)([^<]+)(<\/)/g)].pop();
  if (!m) fail("tamperCiphertext: no CipherValue");
  const bytes = Buffer.from(m[2].replace(/\s+/g, ""), "base64");
  if (bytes.length <= at) fail(`tamperCiphertext: the ciphertext has ${bytes.length} bytes`);
  bytes[at] ^= mask;
  const i = m.index + m[1].length;
  return xml.slice(0, i) + bytes.toString("base64") + xml.slice(i + m[2].length);
}

/** Does xmlsec1 decrypt the document's EncryptedData with the SP key `keyName`? */
function xmlsecDecrypts(xml, keyName = "sp_enc") {
  const file = path.join(TMP, "dec.xml");
  fs.writeFileSync(file, xml);
  return run("xmlsec1", ["--decrypt", "--privkey-pem", keyPath(keyName), file]).status === 0;
}

/** The signed plaintext `make` produced must verify (xmlsec1) before it is encrypted. */
function verifiedFirst(xml, expect = [true]) {
  const got = xmlsecVerifyAll(xml, SP.certificates);
  if (!sameArray(got, expect)) fail(`signature before encryption: xmlsec1 gave ${JSON.stringify(got)}`);
  return xml;
}

const ENCRYPTED_CASES = [
  {
    name: "encrypted_oaep_gcm_xmlsec1",
    description: "Assertion signed, then encrypted by xmlsec1: RSA-OAEP (mgf1p) key transport, AES-256-GCM content; signature inside the encryption",
    signer: "xmlsec1", expect: "ok", name_id: "dana@acme.test", attributes: OKTA_STYLE_EXPECTED,
    decrypted_with: "keys/sp_enc.key", xmlsecDecrypt: true,
    xml: (seed) => xmlsecEncryptAssertion(verifiedFirst(xmlsecAssertionSigned({ seed }))),
  },
  {
    name: "encrypted_oaep_cbc_xmlenc",
    description: "Assertion signed by xml-crypto, then encrypted by xml-encryption: RSA-OAEP, AES-128-CBC; signature inside the encryption",
    signer: "xml-crypto", expect: "ok", name_id: "dana@acme.test", attributes: OKTA_STYLE_EXPECTED,
    decrypted_with: "keys/sp_enc.key", xmlsecDecrypt: true,
    xml: (seed) => xmlencEncryptAssertion(verifiedFirst(xcAssertionSigned({ seed }))),
  },
  {
    name: "encrypted_signature_outside",
    description: "Assertion unsigned and encrypted by xmlsec1 (RSA-OAEP, AES-256-CBC), then the Response signed over the EncryptedAssertion: signature outside the encryption",
    signer: "xmlsec1", expect: "ok", name_id: "dana@acme.test", attributes: OKTA_STYLE_EXPECTED,
    decrypted_with: "keys/sp_enc.key", xmlsecDecrypt: true, xmlsec: [true],
    xml: (seed) => {
      const respId = sid("resp", seed);
      const encrypted = xmlsecEncryptAssertion(baseline({ seed, respId, respSig: sigTemplate(respId) }), { data: ENC.aes256cbc });
      return xmlsecSign(encrypted, respId);
    },
  },
  {
    name: "encrypted_rsa_1_5",
    description: "Encrypted by xml-encryption with RSA PKCS#1 v1.5 key transport (Bleichenbacher's oracle): refused before any decryption",
    signer: "xml-crypto", expect: "encryption_algorithm", xmlsecDecrypt: true,
    xml: (seed) => xmlencEncryptAssertion(xcAssertionSigned({ seed }), { data: ENC.aes256cbc, key: ENC.rsa15 }),
  },
  {
    name: "encrypted_tampered_ciphertext",
    description: "The GCM vector with one ciphertext byte changed: the tag fails; same code as a wrong key",
    signer: "xmlsec1", expect: "decryption_failed", xmlsecDecrypt: false,
    xml: (seed) => tamperCiphertext(xmlsecEncryptAssertion(xmlsecAssertionSigned({ seed })), 40),
  },
  {
    name: "encrypted_tampered_cbc_iv",
    description: "AES-CBC with the IV's byte 1 changed: decrypts to '<raml:Assertion' (malformed XML, valid padding); still only decryption_failed, so no answer tells parsing from padding failures",
    // xmlsec1 decrypts the bytes (CBC has no integrity) but cannot put the malformed text back.
    signer: "xml-crypto", expect: "decryption_failed", xmlsecDecrypt: false,
    xml: async (seed) => tamperCiphertext(await xmlencEncryptAssertion(xcAssertionSigned({ seed })), 1),
  },
  {
    name: "encrypted_to_key_not_held",
    description: "Encrypted (xmlsec1, OAEP + GCM) to an SP certificate the connection does not hold, as to a retired key after its overlap: same code as a tampered ciphertext",
    signer: "xmlsec1", expect: "decryption_failed", xmlsecDecrypt: false,
    xml: (seed) => xmlsecEncryptAssertion(xmlsecAssertionSigned({ seed }), { keyName: "sp_enc_other" }),
  },
  {
    name: "encrypted_wrapped_in_extensions",
    description: "A good EncryptedAssertion moved into samlp:Extensions instead of being a child of the Response",
    signer: "xmlsec1", expect: "malformed", xmlsecDecrypt: true,
    xml: (seed) => {
      const enc = xmlsecEncryptAssertion(xmlsecAssertionSigned({ seed }));
      const m = enc.match(/<saml:EncryptedAssertion>[\s\S]*<\/saml:EncryptedAssertion>/);
      const without = enc.replace(m[0], "");
      return replaceOnce(without, "  <samlp:Status>", `  <samlp:Extensions>${m[0]}</samlp:Extensions>\n  <samlp:Status>`);
    },
  },
  {
    name: "encrypted_plus_plain_assertion",
    description: "A good EncryptedAssertion plus an unsigned plain Assertion for the attacker beside it",
    signer: "xmlsec1", expect: "assertion_count", xmlsecDecrypt: true,
    xml: (seed) => {
      const enc = xmlsecEncryptAssertion(xmlsecAssertionSigned({ seed }));
      const evil = assertionXml({ seed, assertId: sid("assert", `${seed}-evil`), irt: REQ1, issuer: SP.idp_entity_id, nameId: EVIL_NAME_ID });
      return replaceOnce(enc, "</samlp:Response>", `${indent(evil, 2)}\n</samlp:Response>`);
    },
  },
  {
    name: "encrypted_required_but_plain",
    description: "The baseline plain (signed) response to a connection that requires encrypted assertions",
    signer: "xmlsec1", expect: "unencrypted", require_encrypted: true,
    xml: (seed) => xmlsecAssertionSigned({ seed }), xmlsec: [true],
  },
  {
    name: "encrypted_name_id_and_attribute",
    description: "A plain Assertion whose NameID is a saml:EncryptedID (RSA-OAEP, AES-256-GCM) and whose email Attribute is a saml:EncryptedAttribute (AES-128-CBC), both by xmlsec1, then signed by xmlsec1 over the ciphertexts: decrypted after the signature verified",
    signer: "xmlsec1", expect: "ok", name_id: "dana@acme.test", attributes: OKTA_STYLE_EXPECTED,
    xmlsec: [true],
    xml: (seed) => encryptedIdAndAttribute(seed),
  },
  {
    name: "encrypted_name_id_key_not_held",
    description: "The same, with the EncryptedID encrypted to an SP certificate the connection does not hold: decryption_failed (the signature is good)",
    signer: "xmlsec1", expect: "decryption_failed", xmlsec: [true],
    xml: (seed) => encryptedIdAndAttribute(seed, "sp_enc_other"),
  },
  {
    name: "encrypted_without_sp_key",
    description: "The good GCM vector to a connection with no SP encryption key: told to turn encryption on in Lanyard (or off in the IdP)",
    signer: "xmlsec1", expect: "encrypted_assertion", decryption_keys: [], xmlsecDecrypt: true,
    xml: (seed) => xmlsecEncryptAssertion(xmlsecAssertionSigned({ seed })),
  },
];

const CASES_DEF = [
  // ---- good ---------------------------------------------------------------------------------
  {
    name: "xmlsec1_sp_initiated",
    description: "Baseline: SP-initiated, Assertion signed by xmlsec1",
    signer: "xmlsec1", expect: "ok", name_id: "dana@acme.test", attributes: OKTA_STYLE_EXPECTED,
    xml: (seed) => xmlsecAssertionSigned({ seed }), xmlsec: [true],
  },
  {
    name: "xmlcrypto_sp_initiated",
    description: "Baseline: SP-initiated, Assertion signed by xml-crypto",
    signer: "xml-crypto", expect: "ok", name_id: "dana@acme.test", attributes: OKTA_STYLE_EXPECTED,
    xml: (seed) => xcAssertionSigned({ seed }), xmlsec: [true],
  },
  {
    name: "xmlsec1_idp_initiated",
    description: "IdP-initiated (no InResponseTo anywhere), allowed by the connection; Assertion signed by xmlsec1",
    signer: "xmlsec1", expect: "ok", in_response_to: null, allow_idp_initiated: true, name_id: "dana@acme.test",
    attributes: OKTA_STYLE_EXPECTED,
    xml: (seed) => xmlsecAssertionSigned({ seed, inResponseTo: null }), xmlsec: [true],
  },
  {
    name: "xmlcrypto_idp_initiated",
    description: "IdP-initiated (no InResponseTo anywhere), allowed by the connection; Assertion signed by xml-crypto",
    signer: "xml-crypto", expect: "ok", in_response_to: null, allow_idp_initiated: true, name_id: "dana@acme.test",
    attributes: OKTA_STYLE_EXPECTED,
    xml: (seed) => xcAssertionSigned({ seed, inResponseTo: null }), xmlsec: [true],
  },
  {
    name: "xmlsec1_response_signed",
    description: "Only the Response is signed (xmlsec1); the Assertion inside it carries no signature",
    signer: "xmlsec1", expect: "ok", name_id: "dana@acme.test", attributes: OKTA_STYLE_EXPECTED,
    xml: (seed) => xmlsecResponseSigned({ seed }), xmlsec: [true],
  },
  {
    name: "response_signed_assertion_wanted",
    description: "Only the Response is signed (xmlsec1), to a connection that wants signed assertions (WantAssertionsSigned): the Assertion carries no signature of its own",
    signer: "xmlsec1", expect: "unsigned", require_assertion_signed: true,
    xml: (seed) => xmlsecResponseSigned({ seed }), xmlsec: [true],
  },
  {
    name: "xmlcrypto_both_signed",
    description: "Assertion signed, then the Response signed over it (both by xml-crypto)",
    signer: "xml-crypto", expect: "ok", name_id: "dana@acme.test", attributes: OKTA_STYLE_EXPECTED,
    xml: (seed) => xcSignResponse(xcAssertionSigned({ seed })), xmlsec: [true, true],
  },
  {
    name: "rotated_certificate",
    description: "Signed with the rotated key idp2; the connection pins both idp.crt and idp2.crt",
    signer: "xmlsec1", expect: "ok", certificates: ["keys/idp.crt", "keys/idp2.crt"], name_id: "dana@acme.test",
    attributes: OKTA_STYLE_EXPECTED,
    xml: (seed) => xmlsecAssertionSigned({ seed }, "idp2"), xmlsec: [true],
    xmlsecWith: { certificates: ["keys/idp.crt"], expect: [false] },
  },
  {
    name: "okta_shape",
    description: "Okta-shaped: saml2 prefixes, id+digits IDs, xs:string values, InclusiveNamespaces PrefixList=xs, Response and Assertion signed",
    signer: "xmlsec1", expect: "ok", name_id: "dana@acme.test", attributes: OKTA_STYLE_EXPECTED,
    xml: (seed) => oktaShape(seed), xmlsec: [true, true],
  },
  {
    name: "entra_shape",
    description: "Entra ID-shaped: default-namespace Assertion and Signature, persistent opaque NameID, claim-URI attributes, Assertion signed",
    signer: "xmlsec1", expect: "ok", xmlsec: [true],
    build(c) {
      const e = entraShape(c.name);
      c.name_id = e.nameId;
      c.attributes = e.attributes;
      return e.xml;
    },
  },
  {
    name: "google_shape",
    description: "Google Workspace-shaped: saml2 prefixes, email/first_name/last_name attributes, no groups, X509SubjectName in KeyInfo, Assertion signed",
    signer: "xml-crypto", expect: "ok", name_id: "dana@acme.test",
    attributes: { email: ["dana@acme.test"], first_name: ["Dana"], last_name: ["Lee"] },
    xml: (seed) => googleShape(seed), xmlsec: [true],
  },
  {
    name: "comment_injection_name_id",
    description: "IdP signed NameID dana@acme.test.evil.test; a comment was inserted after signing (exc-c14n drops it, signature stays valid): the SP refuses it (IdPs never send comments) and would otherwise read the whole text",
    signer: "xmlsec1", expect: "xml_comment",
    xml: (seed) =>
      replaceOnce(
        xmlsecAssertionSigned({ seed, nameId: "dana@acme.test.evil.test" }),
        ">dana@acme.test.evil.test</saml:NameID>",
        ">dana@acme.test<!---->.evil.test</saml:NameID>",
      ),
    xmlsec: [true],
  },
  {
    name: "clock_skew_late",
    description: "Good response checked at 12:06:30, after NotOnOrAfter 12:05:00 but within the 120 s skew",
    signer: "xml-crypto", expect: "ok", now: "2026-11-28T12:06:30Z", name_id: "dana@acme.test",
    xml: (seed) => xcAssertionSigned({ seed }), xmlsec: [true],
  },
  {
    name: "clock_skew_early",
    description: "Good response checked at 11:57:30, before NotBefore 11:59:00 but within the 120 s skew",
    signer: "xmlsec1", expect: "ok", now: "2026-11-28T11:57:30Z", name_id: "dana@acme.test",
    xml: (seed) => xmlsecAssertionSigned({ seed }), xmlsec: [true],
  },

  // ---- bad: signature -----------------------------------------------------------------------
  {
    name: "unsigned",
    description: "No ds:Signature anywhere",
    signer: "none", expect: "unsigned",
    xml: (seed) => baseline({ seed }), xmlsec: [],
  },
  {
    name: "tampered_name_id",
    description: "NameID changed (dana -> admin) after the Assertion was signed",
    signer: "xmlsec1", expect: "signature_invalid",
    xml: (seed) => replaceOnce(xmlsecAssertionSigned({ seed }), ">dana@acme.test</saml:NameID>", ">admin@acme.test</saml:NameID>"),
    xmlsec: [false],
  },
  {
    name: "tampered_attribute",
    description: "groups value Admins changed to Owners after the Assertion was signed",
    signer: "xml-crypto", expect: "signature_invalid",
    xml: (seed) => replaceOnce(xcAssertionSigned({ seed }), ">Admins<", ">Owners<"),
    xmlsec: [false],
  },
  {
    name: "signed_by_attacker",
    description: "Signed with attacker.key; KeyInfo carries attacker.crt (same subject name as the IdP's)",
    signer: "xmlsec1", expect: "signature_invalid",
    xml: (seed) => xmlsecAssertionSigned({ seed }, "attacker"), xmlsec: [false],
    xmlsecWith: { certificates: ["keys/attacker.crt"], expect: [true] },
  },
  {
    name: "rotated_certificate_not_pinned",
    description: "Signed with idp2 but the connection pins only idp.crt",
    signer: "xmlsec1", expect: "signature_invalid",
    xml: (seed) => xmlsecAssertionSigned({ seed }, "idp2"), xmlsec: [false],
    xmlsecWith: { certificates: ["keys/idp2.crt"], expect: [true] },
  },
  {
    name: "sha1_signature",
    description: "Signed by the trusted key with rsa-sha1 and a sha1 digest (cryptographically valid)",
    signer: "xmlsec1", expect: "signature_algorithm",
    xml: (seed) => xmlsecAssertionSigned({ seed }, "idp", { sigAlg: ALG.rsaSha1, digestAlg: ALG.sha1 }), xmlsec: [true],
  },
  {
    name: "sha1_digest",
    description: "rsa-sha256 SignatureMethod but a sha1 DigestMethod (cryptographically valid)",
    signer: "xml-crypto", expect: "signature_algorithm",
    xml: (seed) => xcAssertionSigned({ seed }, { digestAlg: ALG.sha1 }), xmlsec: [true],
  },

  // ---- bad: conditions ----------------------------------------------------------------------
  {
    name: "expired",
    description: "Good response, validator clock 12:10:00 (NotOnOrAfter 12:05:00 + 120 s skew passed)",
    signer: "xmlsec1", expect: "expired", now: "2026-11-28T12:10:00Z",
    xml: (seed) => xmlsecAssertionSigned({ seed }), xmlsec: [true],
  },
  {
    name: "not_yet_valid",
    description: "Good response, validator clock 11:55:00 (NotBefore 11:59:00 - 120 s skew not reached)",
    signer: "xml-crypto", expect: "not_yet_valid", now: "2026-11-28T11:55:00Z",
    xml: (seed) => xcAssertionSigned({ seed }), xmlsec: [true],
  },
  {
    name: "wrong_audience",
    description: "Signed Assertion whose Audience is another SP",
    signer: "xmlsec1", expect: "audience_mismatch",
    xml: (seed) => xmlsecAssertionSigned({ seed, audience: "https://other-sp.test/saml/metadata" }), xmlsec: [true],
  },
  {
    name: "wrong_recipient",
    description: "Signed Assertion whose SubjectConfirmationData Recipient is another ACS URL",
    signer: "xml-crypto", expect: "recipient_mismatch",
    xml: (seed) => xcAssertionSigned({ seed, recipient: "https://other-sp.test/saml/acs" }), xmlsec: [true],
  },
  {
    name: "wrong_destination",
    description: "Signed Response whose Destination is another URL",
    signer: "xmlsec1", expect: "destination_mismatch",
    xml: (seed) => xmlsecResponseSigned({ seed, destination: "https://other-sp.test/saml/acs" }), xmlsec: [true],
  },
  {
    name: "wrong_issuer",
    description: "Signed by the trusted key, but the Issuer (Response and Assertion) is another entity",
    signer: "xml-crypto", expect: "issuer_mismatch",
    xml: (seed) => xcAssertionSigned({ seed, issuer: "http://other-idp.test/metadata" }), xmlsec: [true],
  },
  {
    name: "in_response_to_other_request",
    description: "Response (and SubjectConfirmationData) answers _lanyard_req_2; the SP waits for _lanyard_req_1",
    signer: "xmlsec1", expect: "in_response_to_mismatch",
    xml: (seed) => xmlsecAssertionSigned({ seed, inResponseTo: REQ2 }), xmlsec: [true],
  },
  {
    name: "in_response_to_unexpected",
    description: "Response carries InResponseTo _lanyard_req_1 but the SP expects none (IdP-initiated allowed)",
    signer: "xmlsec1", expect: "in_response_to_mismatch", in_response_to: null, allow_idp_initiated: true,
    xml: (seed) => xmlsecAssertionSigned({ seed }), xmlsec: [true],
  },
  {
    name: "in_response_to_missing",
    description: "IdP-initiated response (no InResponseTo) while the SP waits for _lanyard_req_1",
    signer: "xml-crypto", expect: "in_response_to_mismatch",
    xml: (seed) => xcAssertionSigned({ seed, inResponseTo: null }), xmlsec: [true],
  },
  {
    name: "unsolicited_not_allowed",
    description: "IdP-initiated response, the connection does not allow IdP-initiated sign-in",
    signer: "xmlsec1", expect: "unsolicited", in_response_to: null, allow_idp_initiated: false,
    xml: (seed) => xmlsecAssertionSigned({ seed, inResponseTo: null }), xmlsec: [true],
  },

  // ---- bad: structure -----------------------------------------------------------------------
  {
    name: "doctype_entity_expansion",
    description: "Signed response with a DOCTYPE whose nested internal entities expand to the signed NameID",
    signer: "xmlsec1", expect: "dtd_forbidden",
    xml: (seed) => {
      const signed = xmlsecAssertionSigned({ seed });
      const dtd =
        `<!DOCTYPE samlp:Response [\n` +
        `  <!ENTITY d "dana">\n` +
        `  <!ENTITY at "&d;@acme.test">\n` +
        `  <!ENTITY lol "lol">\n` +
        `  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n` +
        `  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">\n` +
        `]>\n`;
      const withDtd = signed.startsWith("<?xml") ? signed.replace(/^(<\?xml[^>]*\?>\n?)/, `$1${dtd}`) : dtd + signed;
      return replaceOnce(withDtd, ">dana@acme.test</saml:NameID>", ">&at;</saml:NameID>");
    },
    xmlsec: null, // checked below: xmldom is not used on a document with a DTD
    check(xml) {
      const file = path.join(TMP, "dtd.xml");
      fs.writeFileSync(file, xml);
      // xmlsec1 1.2.37 keeps the entity references unexpanded when canonicalising, so the digest
      // no longer matches: the case must be rejected for the DTD before any signature check.
      if (xmlsecVerifyOne(file, 1, "keys/idp.crt")) fail("doctype_entity_expansion: xmlsec1 unexpectedly verified it");
    },
  },
  {
    name: "two_assertions",
    description: "A second, separately signed Assertion (for eve@acme.test) appended to a good response",
    signer: "xmlsec1", expect: "assertion_count",
    xml: (seed) => {
      const first = xmlsecAssertionSigned({ seed });
      const secondId = sid("assert2", seed);
      const other = baseline({ seed: `${seed}:2`, assertId: secondId, nameId: "eve@acme.test", assertSig: sigTemplate(secondId) });
      const signedOther = xmlsecSign(other, secondId);
      const a = signedOther.slice(signedOther.indexOf("  <saml:Assertion"), signedOther.indexOf("</samlp:Response>"));
      return replaceOnce(first, "</samlp:Response>", `${a}</samlp:Response>`);
    },
    xmlsec: [true, true],
  },
  {
    name: "status_responder",
    description: "Signed Response with StatusCode Responder and no Assertion",
    signer: "xmlsec1", expect: "status_not_success",
    xml: (seed) => xmlsecResponseSigned({ seed, status: STATUS_RESPONDER, withAssertion: false }), xmlsec: [true],
  },

  // ---- bad: XML signature wrapping ----------------------------------------------------------
  // xmlsec1's enveloped-signature transform drops everything inside the <Signature>, so the
  // shapes that hide the signed element inside the Signature (XSW1, XSW6, XSW8) do not verify
  // there; the others still carry an intact, verifying signature over the original element.
  ...[
    [1, "Response-signed: evil Response is the root; the original signed Response (minus signature) moved into the root Signature's ds:Object", [false]],
    [2, "Response-signed: evil Response is the root; the original signed Response (minus signature) placed just before the Signature", [true]],
    [3, "Evil Assertion inserted before the signed one, as a sibling", [true]],
    [4, "Evil Assertion replaces the signed one and wraps it as a child", [true]],
    [5, "Evil Assertion carries the original Signature; the original Assertion (signature removed) appended at the end of the Response", [true]],
    [6, "Evil Assertion carries the original Signature; the original Assertion (signature removed) placed inside that Signature", [false]],
    [7, "samlp:Extensions holding the evil Assertion placed before the untouched signed Assertion (SAML Raider XSW7)", [true]],
    [8, "Evil Assertion carries the original Signature; the original Assertion (signature removed) inside a ds:Object of that Signature", [false]],
  ].map(([n, d, v]) => ({
    name: `xsw${n}`,
    description: `XSW${n}: ${d}`,
    signer: "xmlsec1", expect: "assertion_count",
    xml: (seed) => xsw(n, seed), xmlsec: v,
  })),
  {
    name: "xsw7_original_in_extensions",
    description: "XSW7 variant: the original signed Assertion hidden in samlp:Extensions, an unsigned evil Assertion in its place",
    signer: "xmlsec1", expect: "assertion_count",
    xml: (seed) => xsw7OriginalInExtensions(seed), xmlsec: [true],
  },
  {
    name: "wrap_signed_error_response",
    description: "One unsigned evil Assertion; the only signature is inside an IdP-signed error Response nested in samlp:Extensions",
    signer: "xmlsec1", expect: "unsigned",
    xml: (seed) => wrapSignedErrorResponse(seed, false), xmlsec: [true],
  },
  {
    name: "wrap_detached_reference",
    description: "One unsigned evil Assertion; the root Response's ds:Signature verifies but references a nested IdP-signed error Response in samlp:Extensions",
    signer: "xmlsec1", expect: "unsigned",
    xml: (seed) => wrapSignedErrorResponse(seed, true), xmlsec: [true],
  },
  ...ENCRYPTED_CASES,
];

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

function sameArray(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

async function main() {
  ensureKeys();
  fs.writeFileSync(path.join(HERE, "sp.json"), JSON.stringify(SP) + "\n");
  fs.rmSync(CASES, { recursive: true, force: true });
  fs.mkdirSync(CASES);

  const names = new Set();
  for (const def of CASES_DEF) {
    if (names.has(def.name)) fail(`duplicate case ${def.name}`);
    names.add(def.name);
    const c = { ...def };
    const xml = await (c.build ? c.build(c) : c.xml(c.name));
    const encrypted = /Encrypted(Assertion|ID|Attribute)>/.test(xml);
    const certificates = c.certificates ?? SP.certificates;

    // xmlsec1 checks, per signature in document order.
    if (c.xmlsec) {
      const got = xmlsecVerifyAll(xml, certificates);
      if (!sameArray(got, c.xmlsec)) fail(`${c.name}: xmlsec1 --verify gave ${JSON.stringify(got)}, expected ${JSON.stringify(c.xmlsec)}`);
    }
    if (c.xmlsecWith) {
      const got = xmlsecVerifyAll(xml, c.xmlsecWith.certificates);
      if (!sameArray(got, c.xmlsecWith.expect)) {
        fail(`${c.name}: xmlsec1 --verify with ${c.xmlsecWith.certificates} gave ${JSON.stringify(got)}, expected ${JSON.stringify(c.xmlsecWith.expect)}`);
      }
    }
    if (c.check) c.check(xml);
    if (c.xmlsecDecrypt !== undefined && xmlsecDecrypts(xml) !== c.xmlsecDecrypt) {
      fail(`${c.name}: xmlsec1 --decrypt with keys/sp_enc.key ${c.xmlsecDecrypt ? "failed" : "succeeded"}`);
    }
    // Good vectors: the second implementation must agree.
    if (c.expect === "ok" && !(encrypted && !c.xmlsec)) {
      const got = xmlCryptoVerifyAll(xml, certificates);
      if (got.length === 0 || !got.every(Boolean)) fail(`${c.name}: xml-crypto does not verify every signature: ${JSON.stringify(got)}`);
    }

    const caseJson = {
      description: c.description,
      signer: c.signer,
      now: c.now ?? NOW,
      in_response_to: c.in_response_to === undefined ? REQ1 : c.in_response_to,
    };
    if (c.allow_idp_initiated !== undefined) caseJson.allow_idp_initiated = c.allow_idp_initiated;
    if (c.certificates) caseJson.certificates = c.certificates;
    if (encrypted || c.require_encrypted) caseJson.decryption_keys = c.decryption_keys ?? SP_DECRYPTION_KEYS;
    if (c.require_encrypted) caseJson.require_encrypted = true;
    if (c.require_assertion_signed) caseJson.require_assertion_signed = true;
    caseJson.expect = c.expect;
    if (c.expect === "ok") {
      if (!c.name_id) fail(`${c.name}: ok case without name_id`);
      caseJson.name_id = c.name_id;
      if (c.attributes) caseJson.attributes = c.attributes;
      if (c.decrypted_with) caseJson.decrypted_with = c.decrypted_with;
    }
    const dir = path.join(CASES, c.name);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, "response.xml"), xml.endsWith("\n") ? xml : `${xml}\n`);
    fs.writeFileSync(path.join(dir, "case.json"), JSON.stringify(caseJson, null, 2) + "\n");
    console.log(`${c.name.padEnd(32)} ${c.signer.padEnd(10)} ${c.expect}`);
  }
  console.log(`${CASES_DEF.length} cases written to ${path.relative(process.cwd(), CASES) || "."}`);
}

await main();
