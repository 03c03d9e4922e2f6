// The probe's attack on a real Lanyard (issue 24): one directory sends a PATCH adding N unknown
// members (default 40,000, ~1.8 MB) while another tenant writes through the vendor API, and a
// group push of M real users (default 5,000) is applied while the other tenant keeps writing.
// Prints how long the refusal took, and the other tenant's write latencies in both phases.
//
//   node benches/scim_limits.mjs --base URL --key API_KEY [--members 40000] [--push 5000] [--runs 5]
// Run through benches/scim_limits.sh, which starts Lanyard on SQLite or PostgreSQL.
const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const base = args.base;
const key = args.key;
const members = Number(args.members ?? 40000);
const push = Number(args.push ?? 5000);
const runs = Number(args.runs ?? 5);
const api = (path, body, method = 'POST') =>
  fetch(`${base}/api/v1${path}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: body && JSON.stringify(body),
  });

const org = await (await api('/organizations', { name: 'Attacker' })).json();
const dir = await (await api(`/organizations/${org.id}/directories`, { type: 'okta', name: 'Bench' })).json();
const scim = (method, path, body) =>
  fetch(`${dir.scim_base_url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${dir.bearer_token}`, 'Content-Type': 'application/scim+json' },
    body: body && JSON.stringify(body),
  });
const group = await (await scim('POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'All', members: [] })).json();
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

// Another tenant writing continuously until `done` resolves.
async function otherTenant(done) {
  const lat = [];
  const failed = [];
  let stop = false;
  done.then(() => (stop = true));
  while (!stop || lat.length < 3) {
    const t = performance.now();
    const r = await api('/organizations', { name: `Other ${lat.length}` });
    lat.push(performance.now() - t);
    if (r.status !== 201) failed.push(r.status);
    await r.arrayBuffer();
  }
  lat.sort((a, b) => a - b);
  return { n: lat.length, failed, p50: lat[Math.floor(lat.length / 2)], max: lat[lat.length - 1] };
}
const ms = (x) => `${x.toFixed(1)} ms`;

const huge = JSON.stringify({
  schemas: [PATCH],
  Operations: [{ op: 'add', path: 'members', value: Array.from({ length: members }, (_, i) => ({ value: `01JUNKNOWN${String(i).padStart(16, '0')}` })) }],
});
const took = [];
for (let i = 0; i < runs; i++) {
  let finish;
  const done = new Promise((r) => (finish = r));
  const other = otherTenant(done);
  const t = performance.now();
  const r = await fetch(`${dir.scim_base_url}/Groups/${group.id}`, {
    method: 'PATCH',
    headers: { Authorization: `Bearer ${dir.bearer_token}`, 'Content-Type': 'application/scim+json' },
    body: huge,
  });
  await r.arrayBuffer();
  took.push(performance.now() - t);
  finish();
  const o = await other;
  console.log(`${members}-member PATCH (${(huge.length / 1e6).toFixed(2)} MB): ${r.status} in ${ms(took[i])}; other tenant ${o.n} writes, p50 ${ms(o.p50)}, max ${ms(o.max)}, failed ${o.failed.length}`);
}
took.sort((a, b) => a - b);
console.log(`refusal: median ${ms(took[Math.floor(took.length / 2)])}, max ${ms(took[took.length - 1])}`);

// A legitimate large push: M real users, then one PATCH adding all of them.
const ids = [];
for (let i = 0; i < push; i += 50) {
  const batch = await Promise.all(
    Array.from({ length: Math.min(50, push - i) }, (_, j) =>
      scim('POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: `u${i + j}@bench.test`, active: true }).then((r) => r.json()),
    ),
  );
  ids.push(...batch.map((u) => u.id));
}
let finish;
const done = new Promise((r) => (finish = r));
const other = otherTenant(done);
const t = performance.now();
const r = await scim('PATCH', `/Groups/${group.id}`, { schemas: [PATCH], Operations: [{ op: 'add', path: 'members', value: ids.map((value) => ({ value })) }] });
await r.arrayBuffer();
const pushMs = performance.now() - t;
finish();
const o = await other;
console.log(`${push}-member push of real users: ${r.status} in ${ms(pushMs)}; other tenant ${o.n} writes meanwhile, p50 ${ms(o.p50)}, max ${ms(o.max)}, failed ${o.failed.length}`);
