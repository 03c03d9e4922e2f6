// Drives Lanyard's WorkOS-compatible API with the official Node SDK, as a vendor's code would,
// configured only with the API host: @workos-inc/node 12.x and the previous major (8.x, through
// the npm alias workos-node-8). Env: WORKOS_HOST, WORKOS_PORT (the recording proxy), WORKOS_KEY
// (a Lanyard API key), DNS_PORT (a loopback DNS server this script runs; Lanyard queries it),
// LANYARD_URL (Lanyard itself: its own API makes directories, and an IdP's SCIM client pushes).
import assert from 'node:assert/strict';
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { WorkOS as WorkOS12 } from '@workos-inc/node';
import dns2 from 'dns2';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { WorkOS: WorkOS8 } = require('workos-node-8');
const host = process.env.WORKOS_HOST;
const port = Number(process.env.WORKOS_PORT);
const key = process.env.WORKOS_KEY;
const run = `${Date.now().toString(36)}`;
const lanyardUrl = process.env.LANYARD_URL;

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

/// A request to Lanyard itself (not through the proxy): its own API, or SCIM with a directory token.
async function lanyard(method, path, body, token = key) {
  const scim = path.startsWith('/scim/');
  const r = await fetch(lanyardUrl + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'content-type': scim ? 'application/scim+json' : 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  assert.ok(r.ok, `${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

const SCIM_USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const SCIM_ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

/// Directory Sync as a vendor reads it: users and groups an IdP pushed over SCIM, read back
/// through the SDK, each user with its groups; the 12.x directory-scoped calls when present.
async function directorySync(label, workos, v12) {
  const tag = `${label}-dsync-${run}`;
  const org = await workos.organizations.createOrganization({ name: `${tag} Org` });
  const dir = await lanyard('POST', `/api/v1/organizations/${org.id}/directories`, { type: 'okta', name: `${tag} Okta` });
  const push = (method, path, body) => lanyard(method, `/scim/v2/${dir.id}${path}`, body, dir.bearer_token);
  const users = [];
  for (let i = 0; i < 12; i++) {
    users.push(await push('POST', '/Users', {
      schemas: [SCIM_USER, SCIM_ENTERPRISE],
      userName: `u${i}@${tag}.example`, externalId: `00u${i}`, active: true,
      name: { givenName: `Given${i}`, familyName: `Family${i}` },
      emails: [{ value: `u${i}@${tag}.example`, primary: true, type: 'work' }],
      [SCIM_ENTERPRISE]: { department: i % 2 ? 'Sales' : 'R&D' },
    }));
  }
  await push('PATCH', `/Users/${users[11].id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', value: { active: false } }] });
  const group = (name, members) => push('POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: name, externalId: `g-${name}`, members: members.map((u) => ({ value: u.id })) });
  const eng = await group('Engineering', users.slice(0, 7));
  const leads = await group('Leads', [users[0], users[1]]);
  // A group renamed, a member removed, a group and a user deleted: each is an event.
  const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
  const temp = await group('Temp', [users[2]]);
  await push('PATCH', `/Groups/${temp.id}`, { schemas: [PATCH], Operations: [{ op: 'replace', value: { displayName: 'Temporary' } }] });
  await push('PATCH', `/Groups/${temp.id}`, { schemas: [PATCH], Operations: [{ op: 'remove', path: `members[value eq "${users[2].id}"]` }] });
  await push('DELETE', `/Groups/${temp.id}`);
  const leaver = await push('POST', '/Users', { schemas: [SCIM_USER], userName: `leaver@${tag}.example`, active: true });
  await push('DELETE', `/Users/${leaver.id}`);

  const dirs = await workos.directorySync.listDirectories({ organizationId: org.id });
  assert.equal(dirs.data.length, 1);
  const d = dirs.data[0];
  assert.equal(d.id, dir.id);
  assert.equal(d.type, 'okta scim v2.0');
  assert.equal(d.organizationId, org.id);
  const got = v12 ? await workos.directorySync.getDirectory({ id: dir.id }) : await workos.directorySync.getDirectory(dir.id);
  assert.equal(got.name, `${tag} Okta`);

  // Every user, through the SDK's pager over pages of 5, each with its groups.
  const first = await workos.directorySync.listUsers({ directory: dir.id, limit: 5 });
  assert.equal(first.data.length, 5);
  const all = [...first.data];
  let after = first.listMetadata.after;
  while (after) {
    const next = await workos.directorySync.listUsers({ directory: dir.id, limit: 5, after });
    all.push(...next.data);
    after = next.listMetadata.after;
  }
  assert.deepEqual(all.map((u) => u.id).sort(), users.map((u) => u.id).sort(), 'every pushed user is read back');
  const u0 = all.find((u) => u.id === users[0].id);
  assert.equal(u0.idpId, '00u0');
  assert.equal(u0.firstName, 'Given0');
  assert.equal(u0.email, `u0@${tag}.example`);
  assert.equal(u0.customAttributes.department, 'R&D');
  assert.deepEqual(u0.groups.map((g) => g.name), ['Engineering', 'Leads']);
  assert.ok(!Number.isNaN(new Date(u0.groups[0].createdAt).getTime()), "a group carries its dates (8.x keeps the string, 12.x a Date)");
  assert.equal(all.find((u) => u.id === users[11].id).state, 'inactive');
  const ofLeads = await workos.directorySync.listUsers({ group: leads.id });
  assert.deepEqual(ofLeads.data.map((u) => u.id).sort(), [users[0].id, users[1].id].sort());
  const user = v12 ? await workos.directorySync.getUser({ id: users[3].id }) : await workos.directorySync.getUser(users[3].id);
  assert.deepEqual(user.groups.map((g) => g.id), [eng.id]);

  const groups = await workos.directorySync.listGroups({ directory: dir.id });
  assert.deepEqual(groups.data.map((g) => g.name).sort(), ['Engineering', 'Leads']);
  assert.equal(groups.data.find((g) => g.id === eng.id).idpId, 'g-Engineering');
  const ofUser = await workos.directorySync.listGroups({ user: users[1].id });
  assert.equal(ofUser.data.length, 2);
  const g = v12 ? await workos.directorySync.getGroup({ id: leads.id }) : await workos.directorySync.getGroup(leads.id);
  assert.equal(g.name, 'Leads');

  if (v12) {
    const scoped = await workos.directorySync.listDirectoryUsers({ directoryId: dir.id, group: eng.id });
    assert.equal(scoped.data.length, 7);
    const su = await workos.directorySync.getDirectoryUser({ directoryId: dir.id, userId: users[2].id });
    assert.equal(su.lastName, 'Family2');
    const sg = await workos.directorySync.listDirectoryGroups({ directoryId: dir.id, user: users[0].id });
    assert.equal(sg.data.length, 2);
    const one = await workos.directorySync.getDirectoryGroup({ directoryId: dir.id, groupId: eng.id });
    assert.equal(one.name, 'Engineering');
  }
  await rejects(workos.directorySync.listUsers({}), 'UnprocessableEntityException');
  await rejects(v12 ? workos.directorySync.getUser({ id: 'diru_01HZZZZZZZZZZZZZZZZZZZZZZZ' }) : workos.directorySync.getUser('diru_01HZZZZZZZZZZZZZZZZZZZZZZZ'), 'NotFoundException');

  // Deleting the directory: nothing of it is read after.
  if (v12) await workos.directorySync.deleteDirectory({ id: dir.id });
  else await workos.directorySync.deleteDirectory(dir.id);
  await rejects(v12 ? workos.directorySync.getDirectory({ id: dir.id }) : workos.directorySync.getDirectory(dir.id), 'NotFoundException');
  const gone = await workos.directorySync.listDirectories({ organizationId: org.id });
  assert.equal(gone.data.length, 0);
  console.log(`${label}: directory sync ok (${all.length} users, ${groups.data.length} groups)`);
}

/// Every event so far, through the SDK (which deserializes each known name with the resource's
/// own deserializer, so a wrong shape throws), page by page.
async function eventsScenario(label, workos) {
  const all = [];
  let after;
  for (;;) {
    const page = await workos.events.listEvents({ events: WOS_EVENTS, limit: 25, ...(after ? { after } : {}) });
    if (page.data.length === 0) break;
    all.push(...page.data);
    after = page.data[page.data.length - 1].id;
  }
  const seen = new Set(all.map((e) => e.event));
  for (const name of ['organization.created', 'organization.updated', 'organization.deleted', 'organization_domain.created', 'organization_domain.verified', 'organization_domain.deleted', 'dsync.activated', 'dsync.deleted', 'dsync.user.created', 'dsync.user.updated', 'dsync.group.created', 'dsync.group.updated', 'dsync.group.deleted', 'dsync.group.user_added', 'dsync.group.user_removed', 'dsync.user.deleted', 'organization_membership.created']) {
    assert.ok(seen.has(name), `${label}: ${name} among ${[...seen].join(', ')}`);
  }
  const updated = all.find((e) => e.event === 'dsync.user.updated');
  assert.equal(updated.data.state, 'inactive');
  assert.equal(updated.data.previousAttributes.state, 'active');
  const added = all.find((e) => e.event === 'dsync.group.user_added');
  assert.ok(added.data.user.id.startsWith('diru_') && added.data.group.id.startsWith('dirg_'));
  const org = all.find((e) => e.event === 'organization.created');
  assert.ok(Array.isArray(org.data.domains));
  const ids = all.map((e) => e.id);
  assert.equal(new Set(ids).size, ids.length, 'no event twice');
  console.log(`${label}: ${all.length} events of ${seen.size} types deserialized`);
  return all;
}

/// A receiver of WorkOS-format webhooks: every delivery, its body exactly as sent.
async function webhookReceiver() {
  const deliveries = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      deliveries.push({ sig: req.headers['workos-signature'], body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  // Registered through SDK 12's webhooks API, as a vendor moving from WorkOS does.
  const endpoint = await new WorkOS12(key, opts).webhooks.createWebhookEndpoint({ endpointUrl: `http://127.0.0.1:${server.address().port}/workos-hook`, events: WOS_EVENTS });
  assert.equal(endpoint.status, 'enabled');
  assert.ok(endpoint.secret.length >= 32, 'the secret is shown on create');
  const mirrored = await lanyard('GET', `/api/v1/webhook_endpoints/${endpoint.id}`);
  assert.equal(mirrored.format, 'workos');
  return { server, deliveries, secret: endpoint.secret };
}

/// Each delivery verified and deserialized by each SDK's own `constructEvent` (12.x with the raw
/// body, 8.x with the parsed object, as an Express app hands it over); the same events as listed.
async function verifyWebhooks(hook, listed) {
  const deadline = Date.now() + 60_000;
  while (hook.deliveries.length < listed.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  assert.equal(hook.deliveries.length, listed.length, 'every listed event was delivered');
  const w12 = new WorkOS12(key, opts);
  const w8 = new WorkOS8(key, opts);
  const names = [];
  for (const d of hook.deliveries) {
    assert.match(d.sig, /^t=\d+, v1=[0-9a-f]{64}$/);
    const e12 = await w12.webhooks.constructEvent({ payload: d.body, sigHeader: d.sig, secret: hook.secret });
    const e8 = await w8.webhooks.constructEvent({ payload: JSON.parse(d.body), sigHeader: d.sig, secret: hook.secret });
    assert.equal(e12.id, e8.id);
    names.push(e12.event);
  }
  assert.deepEqual([...new Set(names)].sort(), [...new Set(listed.map((e) => e.event))].sort());
  const d = hook.deliveries[0];
  await rejects(w12.webhooks.constructEvent({ payload: d.body.replace('"event"', '"event" '), sigHeader: d.sig, secret: hook.secret }), 'SignatureVerificationException');
  await rejects(w12.webhooks.constructEvent({ payload: d.body, sigHeader: d.sig, secret: 'whsec_wrong' }), 'SignatureVerificationException');
  if (process.env.WEBHOOK_FILE) writeFileSync(process.env.WEBHOOK_FILE, JSON.stringify({ secret: hook.secret, deliveries: hook.deliveries }));
  console.log(`webhooks: ${hook.deliveries.length} WorkOS-format deliveries verified by Node 12 and Node 8`);
}
const WOS_EVENTS = ['organization.created', 'organization.updated', 'organization.deleted', 'organization_domain.created', 'organization_domain.verified', 'organization_domain.verification_failed', 'organization_domain.updated', 'organization_domain.deleted', 'connection.activated', 'connection.deactivated', 'connection.deleted', 'dsync.activated', 'dsync.deleted', 'dsync.user.created', 'dsync.user.updated', 'dsync.user.deleted', 'dsync.group.created', 'dsync.group.updated', 'dsync.group.deleted', 'dsync.group.user_added', 'dsync.group.user_removed', 'organization_membership.created', 'organization_membership.updated', 'organization_membership.deleted'];

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

/// Audit Logs as a vendor writes them: createEvent twice with one idempotency key is one entry
/// of the organization's trail, marked as the vendor's; a bad event names its field; an
/// unknown organization is NotFound.
async function auditLogs(label, workos) {
  const org = await workos.organizations.createOrganization({ name: `${label} Audit ${Date.now()}` });
  const event = (action) => ({
    action,
    occurredAt: new Date('2026-12-01T09:30:00.000Z'),
    version: 1,
    actor: { id: 'user_42', type: 'user', name: 'Jane Doe', metadata: { role: 'owner' } },
    targets: [{ id: 'doc_7', type: 'document', name: 'Q4 plan' }],
    context: { location: '203.0.113.9', userAgent: 'Mozilla/5.0' },
    metadata: { mfa: true },
  });
  const idempotencyKey = `audit-${label}-${Date.now()}`;
  await workos.auditLogs.createEvent(org.id, event('document.shared'), { idempotencyKey });
  await workos.auditLogs.createEvent(org.id, event('document.shared'), { idempotencyKey });
  await workos.auditLogs.createEvent(org.id, event('document.deleted'));
  await rejects(workos.auditLogs.createEvent(org.id, { ...event('x'), actor: { type: 'user' } }), 'UnprocessableEntityException');
  await rejects(workos.auditLogs.createEvent('org_01HZZZZZZZZZZZZZZZZZZZZZZZ', event('x')), 'NotFoundException');
  const trail = await lanyard('GET', `/api/v1/audit_events?organization_id=${org.id}&limit=100`);
  const vendor = trail.data.filter((e) => e.action.startsWith('vendor:'));
  assert.deepEqual(vendor.map((e) => e.action).sort(), ['vendor:document.deleted', 'vendor:document.shared'], JSON.stringify(trail.data));
  for (const e of vendor) {
    assert.equal(e.metadata.source, 'vendor');
    assert.equal(e.metadata.occurred_at, '2026-12-01T09:30:00.000Z');
    assert.equal(e.actor.id, 'user_42');
    assert.equal(e.context.user_agent, 'Mozilla/5.0');
  }
  // An export of the range, ready at once; its link needs no API key.
  const exp = await workos.auditLogs.createExport({ organizationId: org.id, rangeStart: new Date(Date.now() - 3600_000), rangeEnd: new Date(Date.now() + 3600_000), actions: ['document.shared'] });
  assert.equal(exp.state, 'ready');
  const csv = await (await fetch(exp.url)).text();
  assert.equal(csv.trim().split('\n').length, 2, csv);
  assert.match(csv, /vendor:document\.shared/);
  assert.equal((await workos.auditLogs.getExport(exp.id)).id, exp.id);
  if (workos.auditLogs.updateOrganizationAuditLogsRetention) {
    const kept = await workos.auditLogs.updateOrganizationAuditLogsRetention({ id: org.id, retentionPeriod: 30 });
    assert.equal(kept.retentionPeriodInDays, 30);
    assert.equal((await workos.auditLogs.getOrganizationAuditLogsRetention({ id: org.id })).retentionPeriodInDays, 30);
  }
  console.log(`${label}: audit log events and exports ok`);
}

/// SDK 12's webhook endpoint API: list (auto-paginated), update, conflicts and delete. Lanyard's
/// standard-format endpoints are not part of it.
async function webhookEndpoints(workos) {
  const w = workos.webhooks;
  const standard = await lanyard('POST', '/api/v1/webhook_endpoints', { url: 'https://vendor.example/standard-hook' });
  const made = [];
  for (let i = 0; i < 3; i++) made.push(await w.createWebhookEndpoint({ endpointUrl: `https://vendor.example/hook-${Date.now()}-${i}`, events: ['dsync.user.created'] }));
  const listed = await (await w.listWebhookEndpoints()).autoPagination();
  const ids = listed.map((e) => e.id);
  // Page by page, newest first.
  const first = await w.listWebhookEndpoints({ limit: 2 });
  assert.deepEqual(first.data.map((e) => e.id), [made[2].id, made[1].id]);
  const second = await w.listWebhookEndpoints({ limit: 2, after: first.listMetadata.after });
  assert.equal(second.data[0].id, made[0].id);
  for (const m of made) assert.ok(ids.includes(m.id), `${m.id} is listed`);
  assert.ok(!ids.includes(standard.id), 'a standard-format endpoint is not a WorkOS endpoint');
  assert.ok(listed.every((e) => e.secret === ''), 'secrets are shown on create only');
  const updated = await w.updateWebhookEndpoint({ id: made[0].id, status: 'disabled', events: ['dsync.user.created', 'dsync.user.deleted'] });
  assert.equal(updated.status, 'disabled');
  assert.deepEqual(updated.events, ['dsync.user.created', 'dsync.user.deleted']);
  await rejects(w.createWebhookEndpoint({ endpointUrl: made[1].endpointUrl, events: ['dsync.user.created'] }), 'ConflictException');
  await rejects(w.updateWebhookEndpoint({ id: made[1].id, endpointUrl: made[2].endpointUrl }), 'ConflictException');
  await rejects(w.createWebhookEndpoint({ endpointUrl: 'https://vendor.example/no-events', events: [] }), 'UnprocessableEntityException');
  await rejects(w.updateWebhookEndpoint({ id: standard.id, status: 'disabled' }), 'NotFoundException');
  for (const m of made) await w.deleteWebhookEndpoint({ id: m.id });
  await rejects(w.deleteWebhookEndpoint({ id: made[0].id }), 'NotFoundException');
  await lanyard('DELETE', `/api/v1/webhook_endpoints/${standard.id}`);
  console.log('node-12: webhook endpoints ok');
}

/// Invitations and organization memberships as a vendor calls them (12.x and 8.x share the
/// names). Memberships come from a directory's members pushed over SCIM.
async function userManagement(label, workos) {
  const um = workos.userManagement;
  const org = await workos.organizations.createOrganization({ name: `${label} UM ${Date.now()}` });
  const email = `${label}-${Date.now()}@um.example`;
  const inv = await um.sendInvitation({ email, organizationId: org.id, roleSlug: 'member', expiresInDays: 3 });
  assert.equal(inv.state, 'pending');
  assert.ok(inv.token && inv.acceptInvitationUrl.endsWith(inv.token), JSON.stringify(inv));
  assert.equal((await um.getInvitation(inv.id)).email, email);
  assert.equal((await um.findInvitationByToken(inv.token)).id, inv.id);
  const listed = await um.listInvitations({ organizationId: org.id });
  assert.deepEqual(listed.data.map((i) => i.id), [inv.id]);
  await rejects(um.acceptInvitation(inv.id), 'UnprocessableEntityException');
  const revoked = await um.revokeInvitation(inv.id);
  assert.equal(revoked.state, 'revoked');
  await rejects(um.sendInvitation({ email: `x-${email}` }), 'UnprocessableEntityException');
  // Its events, deserialized by the SDK's own event code: the invitation as it was then.
  const evs = (await workos.events.listEvents({ events: ['invitation.created', 'invitation.revoked'], organizationId: org.id })).data;
  assert.deepEqual(evs.map((e) => e.event), ['invitation.created', 'invitation.revoked'], JSON.stringify(evs));
  assert.deepEqual(evs.map((e) => e.data.state), ['pending', 'revoked']);
  assert.ok(evs.every((e) => e.data.id === inv.id && !('token' in e.data)), JSON.stringify(evs));

  const dir = await lanyard('POST', `/api/v1/organizations/${org.id}/directories`, { type: 'okta', name: `${label} UM dir` });
  for (let i = 0; i < 3; i++) {
    await lanyard('POST', `/scim/v2/${dir.id}/Users`, { schemas: [SCIM_USER], userName: `m${i}-${email}`, active: true, name: { givenName: `M${i}`, familyName: 'Um' }, emails: [{ value: `m${i}-${email}`, primary: true }] }, dir.bearer_token);
  }
  const members = await (await um.listOrganizationMemberships({ organizationId: org.id })).autoPagination();
  assert.equal(members.length, 3, JSON.stringify(members));
  for (const m of members) {
    assert.equal(m.status, 'active');
    assert.equal(m.organizationId, org.id);
    assert.equal(m.directoryManaged, true);
  }
  const one = await um.getOrganizationMembership(members[0].id);
  assert.equal(one.userId, members[0].userId);
  const byUser = await um.listOrganizationMemberships({ userId: members[0].userId });
  assert.deepEqual(byUser.data.map((m) => m.id), [members[0].id]);
  await rejects(um.updateOrganizationMembership(members[0].id, { roleSlug: 'admin' }), 'ConflictException');
  await rejects(um.getOrganizationMembership('om_01HZZZZZZZZZZZZZZZZZZZZZZZ'), 'NotFoundException');
  console.log(`${label}: invitations and memberships ok`);
}

const opts = { apiHostname: host, port, https: false };
const hook = await webhookReceiver();
try {
  await scenario('node-12', new WorkOS12(key, opts), { autoPagination: true });
  await scenario('node-8', new WorkOS8(key, opts), { autoPagination: true });
  await directorySync('node-12', new WorkOS12(key, opts), true);
  await directorySync('node-8', new WorkOS8(key, opts), false);
  const listed = await eventsScenario('node-12', new WorkOS12(key, opts));
  await eventsScenario('node-8', new WorkOS8(key, opts));
  await verifyWebhooks(hook, listed);
  await auditLogs('node-12', new WorkOS12(key, opts));
  await webhookEndpoints(new WorkOS12(key, opts));
  await userManagement('node-12', new WorkOS12(key, opts));
  await userManagement('node-8', new WorkOS8(key, opts));
  await auditLogs('node-8', new WorkOS8(key, opts));
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
  hook.server.close();
}
