// Drives benches/webhooks.sh.
// 1. Drain: makes N events with the endpoint paused, enables it, and measures how fast the backlog
//    reaches the receiver (every delivery verified by standardwebhooks).
// 2. Slow endpoint: adds an endpoint whose receiver never answers, pauses both, makes M more
//    events, enables both, and measures the healthy endpoint's rate while the other one hangs.
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const { base, key, receiver } = args;
const slowReceiver = args['slow-receiver'];
const n = Number(args.events ?? 2000);
const slowN = Number(args['slow-events'] ?? Math.min(n, 5000));
const headers = { Authorization: `Bearer ${key}`, 'content-type': 'application/json' };
const api = async (method, path, body) => {
  const r = await fetch(base + path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return r.json();
};
const control = (rx, body) => fetch(`${rx}/_control`, { method: 'POST', body: JSON.stringify(body) });
const count = async (rx) => (await fetch(`${rx}/_count`)).json();
const rss = async () => {
  try {
    const s = await (await import('node:fs/promises')).readFile(`/proc/${args.pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(s)[1]) / 1024;
  } catch { return NaN; }
};
// Only the events the bench makes (not the endpoints' own created/updated events).
const events = ['organization.created'];
const addEndpoint = async (rx) => {
  const ep = await api('POST', '/api/v1/webhook_endpoints', { url: `${rx}/hook`, events });
  await control(rx, { secret: ep.secret });
  return ep.id;
};
const setEnabled = (id, enabled) => api('PATCH', `/api/v1/webhook_endpoints/${id}`, { enabled });
let made = 0;
const makeEvents = async (count) => {
  const t0 = Date.now();
  let i = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (i < count) {
      i += 1;
      made += 1;
      await api('POST', '/api/v1/organizations', { name: `Org ${made}` });
    }
  }));
  console.log(`made ${count} events in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
};
// Waits until `rx` has `target` distinct events or `limitMs` passes; returns [got, seconds, peak RSS].
const drain = async (rx, target, limitMs) => {
  const t0 = Date.now();
  let got = 0;
  let peak = 0;
  while (got < target && Date.now() - t0 < limitMs) {
    await new Promise((r) => setTimeout(r, 100));
    const c = await count(rx);
    if (c.unverified) throw new Error(`${c.unverified} deliveries failed verification`);
    got = c.unique;
    peak = Math.max(peak, await rss());
  }
  return [got, (Date.now() - t0) / 1000, peak];
};

const healthy = await addEndpoint(receiver);
await setEnabled(healthy, false);
await makeEvents(n);
await setEnabled(healthy, true);
{
  const [got, secs, peak] = await drain(receiver, n, 600_000);
  console.log(
    `drain: delivered ${got} of ${n} events in ${secs.toFixed(1)} s: ${(got / secs).toFixed(0)} events/s (all signatures verified); server RSS peak ${peak.toFixed(0)} MiB` +
      (got < n ? ' — stopped after 600 s' : ''),
  );
}

if (slowReceiver && slowN > 0) {
  const slow = await addEndpoint(slowReceiver);
  await control(slowReceiver, { mode: 'hang' });
  await setEnabled(healthy, false);
  await setEnabled(slow, false);
  await makeEvents(slowN);
  await setEnabled(slow, true);
  await setEnabled(healthy, true);
  const limit = 120_000;
  const [got, secs] = await drain(receiver, n + slowN, limit);
  const done = got - n;
  const hanging = (await count(slowReceiver)).hanging;
  console.log(
    `slow endpoint: the healthy endpoint got ${done} of ${slowN} events in ${secs.toFixed(1)} s: ${(done / secs).toFixed(0)} events/s` +
      ` while the other endpoint's receiver held ${hanging} requests unanswered (10 s timeout)${done < slowN ? ` — stopped after ${limit / 1000} s` : ''}`,
  );
}
