// Initial directory sync load: 10,000 users and 100 groups with up to 1,000 members each, sent
// the way IdPs send them (Okta: look the user up by userName, then POST; groups POSTed with their
// members inside. Entra: POST the group empty, then PATCH members in batches of 100), with N
// concurrent clients. Prints throughput, latency percentiles and the server's resident memory.
//
//   node benches/scim_sync.mjs --base URL --token TOKEN [--users 10000] [--groups 100]
//        [--max-members 1000] [--concurrency 8] [--pid SERVER_PID] [--lookup yes|no]
//        [--wal FILE] [--every SECONDS] [--prefix user] [--result NAME]
// --wal prints the size of that file (SQLite's WAL) with the RSS every --every seconds (0: never);
// --result prints one machine-readable line `RESULT NAME key=value …` for the wrapper scripts.
// Run through benches/scim_sync.sh, which starts Lanyard on SQLite or PostgreSQL; the same load
// runs against another SCIM server in benches/scim_side_by_side.sh.
import { readFileSync, statSync } from 'node:fs';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const base = args.base;
const token = args.token;
const users = Number(args.users ?? 10000);
const groups = Number(args.groups ?? 100);
const maxMembers = Number(args['max-members'] ?? 1000);
const concurrency = Number(args.concurrency ?? 8);
const pid = args.pid;
// Okta looks each user up by userName before creating it; --lookup no sends the POSTs alone.
const lookup = (args.lookup ?? 'yes') !== 'no';
const wal = args.wal;
const every = Number(args.every ?? 0);
const prefix = args.prefix ?? 'user';
const resultName = args.result;
if (!base || !token) {
  console.error('usage: node benches/scim_sync.mjs --base URL --token TOKEN [...]');
  process.exit(2);
}
const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/scim+json' };

function rss() {
  if (!pid) return null;
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
  } catch {
    return null;
  }
}
// utime + stime of the server in seconds (clock ticks of 1/100 s).
function cpu() {
  if (!pid) return null;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return null;
  }
}
function walMiB() {
  if (!wal) return null;
  try {
    return statSync(wal).size / 1048576;
  } catch {
    return 0;
  }
}
const memory = [];
const walSizes = [];
let done = 0;
const sampler = setInterval(() => {
  const m = rss();
  if (m !== null) memory.push(m);
  const w = walMiB();
  if (w !== null) walSizes.push(w);
}, 250);
const t0 = performance.now();
const reporter =
  every > 0
    ? setInterval(() => {
        const w = walMiB();
        console.log(
          `  ${((performance.now() - t0) / 1000).toFixed(0).padStart(5)} s  users ${String(done).padStart(7)}  RSS ${rss()?.toFixed(0) ?? '?'} MiB${w !== null ? `  WAL ${w.toFixed(1)} MiB` : ''}`,
        );
      }, every * 1000)
    : null;

async function call(method, path, body) {
  const t0 = performance.now();
  const r = await fetch(base + path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const text = await r.text();
  const ms = performance.now() - t0;
  return { status: r.status, ms, json: text ? JSON.parse(text) : null };
}

function pct(list, p) {
  if (!list.length) return NaN;
  const s = [...list].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function pool(n, work) {
  let next = 0;
  const errors = [];
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        try {
          await work(i);
        } catch (e) {
          errors.push(String(e));
        }
      }
    }),
  );
  if (errors.length) throw new Error(`${errors.length} failures, first: ${errors[0]}`);
}

function line(name, lat, n, seconds) {
  if (!lat.length) return;
  const rate = n / seconds;
  console.log(
    `${name.padEnd(34)} n=${String(n).padStart(6)}  ${rate.toFixed(0).padStart(6)}/s  p50 ${pct(lat, 50).toFixed(1).padStart(6)} ms  p99 ${pct(lat, 99).toFixed(1).padStart(6)} ms  max ${Math.max(...lat).toFixed(1)} ms`,
  );
}

const ids = new Array(users);
const lookupLat = [];
const createLat = [];
const memStart = rss();
const cpuStart = cpu();
let t = performance.now();
await pool(users, async (i) => {
  const userName = `${prefix}${i}@acme.test`;
  if (lookup) {
    const q = await call('GET', `/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}&startIndex=1&count=100`);
    if (q.status !== 200 || q.json.totalResults !== 0) throw new Error(`lookup ${q.status}`);
    lookupLat.push(q.ms);
  }
  const c = await call('POST', '/Users', {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
    userName,
    name: { givenName: `First${i}`, familyName: `Last${i}` },
    emails: [{ primary: true, value: userName, type: 'work' }],
    displayName: `First${i} Last${i}`,
    locale: 'en-US',
    externalId: `00u${i}`,
    groups: [],
    active: true,
  });
  if (c.status !== 201) throw new Error(`create ${c.status} ${JSON.stringify(c.json)}`);
  createLat.push(c.ms);
  ids[i] = c.json.id;
  done++;
});
const userSeconds = (performance.now() - t) / 1000;
const memAfterUsers = rss();
const cpuAfterUsers = cpu();

