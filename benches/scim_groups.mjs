// Large groups (issue 17, target 3), against a real Lanyard:
//  1. PATCH adding 100 members to one group, --patches times (the group grows by 100 each time),
//     first to an unmapped group, then to a group mapped to a role (each added member's role is
//     recomputed); prints the latency of each kind.
//  2. A --push-member group push (Okta: POST /Groups with every member inside; then Entra-like:
//     one PATCH adding them all to a second group) while another organization's directory keeps
//     sending SCIM requests (creates and lookups, --other clients); prints how long the push took
//     and the longest the other directory waited.
//
//   node benches/scim_groups.mjs --base URL --key API_KEY [--patches 30] [--push 20000] [--other 2]
// Run through benches/scim_groups.sh, which starts Lanyard on SQLite or PostgreSQL.
const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const base = args.base;
const key = args.key;
const patches = Number(args.patches ?? 30);
const push = Number(args.push ?? 20000);
const otherClients = Number(args.other ?? 2);
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

const api = async (method, path, body) => {
  const r = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: body && JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return r.status === 204 ? null : r.json();
};
async function directory(name) {
  const org = await api('POST', '/organizations', { name });
  const dir = await api('POST', `/organizations/${org.id}/directories`, { type: 'okta', name });
  const call = async (method, path, body) => {
    const t = performance.now();
    const r = await fetch(`${dir.scim_base_url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${dir.bearer_token}`, 'Content-Type': 'application/scim+json' },
      body: body && JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, ms: performance.now() - t, json: text ? JSON.parse(text) : null };
  };
  return { ...dir, call };
}
const pct = (l, p) => [...l].sort((a, b) => a - b)[Math.min(l.length - 1, Math.floor((p / 100) * l.length))];
const ms = (x) => `${x.toFixed(1)} ms`;
async function users(dir, n, prefix) {
  const ids = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < n) {
        const i = next++;
        const r = await dir.call('POST', '/Users', { schemas: [USER], userName: `${prefix}${i}@bench.test`, name: { givenName: 'A', familyName: `B${i}` }, active: true });
        if (r.status !== 201) throw new Error(`create ${r.status} ${JSON.stringify(r.json)}`);
        ids[i] = r.json.id;
      }
    }),
  );
  return ids;
}

// --- 1. 100 members per PATCH
const a = await directory('Groups');
const ids = await users(a, 2 * patches * 100, 'p');
const results = {};
for (const mapped of [false, true]) {
  const g = await a.call('POST', '/Groups', { schemas: [GROUP], displayName: mapped ? 'Mapped' : 'Plain' });
  if (mapped) await api('PUT', `/directories/${a.id}/role_mappings`, { mappings: [{ group_id: g.json.id, role: 'admin', priority: 10 }] });
  const lat = [];
  for (let k = 0; k < patches; k++) {
    const slice = ids.slice((mapped ? patches * 100 : 0) + k * 100, (mapped ? patches * 100 : 0) + (k + 1) * 100);
    const r = await a.call('PATCH', `/Groups/${g.json.id}`, { schemas: [PATCH], Operations: [{ op: 'add', path: 'members', value: slice.map((value) => ({ value })) }] });
    if (r.status !== 200 && r.status !== 204) throw new Error(`patch ${r.status} ${JSON.stringify(r.json)}`);
    lat.push(r.ms);
  }
  const name = mapped ? 'mapped to a role' : 'unmapped';
  results[mapped ? 'mapped' : 'plain'] = lat;
  console.log(`PATCH adding 100 members, group ${name.padEnd(17)} n=${lat.length}  p50 ${ms(pct(lat, 50))}  p90 ${ms(pct(lat, 90))}  max ${ms(Math.max(...lat))}  (group grows 0 → ${patches * 100})`);
}

// --- 2. A large push while another directory works
if (push > 0) {
  const big = await directory('Big');
  const t0 = performance.now();
  const bigIds = await users(big, push, 'b');
  console.log(`created ${push} users in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const other = await directory('Other');
  let seq = 0;
  async function otherDirectory(doneP) {
    const lat = [];
    let failed = 0;
    let stop = false;
    doneP.then(() => (stop = true));
    await Promise.all(
      Array.from({ length: otherClients }, async () => {
        while (!stop || lat.length < 3) {
          const i = seq++;
          const q = await other.call('GET', `/Users?filter=${encodeURIComponent(`userName eq "o${i}@other.test"`)}`);
          const c = await other.call('POST', '/Users', { schemas: [USER], userName: `o${i}@other.test`, active: true });
          lat.push(q.ms, c.ms);
          if (q.status !== 200) failed++;
          if (c.status !== 201) failed++;
        }
      }),
    );
    return { n: lat.length, failed, p50: pct(lat, 50), p99: pct(lat, 99), max: Math.max(...lat) };
  }
  for (const shape of ['POST /Groups with every member', 'PATCH adding every member']) {
    let finish;
    const doneP = new Promise((r) => (finish = r));
    const o = otherDirectory(doneP);
    await new Promise((r) => setTimeout(r, 300));
    let r;
    if (shape.startsWith('POST')) {
      r = await big.call('POST', '/Groups', { schemas: [GROUP], displayName: 'Everyone', members: bigIds.map((value) => ({ value })) });
    } else {
      const g = await big.call('POST', '/Groups', { schemas: [GROUP], displayName: 'Everyone again' });
      r = await big.call('PATCH', `/Groups/${g.json.id}`, { schemas: [PATCH], Operations: [{ op: 'add', path: 'members', value: bigIds.map((value) => ({ value })) }] });
    }
    await new Promise((res) => setTimeout(res, 300));
    finish();
    const s = await o;
    const members = r.json?.members?.length;
    console.log(
      `${push}-member push (${shape}): ${r.status} in ${ms(r.ms)} (${members} members in the answer); other directory: ${s.n} requests, p50 ${ms(s.p50)}, p99 ${ms(s.p99)}, max ${ms(s.max)}, failed ${s.failed}`,
    );
    results[shape.startsWith('POST') ? 'push_post' : 'push_patch'] = { push: r.ms, other_max: s.max, status: r.status };
  }
}
console.log(
  `RESULT groups patch100_p50=${pct(results.plain, 50).toFixed(1)} patch100_max=${Math.max(...results.plain).toFixed(1)} patch100_mapped_p50=${pct(results.mapped, 50).toFixed(1)}` +
    (results.push_post ? ` push_post_ms=${results.push_post.push.toFixed(0)} push_post_other_max=${results.push_post.other_max.toFixed(1)} push_patch_ms=${results.push_patch.push.toFixed(0)} push_patch_other_max=${results.push_patch.other_max.toFixed(1)}` : ''),
);
