// Drives Lanyard's WorkOS-compatible API with the official Node SDK, as a vendor's code would,
// configured only with the API host: @workos-inc/node 12.x and the previous major (8.x, through
// the npm alias workos-node-8). Env: WORKOS_HOST, WORKOS_PORT (the recording proxy), WORKOS_KEY
// (a Lanyard API key), DNS_PORT (a loopback DNS server this script runs; Lanyard queries it).
import assert from 'node:assert/strict';
import { WorkOS as WorkOS12 } from '@workos-inc/node';
import dns2 from 'dns2';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { WorkOS: WorkOS8 } = require('workos-node-8');
const host = process.env.WORKOS_HOST;
const port = Number(process.env.WORKOS_PORT);
const key = process.env.WORKOS_KEY;
const run = `${Date.now().toString(36)}`;

// The DNS server Lanyard verifies domains against.
const txt = new Map();
const dns = dns2.createServer({
  udp: true,
  handle: (request, send) => {
    const response = dns2.Packet.createResponseFromRequest(request);
    const [q] = request.questions;
    const values = txt.get(q.name.toLowerCase().replace(/\.$/, ''));
    if (values && q.type === dns2.Packet.TYPE.TXT) {
      for (const data of values) response.answers.push({ name: q.name, type: dns2.Packet.TYPE.TXT, class: dns2.Packet.CLASS.IN, ttl: 60, data });
    } else if (!values) response.header.rcode = 3;
    send(response);
  },
});
await dns.listen({ udp: { port: Number(process.env.DNS_PORT), address: '127.0.0.1' } });

async function rejects(promise, name, check) {
  try {
    await promise;
  } catch (e) {
    assert.equal(e.constructor.name, name, `expected ${name}, got ${e.constructor.name}: ${e.message}`);
    if (check) check(e);
    return e;
  }
  assert.fail(`expected ${name}, the call succeeded`);
}

