#!/usr/bin/env bash
# Statements per SCIM request, a measure that does not depend on the machine's load: runs a real
# Lanyard with sqlx's statement log on, sends requests one at a time and counts the statements
# each kind of request ran (BEGIN/COMMIT are not logged by sqlx and not counted).
#   bash benches/scim_statements.sh sqlite|postgres [N]   (N requests of each kind, default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
db=${1:-sqlite}
n=${2:-20}
extra_env="LANYARD_LOG=warn,sqlx::query=debug"
. benches/common.sh
scim_directory entra
echo "lanyard: $bin ($bin_kind), database: $db"
node - "$url" "$token" "$work/server.log" "$n" <<'JS'
const [url, token, log, n] = process.argv.slice(2);
const { readFileSync } = await import('node:fs');
const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/scim+json' };
const call = (method, path, body) => fetch(url + path, { method, headers, body: body && JSON.stringify(body) }).then(async (r) => ({ status: r.status, json: await r.json().catch(() => null) }));
const statements = () => readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('sqlx::query')).length;
const settle = () => new Promise((r) => setTimeout(r, 400));
async function measure(label, count, fn) {
  await settle();
  const before = statements();
  for (let i = 0; i < count; i++) await fn(i);
  await settle();
  const per = (statements() - before) / count;
  console.log(`${label.padEnd(46)} ${per.toFixed(1).padStart(6)} statements per request`);
}
const user = (i, p) => ({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: `${p}${i}@acme.test`, name: { givenName: `F${i}`, familyName: `L${i}` }, emails: [{ primary: true, value: `${p}${i}@acme.test`, type: 'work' }], displayName: `F${i} L${i}`, externalId: `x${p}${i}`, active: true });
// Warm up (first requests prepare statements, create chain heads).
for (let i = 0; i < 3; i++) await call('POST', '/Users', user(i, 'warm'));
const ids = [];
await measure('GET /Users?filter=userName eq (no match)', Number(n), (i) => call('GET', `/Users?filter=${encodeURIComponent(`userName eq "u${i}@acme.test"`)}`));
await measure('POST /Users', Number(n), async (i) => { const r = await call('POST', '/Users', user(i, 'u')); if (r.status !== 201) throw new Error(r.status); });
const victims = [];
for (let i = 0; i < 5; i++) victims.push((await call('POST', '/Users', user(i, 'd'))).json.id);
await measure('PATCH /Users/{id} (deactivate)', victims.length, (i) =>
  call('PATCH', `/Users/${victims[i]}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'active', value: false }] }));
for (let i = 0; i < 200; i++) ids.push((await call('POST', '/Users', user(i, 'm'))).json.id);
const g = await call('POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'G' });
await measure('PATCH /Groups/{id} adding 100 members', 1, () => call('PATCH', `/Groups/${g.json.id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'add', path: 'members', value: ids.slice(0, 100).map((value) => ({ value })) }] }));
await measure('POST /Groups with 100 members', 1, () => call('POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'H', members: ids.slice(100, 200).map((value) => ({ value })) }));
JS
