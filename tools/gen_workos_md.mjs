// Writes docs/workos.md: what the WorkOS-compatible API covers, with a row for every endpoint of
// WorkOS's OpenAPI document (npm @workos/openapi-spec). Edit `supported` and `planned` below as
// endpoints land, then run from the repository root: node tools/gen_workos_md.mjs
import { readFileSync, writeFileSync } from 'node:fs';
import YAML from 'yaml';
const spec = YAML.parse(readFileSync('node_modules/@workos/openapi-spec/open-api-spec.yaml', 'utf8'));
const supported = {
  'GET /organizations': 'newest first by default; `domains` (any state) and `search` (name, case-insensitive) filters',
  'POST /organizations': '`domain_data` (`verified` = vouched for by the vendor, `pending` = proved by DNS) and legacy `domains` are written in the same transaction as the organization; a domain verified by another organization refuses the whole create (409 `domain_claimed`). `allow_profiles_outside_organization: true` → 422',
  'GET /organizations/{id}': 'domains inline',
  'PUT /organizations/{id}': 'partial; `domain_data` makes the claims exactly that set (a claim listed again as `verified` that is not verified yet becomes vendor-verified, unless another organization verified the domain: 409; one listed as `pending` that is verified stays verified); `metadata: null` clears; `stripe_customer_id` → 422 (Lanyard keeps no billing data)',
  'DELETE /organizations/{id}': 'soft delete: the audit trail stays',
  'GET /organizations/external_id/{external_id}': '',
  'POST /organization_domains': 'a pending claim, proved by a DNS TXT record',
  'GET /organization_domains/{id}': 'a lapsed claim (record gone past the grace period) is `unverified`; `verification_prefix` is the TXT record name, `verification_token` its value',
  'DELETE /organization_domains/{id}': '',
  'POST /organization_domains/{id}/verify': 'checks DNS now; answers 201 (as WorkOS documents it) with the state after the check, whatever the outcome',
  'POST /sso/token': 'form (Node) or JSON (Python); the API key as `client_secret` or `Authorization: Bearer`; the one-time code (60 s) for the profile and a 10-minute access token (`lanyard_sat_…`, stored hashed; a code presented a second time revokes the token it gave, RFC 6749 §4.1.2, also when presented without a live key); OAuth-style errors (`invalid_client`, `invalid_grant`, `unsupported_grant_type`); no PKCE public clients',
  'GET /sso/profile': 'the access token only (never an API key); reads nothing once the member is suspended or removed, or the organization deleted',
  'GET /connections': 'every organization\'s, newest first; `organization_id`, `connection_type`, `domain` (verified by the organization) and `search` filters',
  'GET /connections/{id}': '`status` is `linked` when active; `domains` are the organization\'s verified domains',
  'DELETE /connections/{id}': '',
  'GET /directories': 'every organization\'s, newest first; `organization_id`, `domain` (verified by the organization) and `search` (name) filters; `type` from the directory\'s IdP (`okta scim v2.0`, `azure scim v2.0`, …), `state` `linked`, `external_key` the directory id (the key in its SCIM URL), `metadata` counts users and groups',
  'GET /directories/{id}': '`domain` is the organization\'s oldest verified domain',
  'DELETE /directories/{id}': 'Lanyard\'s semantics (204): the SCIM tokens stop at once and the members the directory managed are suspended; its users and groups are no longer listed',
  'GET /directory_users': '`directory` or `group` is required (422 names `directory`), an unknown one is 404; `idp_id` (the SCIM `externalId`, else Lanyard\'s id) and `email` (any case) filters; each user carries its groups as whole `directory_group` objects and, when it has a membership, `role`/`roles` as `{slug}`; `custom_attributes` is a fixed map from the SCIM enterprise extension (`department`, `division`, `cost_center`, `employee_number`, `organization`, `manager_id`) plus `job_title` — WorkOS\'s per-environment attribute mapping has no Lanyard equivalent; `raw_attributes` is the SCIM resource as stored (never a password)',
  'GET /directory_users/{id}': 'with groups',
  'GET /directory_groups': '`directory` or `user` is required; `idp_id` is the SCIM `externalId`, else Lanyard\'s id; `raw_attributes` is the SCIM resource without `members`',
  'GET /directory_groups/{id}': '',
  'GET /events': 'oldest first after the event `after` (an unknown or purged id → 422 naming `after`); `events` (WorkOS names, comma-joined or repeated), `organization_id`, `range_start`/`range_end` (ISO 8601), `limit` 1–100; `before` and `order` are ignored. Each event\'s `data` is the resource as it was when the event was recorded (kept with the event in its transaction: a deleted directory user is still there; `dsync.user.updated` and `dsync.group.updated` carry `previous_attributes`). Lanyard\'s `directory.created`/`deleted` are `dsync.activated`/`dsync.deleted`, `domain.*` are `organization_domain.*`, `dsync.user.deactivated`/`reactivated` are `dsync.user.updated`. `invitation.created`/`resent`/`accepted`/`revoked` carry the invitation as it was (never its link); `membership.created` is `organization_membership.created`; `membership.updated`, `role_changed`, `suspended` and `reactivated` are `organization_membership.updated`; `membership.removed` is `organization_membership.deleted` (status `inactive`): each carries the membership as the change left it (no `previous_attributes`: WorkOS\'s membership events have none); a sign-in through a connection is `authentication.sso_succeeded`/`sso_failed` (`ip_address`/`user_agent` of the browser on success; none on a failure, which Lanyard records from the IdP\'s answer; `session_id` null; an admin\'s test sign-in is not listed). Types WorkOS has no name for (policy, scheduled removals, webhook endpoints, API keys, log streams, …) and what the vendor reported through `POST /audit_logs/events` and events recorded before Lanyard kept snapshots are not listed. `context.lanyard` holds Lanyard\'s type, cursor, actor, audit event and entity',
  'POST /portal/generate_link': 'a Lanyard setup link valid 5 minutes for the steps of `intent` (default `sso`; `certificate_renewal` opens the SSO step); `bring_your_own_key` → 422; `success_url` is not used (the portal returns to `return_url`)',
  'POST /audit_logs/events': 'appended to the organization\'s hash chain in the order received, marked as the vendor\'s: the stored action and actor type carry `vendor:` (so no Lanyard action, count or check ever matches one), the hashed metadata says `source: vendor` and which API key wrote it, and keeps `occurred_at`, `version`, `metadata` and the actor\'s and targets\' metadata as sent; `context.location` is the IP column. Shown on the portal\'s Activity page ("… (reported by the product)") and carried by the organization\'s log streams; never an event of the vendor\'s feed, `/events` or webhooks. One `Idempotency-Key` → one entry. Checks: action 1–100 of `A-Z a-z 0-9 . _ - :`; ids, types, names and location ≤ 256 characters without control, bidi or invisible characters; ≤ 50 targets; metadata as WorkOS (≤ 50 keys of ≤ 40 `A-Z a-z 0-9 _ -`, values string ≤ 500, number or boolean); a 422 names the field (`event.actor.id`); an unknown or deleted organization is 404. WorkOS\'s action schemas are not used (Lanyard takes any action name)',
  'GET /webhook_endpoints': 'the vendor\'s WorkOS-format endpoints (Lanyard\'s standard-format ones and customers\' log streams are not seen here); `secret` is `""` (shown once, on create)',
  'POST /webhook_endpoints': '`endpoint_url` and `events` (WorkOS names) required; a URL already registered is 409 `duplicate_endpoint`; signed with `WorkOS-Signature`; the same endpoint is `format: workos` on `/api/v1`',
  'PATCH /webhook_endpoints/{id}': '`endpoint_url`, `status` (`enabled`/`disabled`: missed events are delivered when enabled again), `events`',
  'DELETE /webhook_endpoints/{id}': '204; pending deliveries are discarded',
  'GET /user_management/invitations': '`organization_id` and `email` (any case) filters; invitations of live organizations',
  'POST /user_management/invitations': '`organization_id` is required (Lanyard invites into an organization); `role_slug`, `expires_in_days` (1–30); `inviter_user_id` must be a member of the organization and bounds the role (as `inviter_membership_id` on `/api/v1`); Lanyard mails the invitation; `token` and `accept_invitation_url` are in this answer and the resend\'s only (stored hashed: `""` elsewhere); `locale` is ignored',
  'GET /user_management/invitations/{id}': '`inviter_user_id`/`accepted_user_id` are the users behind the inviting and accepting memberships',
  'GET /user_management/invitations/by_token/{token}': 'a live link only: a link replaced by a resend, or an unknown one, is 404',
  'POST /user_management/invitations/{id}/revoke': '',
  'POST /user_management/invitations/{id}/resend': 'a new link (the old one stops working) after the resend cool-down; mail caps apply',
  'POST /user_management/invitations/{id}/accept': '422: Lanyard\'s invitees accept in their browser at the link (that is AuthKit\'s call at WorkOS)',
  'GET /user_management/organization_memberships': '`organization_id` or `user_id` is required; `statuses` (`active`, `inactive`; default active); removed memberships are gone; `user` is Lanyard\'s user of that organization (`email_verified` false, no picture, no external id); `role`/`roles` one slug',
  'POST /user_management/organization_memberships': '422: memberships come from sign-ins, invitations and directories (creating one directly is AuthKit\'s)',
  'GET /user_management/organization_memberships/{id}': '',
  'PUT /user_management/organization_memberships/{id}': '`role_slug`, or `role_slugs` with one slug (Lanyard gives one role); a member a directory manages keeps its role (409); the policy\'s checks apply',
  'DELETE /user_management/organization_memberships/{id}': '204; the membership is removed and its sessions end',
  'PUT /user_management/organization_memberships/{id}/deactivate': 'suspended: sessions end at once',
  'PUT /user_management/organization_memberships/{id}/reactivate': 'as on `/api/v1`: an authoritative directory that has not given the person access refuses it',
  'POST /audit_logs/exports': '`range_start`/`range_end` (ISO 8601, required), `actions` (Lanyard\'s actions or the vendor\'s own names), `actor_names` (and the deprecated `actors`), `actor_ids`, `targets` (target types); `ready` at once: `url` is a signed link (HMAC of the export, its expiry and the API key that read it, with the deployment key; revoking that key voids the link) that works 10 minutes without the API key and streams Lanyard\'s CSV of the organization\'s trail (Lanyard\'s columns, the vendor\'s events with their `vendor:` names); creating one is audited (`audit.exported`)',
  'GET /audit_logs/exports/{auditLogExportId}': 'the same export with a fresh 10-minute link',
  'POST /sso/logout/authorize': '`profile_id` is the profile\'s `id`: the newest SSO session of that person still open is the one logged out (404 when none; a person signed in on two devices cannot be told apart by a profile id: the newest is named, and the IdP ends whichever browser follows the link); Lanyard adds an optional `return_to` (allow-listed; without it the first allow-listed redirect URI, as for an IdP-initiated sign-in). `logout_token` is not stored: an HMAC-sealed session, return address, API key and expiry, good for 5 minutes and void once the key is revoked. SAML connections work too (WorkOS: OIDC only)',
  'GET /sso/logout': 'a 302 to the IdP\'s logout (SAML LogoutRequest signed by Lanyard, or the OIDC `end_session_endpoint`), or to the return address when the IdP cannot be asked; the session ends here, once; while the token lasts every use still goes to the IdP (a link scanner or a double click must not leave the person signed in there), at most five trips waiting at a time, then straight to the return address; `HEAD` does nothing (204); a changed, expired or revoked token is a JSON 404',
  'GET /organizations/{id}/audit_logs_retention': 'Lanyard\'s `audit_retention_days`',
  'PUT /organizations/{id}/audit_logs_retention': '`retention_period_in_days` (or `retention_period`, as Node SDK 12 sends it), 1 to 3650 (WorkOS offers 30 or 365); older events are purged with a checkpoint, so the chain still verifies',
};
const planned = ['/connections', '/directories', '/directory_users', '/directory_groups', '/events', '/webhook_endpoints', '/audit_logs/events', '/audit_logs/exports', '/portal/generate_link', '/user_management/invitations'];
// Routes @workos-inc/node 12 calls that the document does not list.
const extra = [
  '| `GET /directories/{id}/users` | supported | Node SDK 12 `listDirectoryUsers`: `group`, `idp_id`, `email` filters; users without `groups` (WorkOS\'s `DirectoryUser`) |',
  '| `GET /directories/{id}/users/{user}` | supported | Node SDK 12 `getDirectoryUser`; a user of another directory is 404 |',
  '| `GET /directories/{id}/groups` | supported | Node SDK 12 `listDirectoryGroups`: `user` filter |',
  '| `GET /directories/{id}/groups/{group}` | supported | Node SDK 12 `getDirectoryGroup`; a group of another directory is 404 |',
];
const rows = [];
for (const [path, ops] of Object.entries(spec.paths)) {
  for (const method of Object.keys(ops)) {
    if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
    const key = `${method.toUpperCase()} ${path}`;
    let status, note;
    if (key === 'GET /sso/authorize') { rows.push("| `GET /sso/authorize` | partial | Lanyard's own sign-in start: `organization`, `connection`, `login_hint` and `domain_hint` (the organization that verified the domain, then the connection that serves it), `state`, `redirect_uri` (allow-listed); `client_id` and `response_type` are accepted; `provider` alone (WorkOS's social sign-in) returns to the vendor with `invalid_request` saying Lanyard does not provide it; PKCE for public clients not yet |"); continue; }
    if (key in supported) { status = 'supported'; note = supported[key]; }
    else if (planned.some((p) => path === p || path.startsWith(p + '/'))) { status = 'planned'; note = 'answers a JSON 404 until it lands'; }
    else { status = 'not provided'; note = 'JSON 404 that names the product'; }
    rows.push(`| \`${key}\` | ${status} | ${note} |`);
  }
}
const md = `# WorkOS-compatible API

With \`LANYARD_WORKOS_COMPAT=true\`, Lanyard serves WorkOS's own paths at the root of its public
URL. A vendor whose code uses the official WorkOS SDKs points them at Lanyard by changing the API
host (Node: \`apiHostname\`, \`port\`, \`https\`; Python: \`WORKOS_BASE_URL\`) and puts a Lanyard
API key (\`lanyard_sk_…\`) where the WorkOS key was.

## What is the same as on \`/api/v1\`
- The same API keys, rate limits, failed-authentication throttling and idempotency
  (\`Idempotency-Key\`, 24 hours; the SDKs add one to every POST).
- The same checks and audit events: a change made here is audited, emitted to the events feed and
  webhooks, exactly as the same change made through \`/api/v1\`.

## What differs from \`/api/v1\`
- **Shapes** are WorkOS's: \`object\` on every resource, timestamps as ISO 8601 strings with
  milliseconds, lists as \`{object: "list", data, list_metadata: {before, after}}\`.
- **Lists**: \`limit\` 1–100 (default 10), \`order\` \`desc\` (default), \`asc\` or \`normal\`,
  \`before\`/\`after\` by object id; array filters comma-joined (\`domains=a.com,b.com\`); a filter that narrows a list to one
  organization, directory, user or group (\`organization_id\`, \`directory\`, \`user\`, \`group\`, …)
  sent empty, in any bracket form (\`organization_id[]\`, \`organization_id[0]\`) or in another case is 422 naming it (so are an empty
  \`domain\`/\`domains\`), never read as "all of them".
- **Errors**: \`{code, message}\`, plus \`errors: [{field, code, message}]\` on 422; never a
  top-level \`error\` key (the Node SDK would raise \`OauthException\`). 404 \`entity_not_found\`,
  401 \`unauthorized\`, 429 \`rate_limit_exceeded\` with \`Retry-After\`, a taken \`external_id\`
  400 \`external_id_already_used\` (as WorkOS answers it; \`/api/v1\` says 409).
- **Bodies**: any content type; an empty body is \`{}\`; unknown fields are ignored (the SDKs send
  fields Lanyard has no use for), where \`/api/v1\` refuses them.
- **Browser guard**: these paths are server-to-server; the cross-site check that protects the
  portal's forms does not apply to them (they authenticate with the API key, never a cookie).
- **Every path under a WorkOS prefix answers JSON**, never the portal's HTML and never a redirect
  (but \`GET /sso/logout\`, a browser redirect by design), also for endpoints Lanyard does not
  provide.
- **Ids** are Lanyard's (\`org_…\`, \`dom_…\`); WorkOS documents ids as opaque.

## Webhooks in WorkOS's format
A webhook endpoint made with \`POST /api/v1/webhook_endpoints {"url": …, "format": "workos"}\`
receives the events \`GET /events\` lists (WorkOS's names and shapes, the same ids), signed as
WorkOS signs them: \`WorkOS-Signature: t=<ms>, v1=<hex HMAC-SHA256 of "t.body", keyed with the
secret's text>\`, so \`webhooks.constructEvent\` (Node) and \`webhooks.verify_event\` (Python)
verify them with the secret shown when the endpoint was made. Its \`events\` filter lists WorkOS
names. Retries, ordering per resource and the delivery log are Lanyard's. One signature only (the
SDKs read one \`v1\`): after a secret rotation the new secret signs at once. WorkOS's own
\`/webhook_endpoints\` routes make and manage the same endpoints (SDK 12's and Python's
\`webhooks.*\`).

## Audit Logs
\`POST /audit_logs/events\` appends what the vendor's product reports to the organization's own
tamper-evident hash chain (\`lanyard audit verify\` checks it with the rest). Such events are
marked everywhere they appear: their action and actor type start with \`vendor:\` in the trail,
its exports and the log streams (Splunk \`sourcetype\` \`lanyard:vendor_audit\`, Datadog tag
\`source:vendor\`), and the portal's Activity page says "(reported by the product)". They never
reach the vendor's own events feed or webhooks.

Log streams carry the organization's whole audit trail in chain order (a stream's position is the
chain's sequence number): Lanyard's events, the admin's portal actions and the vendor's reports.

## How it is tested
\`bash .ci/workos-compat\` starts the real binary (SQLite, then PostgreSQL) and drives it with the
official SDKs, pinned: npm \`@workos-inc/node\` 12.3.0 and 8.13.0, PyPI \`workos\` 10.8.0. Every
answer passes through a proxy that validates it against the matching response schema of WorkOS's
published OpenAPI document (npm \`@workos/openapi-spec\` 0.1.0). Domain verification runs against a
DNS server the test controls. \`tests/api/workos_compat.rs\` covers the error shapes, the guards and
pagination on both databases.

## Every WorkOS endpoint
Generated from \`@workos/openapi-spec\` 0.1.0. *supported*: served as described; *planned*: part of
the compatible API's scope, not served yet (a JSON 404); *not provided*: a WorkOS product Lanyard
does not offer (AuthKit, MFA, FGA, Vault, …): a JSON 404 that says so. \`GET /sso/authorize\` is
Lanyard's own sign-in start, which takes WorkOS's \`organization\`, \`connection\`, \`login_hint\`,
\`domain_hint\`, \`state\` and \`redirect_uri\`. A vendor's \`getAuthorizationUrl\` → sign-in →
\`getProfileAndToken\` → \`getProfile\` runs end to end with both Node SDKs and the Python SDK in
\`tests/api/workos_sdk.rs\` (the certified npm \`oidc-provider\` as the IdP).

| endpoint | status | notes |
|---|---|---|
${[...rows, ...extra].join('\n')}
`;
writeFileSync('docs/workos.md', md);
console.log(rows.length, 'endpoints');
