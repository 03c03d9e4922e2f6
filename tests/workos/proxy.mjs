// A recording proxy between the WorkOS SDKs and Lanyard: forwards every request unchanged and
// checks every JSON answer against the matching response schema of WorkOS's published OpenAPI
// document (npm @workos/openapi-spec). Each exchange is appended to a JSON-lines report.
//   node tests/workos/proxy.mjs <lanyard base URL> <port> <report.jsonl>
// or with PROXY_TARGET, PROXY_PORT (0: any free port) and PROXY_REPORT in the environment.
// Prints `READY <port>` once it listens.
import http from 'node:http';
import { appendFileSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import YAML from 'yaml';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const [target, port, report] = process.argv.length > 2
  ? process.argv.slice(2)
  : [process.env.PROXY_TARGET, process.env.PROXY_PORT ?? '0', process.env.PROXY_REPORT];
const require = createRequire(import.meta.url);
const spec = YAML.parse(readFileSync(require.resolve('@workos/openapi-spec/spec'), 'utf8'));
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
addFormats(ajv);

// The document lists some `required` keys twice (DirectoryUserList: `list_metadata`), which
// ajv refuses as an invalid schema: each list is made unique once, before anything compiles.
(function dedupe(node) {
  if (Array.isArray(node)) return node.forEach(dedupe);
  if (!node || typeof node !== 'object') return;
  if (Array.isArray(node.required)) node.required = [...new Set(node.required)];
  Object.values(node).forEach(dedupe);
})(spec);

// @workos-inc/node 12 calls four directory-scoped routes the document (0.1.0) does not list;
// they answer the document's own shapes: DirectoryUser (without groups) and DirectoryGroup.
const ok = (schema) => ({ get: { responses: { 200: { content: { 'application/json': { schema } } } } } });
const userList = structuredClone(spec.components.schemas.DirectoryUserList);
userList.properties.data.items = { $ref: '#/components/schemas/DirectoryUser' };
Object.assign(spec.paths, {
  '/directories/{id}/users': ok(userList),
  '/directories/{id}/users/{user}': ok({ $ref: '#/components/schemas/DirectoryUser' }),
  '/directories/{id}/groups': ok({ $ref: '#/components/schemas/DirectoryGroupList' }),
  '/directories/{id}/groups/{group}': ok({ $ref: '#/components/schemas/DirectoryGroup' }),
});

// Path templates, static segments before parameters (so /organizations/external_id/{x} wins
// over /organizations/{id}).
const templates = Object.keys(spec.paths)
  .map((t) => ({ t, re: new RegExp('^' + t.replace(/\{[^}]+\}/g, '[^/]+') + '$'), params: (t.match(/\{/g) || []).length }))
  .sort((a, b) => a.params - b.params);
const cache = new Map();
function validatorFor(template, method, status) {
  const key = `${method} ${template} ${status}`;
  if (!cache.has(key)) {
    const op = spec.paths[template]?.[method.toLowerCase()];
    const schema = op?.responses?.[String(status)]?.content?.['application/json']?.schema;
    let validate = null;
    if (schema) {
      try {
        validate = ajv.compile({ ...schema, components: spec.components });
      } catch (e) {
        // A schema ajv cannot compile fails the answer that needed it, not the proxy.
        validate = Object.assign(() => false, { errors: [{ instancePath: '', message: `the document's schema does not compile: ${e.message}` }] });
      }
    }
    cache.set(key, validate);
  }
  return cache.get(key);
}

// An event list fails as one `oneOf` over every event type, which says nothing useful: name
// each failing event and what its own type's schema says about it.
const eventVariants = new Map(
  spec.components.schemas.EventSchema.allOf[1].oneOf.map((v) => [v.properties?.event?.const, v]),
);
const eventValidators = new Map();
function explain(json) {
  if (json?.object !== 'list' || !Array.isArray(json.data) || json.data[0]?.object !== 'event') return null;
  const problems = [];
  for (const e of json.data) {
    const variant = eventVariants.get(e.event);
    if (!variant) continue;
    if (!eventValidators.has(e.event)) eventValidators.set(e.event, ajv.compile({ ...variant, components: spec.components }));
    const v = eventValidators.get(e.event);
    if (!v(e)) problems.push(`${e.event} ${e.id}: ${ajv.errorsText(v.errors, { separator: '; ' })}`);
  }
  return problems.length ? problems.join(' | ') : null;
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    const body = Buffer.concat(chunks);
    const headers = { ...req.headers };
    delete headers.host;
    let status, text, outHeaders;
    try {
      const r = await fetch(target + req.url, { method: req.method, headers, body: body.length ? body : undefined, redirect: 'manual' });
      status = r.status;
      text = await r.text();
      outHeaders = Object.fromEntries(r.headers);
    } catch (e) {
      res.writeHead(502).end(String(e));
      return;
    }
    const path = req.url.split('?')[0];
    const entry = { method: req.method, path, status, content_type: outHeaders['content-type'] || null };
    const match = templates.find((x) => x.re.test(path));
    entry.template = match?.t ?? null;
    if (text.length) {
      let json;
      try { json = JSON.parse(text); } catch { entry.problem = 'the body is not JSON'; }
      if (json !== undefined && match) {
        const validate = validatorFor(match.t, req.method, status);
        if (validate === null) {
          entry.schema = 'none';
        } else {
          entry.schema = 'checked';
          if (!validate(json)) entry.problem = explain(json) ?? ajv.errorsText(validate.errors, { separator: '; ' });
        }
      }
      // A top-level `error` key turns a 4xx into OauthException in the Node SDK; WorkOS's
      // document has one only where it says so (the OAuth errors of /sso/token, the 401 of
      // /sso/profile), and those are checked against their schema above.
      if (json && typeof json === 'object' && status >= 400 && 'error' in json && entry.schema !== 'checked') {
        entry.problem = (entry.problem ? entry.problem + '; ' : '') + 'an error body with a top-level "error" key';
      }
    }
    if (status >= 300 && status < 400) entry.problem = 'a redirect (the Node SDK never follows one)';
    appendFileSync(report, JSON.stringify(entry) + '\n');
    delete outHeaders['content-encoding'];
    delete outHeaders['content-length'];
    delete outHeaders['transfer-encoding'];
    res.writeHead(status, outHeaders).end(text);
  });
});
server.listen(Number(port), '127.0.0.1', () => console.log(`READY ${server.address().port}`));