const groupLat = [];
const patchLat = [];
let memberships = 0;
t = performance.now();
await pool(groups, async (g) => {
  // Sizes spread from 1 to maxMembers; members drawn deterministically from all users.
  const size = 1 + Math.floor(((g * 7919) % 1000) / 1000 * maxMembers);
  const members = Array.from({ length: size }, (_, k) => ({ value: ids[(g * 131 + k * 17) % users] }));
  const unique = [...new Map(members.map((m) => [m.value, m])).values()];
  memberships += unique.length;
  if (g % 2 === 0) {
    const c = await call('POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: `Okta group ${g}`, members: unique });
    if (c.status !== 201) throw new Error(`group ${c.status} ${JSON.stringify(c.json)}`);
    groupLat.push(c.ms);
  } else {
    const c = await call('POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: `Entra group ${g}`, externalId: `g${g}` });
    if (c.status !== 201) throw new Error(`group ${c.status}`);
    groupLat.push(c.ms);
    for (let k = 0; k < unique.length; k += 100) {
      const p = await call('PATCH', `/Groups/${c.json.id}`, {
        schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
        Operations: [{ op: 'Add', path: 'members', value: unique.slice(k, k + 100) }],
      });
      if (p.status !== 200 && p.status !== 204) throw new Error(`patch ${p.status} ${JSON.stringify(p.json)}`);
      patchLat.push(p.ms);
    }
  }
});
const groupSeconds = (performance.now() - t) / 1000;
clearInterval(sampler);
if (reporter) clearInterval(reporter);
const memEnd = rss();

console.log(`SCIM initial sync: ${users} users, ${groups} groups (${memberships} memberships), ${concurrency} concurrent clients`);
line('POST /Users (create)', createLat, users, userSeconds);
if (lookup) line('GET /Users?filter=userName eq', lookupLat, users, userSeconds);
console.log(`users created per second (${lookup ? 'lookup + create' : 'create only'} per user): ${(users / userSeconds).toFixed(0)}`);
line('POST /Groups (Okta: members inside)', groupLat, groups, groupSeconds);
line('PATCH /Groups add 100 members', patchLat, patchLat.length, groupSeconds);
if (groups) console.log(`group phase: ${groupSeconds.toFixed(1)} s, ${(memberships / groupSeconds).toFixed(0)} memberships/s`);
if (cpuStart !== null) {
  console.log(
    `server CPU: user phase ${(cpuAfterUsers - cpuStart).toFixed(1)} s over ${userSeconds.toFixed(1)} s wall (${((cpuAfterUsers - cpuStart) / userSeconds * 100).toFixed(0)}% of one core, ${(((cpuAfterUsers - cpuStart) / users) * 1000).toFixed(3)} ms per user), group phase ${(cpu() - cpuAfterUsers).toFixed(1)} s over ${groupSeconds.toFixed(1)} s`,
  );
}
if (memory.length) {
  console.log(
    `server RSS MiB: start ${memStart?.toFixed(0)}, after users ${memAfterUsers?.toFixed(0)}, end ${memEnd?.toFixed(0)}, peak ${Math.max(...memory).toFixed(0)}`,
  );
}
if (walSizes.length) console.log(`WAL file MiB: end ${walMiB().toFixed(1)}, peak ${Math.max(...walSizes).toFixed(1)}`);
if (resultName) {
  const cpuUsers = cpuStart !== null ? cpuAfterUsers - cpuStart : NaN;
  console.log(
    `RESULT ${resultName} users_per_s=${(users / userSeconds).toFixed(0)} create_p50=${pct(createLat, 50).toFixed(1)} create_p99=${pct(createLat, 99).toFixed(1)}` +
      ` lookup_p99=${lookup ? pct(lookupLat, 99).toFixed(1) : 'NaN'} cpu_ms_per_user=${((cpuUsers / users) * 1000).toFixed(3)}` +
      ` patch_p50=${pct(patchLat, 50).toFixed(1)} patch_p99=${pct(patchLat, 99).toFixed(1)} memberships_per_s=${groups ? (memberships / groupSeconds).toFixed(0) : 'NaN'}` +
      ` rss_peak=${memory.length ? Math.max(...memory).toFixed(0) : 'NaN'} wal_peak=${walSizes.length ? Math.max(...walSizes).toFixed(1) : 'NaN'}`,
  );
}