async function scenario(label, workos, { autoPagination }) {
  const tag = `${label}-${run}`;
  console.log(`--- ${label}`);
  // Organizations with inline domains, an external id and metadata.
  const created = [];
  for (let i = 0; i < 12; i++) {
    created.push(await workos.organizations.createOrganization({ name: `${tag} Org ${i}`, externalId: `${tag}-ext-${i}`, metadata: { tier: i % 2 ? 'gold' : 'silver' } }));
  }
  const withDomains = await workos.organizations.createOrganization({
    name: `${tag} Domains`,
    domainData: [{ domain: `${tag}-a.example`, state: 'verified' }, { domain: `${tag}-b.example`, state: 'pending' }],
  });
  assert.equal(withDomains.domains.length, 2);
  assert.deepEqual(withDomains.domains.map((d) => d.state).sort(), ['pending', 'verified']);
  assert.equal(created[3].externalId, `${tag}-ext-3`);
  assert.equal(created[3].metadata.tier, 'gold');
  assert.ok(created[3].createdAt, 'createdAt is set');

  // Pagination: every page of 5 newest first, through the SDK's own pager.
  const list = await workos.organizations.listOrganizations({ limit: 5 });
  assert.equal(list.data.length, 5);
  assert.ok(list.listMetadata.after, 'a first page of a long list names the next one');
  // The SDK's own pager (which returns only the first page when a limit was given), and a walk
  // by hand through pages of 5.
  const first = await workos.organizations.listOrganizations();
  assert.equal(first.data.length, 10, 'the default page holds 10');
  const all = autoPagination ? await first.autoPagination() : first.data;
  const walked = [...list.data];
  let after = list.listMetadata.after;
  while (after) {
    const next = await workos.organizations.listOrganizations({ limit: 5, after });
    walked.push(...next.data);
    after = next.listMetadata.after;
  }
  assert.deepEqual(walked.map((o) => o.id), all.map((o) => o.id), 'pages of 5 and the pager agree');
  const ids = all.map((o) => o.id);
  for (const o of [...created, withDomains]) assert.ok(ids.includes(o.id), `${o.id} is listed`);
  assert.equal(new Set(ids).size, ids.length, 'no organization is listed twice');
  const sorted = [...ids].sort().reverse();
  assert.deepEqual(ids, sorted, 'newest first');
  const asc = await workos.organizations.listOrganizations({ limit: 3, order: 'asc' });
  assert.deepEqual(asc.data.map((o) => o.id), [...asc.data.map((o) => o.id)].sort());
  const back = await workos.organizations.listOrganizations({ limit: 2, before: list.data[4].id });
  assert.deepEqual(back.data.map((o) => o.id), [list.data[2].id, list.data[3].id]);

  // Filters.
  const byDomain = await workos.organizations.listOrganizations({ domains: [`${tag}-b.example`, 'nobody.example'] });
  assert.deepEqual(byDomain.data.map((o) => o.id), [withDomains.id]);

  // Reads.
  const got = await workos.organizations.getOrganization(created[0].id);
  assert.equal(got.name, `${tag} Org 0`);
  assert.deepEqual(got.domains, []);
  const byExt = await workos.organizations.getOrganizationByExternalId(`${tag}-ext-7`);
  assert.equal(byExt.id, created[7].id);

  // A domain verified by another organization: refused, and nothing of the create is kept.
  await rejects(
    workos.organizations.createOrganization({ name: `${tag} Taken`, domainData: [{ domain: `${tag}-z.example` }, { domain: `${tag}-a.example`, state: 'verified' }] }),
    'ConflictException',
  );
  const taken = await workos.organizations.listOrganizations({ search: `${tag} taken` });
  assert.equal(taken.data.length, 0, 'the refused create left no organization');
  const z = await workos.organizations.listOrganizations({ domains: [`${tag}-z.example`] });
  assert.equal(z.data.length, 0, 'the refused create left no domain');

  // Update: name, and the domain set made equal to domain_data.
  const updated = await workos.organizations.updateOrganization({
    organization: withDomains.id,
    name: `${tag} Renamed`,
    domainData: [{ domain: `${tag}-b.example`, state: 'pending' }, { domain: `${tag}-c.example`, state: 'pending' }],
  });
  assert.equal(updated.name, `${tag} Renamed`);
  assert.deepEqual(updated.domains.map((d) => d.domain).sort(), [`${tag}-b.example`, `${tag}-c.example`]);

  // Errors come back as the SDK's typed exceptions.
  await rejects(workos.organizations.getOrganization('org_01HZZZZZZZZZZZZZZZZZZZZZZZ'), 'NotFoundException');
  await rejects(workos.organizations.createOrganization({ name: '' }), 'UnprocessableEntityException');
  await rejects(workos.organizations.createOrganization({ name: `${tag} Dup`, externalId: `${tag}-ext-1` }), label === 'node-8' ? 'GenericServerException' : 'GenericServerException', (e) => assert.equal(e.status, 400));
  // Organization domains, verified against the DNS server (12.x renamed the methods).
  const od = workos.organizationDomains;
  const domainsApi = od.create
    ? od
    : { create: (p) => od.createOrganizationDomain(p), get: (id) => od.getOrganizationDomain(id), verify: (id) => od.verifyOrganizationDomain(id), delete: (id) => od.deleteOrganizationDomain(id) };
  const dom = await workos.organizations.getOrganization(created[1].id);
  const claim = await domainsApi.create({ organizationId: dom.id, domain: `${tag}-verify.example` });
  assert.equal(claim.state, 'pending');
  assert.equal(claim.verificationStrategy, 'dns');
  let checked = await domainsApi.verify(claim.id);
  assert.notEqual(checked.state, 'verified', 'no record yet');
  txt.set(claim.verificationPrefix.toLowerCase(), [claim.verificationToken]);
  checked = await domainsApi.verify(claim.id);
  assert.equal(checked.state, 'verified');
  const again = await domainsApi.get(claim.id);
  assert.equal(again.state, 'verified');
  await domainsApi.delete(claim.id);
  await rejects(domainsApi.get(claim.id), 'NotFoundException');

  // Connections (none yet in these organizations: Lanyard's own API or portal makes them).
  const conns = await workos.sso.listConnections({ organizationId: created[0].id });
  assert.deepEqual(conns.data, []);
  await rejects(workos.sso.getConnection('conn_01HZZZZZZZZZZZZZZZZZZZZZZZ'), 'NotFoundException');

  // An Admin Portal link that opens: the link page of Lanyard's portal.
  const portal = workos.adminPortal ?? workos.portal; // 12.x renamed it
  const { link } = await portal.generateLink({ organization: created[2].id, intent: 'dsync', returnUrl: 'https://vendor.example/settings' });
  const page = await fetch(link, { redirect: 'manual' });
  assert.equal(page.status, 200, `${link} opens`);
  assert.match(page.headers.get('content-type'), /text\/html/);
  await page.arrayBuffer();
  await rejects(portal.generateLink({ organization: created[2].id, intent: 'bring_your_own_key' }), 'UnprocessableEntityException');
  await rejects(portal.generateLink({ organization: 'org_01HZZZZZZZZZZZZZZZZZZZZZZZ', intent: 'sso' }), 'NotFoundException');

  // Delete.
  await workos.organizations.deleteOrganization(created[11].id);
  await rejects(workos.organizations.getOrganization(created[11].id), 'NotFoundException');

  // Idempotency: the same key twice creates one organization.
  const idem = `idem-${tag}`;
  const a = await workos.organizations.createOrganization({ name: `${tag} Once` }, { idempotencyKey: idem });
  const b = await workos.organizations.createOrganization({ name: `${tag} Once` }, { idempotencyKey: idem });
  assert.equal(a.id, b.id);

  // A WorkOS product Lanyard does not provide: a JSON 404, so a typed exception, not ParseError.
  await rejects(workos.userManagement.getUser('user_01HZZZZZZZZZZZZZZZZZZZZZZZ'), 'NotFoundException', (e) => assert.match(e.message, /Lanyard does not provide/));
  console.log(`${label}: ok`);
}

const opts = { apiHostname: host, port, https: false };
try {
  await scenario('node-12', new WorkOS12(key, opts), { autoPagination: true });
  await scenario('node-8', new WorkOS8(key, opts), { autoPagination: true });
  // A wrong key.
  await rejects(new WorkOS12('lanyard_sk_wrong', opts).organizations.listOrganizations(), 'UnauthorizedException');
  // Every path of WorkOS's document answers JSON (the proxy fails the run otherwise), also where
  // Lanyard provides nothing: a GET of each, ids filled in. /sso/authorize is Lanyard's own
  // browser redirect.
  const { readFileSync } = await import('node:fs');
  const YAML = (await import('yaml')).default;
  const spec = YAML.parse(readFileSync(require.resolve('@workos/openapi-spec/spec'), 'utf8'));
  let swept = 0;
  for (const path of Object.keys(spec.paths)) {
    if (path === '/sso/authorize') continue;
    const url = `http://${host}:${port}${path.replace(/\{[^}]+\}/g, 'x')}`;
    const r = await fetch(url, { headers: { Authorization: `Bearer ${key}` }, redirect: 'manual' });
    assert.ok((r.headers.get('content-type') || '').startsWith('application/json'), `${path}: ${r.status} ${r.headers.get('content-type')}`);
    await r.arrayBuffer();
    swept++;
  }
  console.log(`${swept} WorkOS paths answer JSON`);
  console.log('node SDKs: all scenarios passed');
} finally {
  dns.close();
}
