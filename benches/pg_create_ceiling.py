# Writes a pgbench script that replays what one Lanyard SCIM create asks of PostgreSQL (the
# statements of src/server/service/scim/users.rs `write_created` and the request log, as
# PostgreSQL's statement log showed them on 2026-12-07 for the build of 3492fa6): the policy's
# read with its key-share locks, then one statement writing the organization user, membership,
# grant, directory user, two audit rows, two entity counters and two feed events, the commit,
# then the request-log row. N creates per transaction, each table's rows in one statement; the
# same statement shape for every N, so the figures differ only by how many creates share a
# transaction and its statements. Used by benches/pg_create_ceiling.sh. Keep it in step with
# the create's statements when they change (the sequencer's later pass is not included).
#   python3 benches/pg_create_ceiling.py N > script.sql
import sys
n = int(sys.argv[1])
res = '{"active":true,"displayName":"First1 Last1","emails":[{"primary":true,"type":"work","value":"x@acme.test"}],"externalId":"00u1","locale":"en-US","name":{"familyName":"Last1","givenName":"First1"},"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x@acme.test"}'
snap1 = '{"kind":"directory_user","user":{"id":"diru_x","directory_id":"dir_bench","organization_id":"org_bench","user_name":"x@acme.test","user_name_key":"x@acme.test","external_id":"00u1","email":"x@acme.test","display_name":"First1 Last1","active":true,"resource":"' + res.replace('"', '\\"') + '","user_id":"user_x","version":1,"created_at":1796606264103,"updated_at":1796606264103}}'
data1 = '{"actor":{"id":"dir_bench","name":"Bench","type":"directory"},"audit_event_id":"audit_x","metadata":{"active":true,"email":"x@acme.test","external_id":"00u1","user_name":"x@acme.test"},"targets":[{"id":"diru_x","name":"x@acme.test","type":"directory_user"},{"id":"dir_bench","name":"Bench","type":"directory"}]}'
meta1 = '{"active":true,"email":"x@acme.test","external_id":"00u1","user_name":"x@acme.test"}'
targets1 = '[{"type":"directory_user","id":"diru_x","name":"x@acme.test"},{"type":"directory","id":"dir_bench","name":"Bench"}]'
def q(s): return "'" + s.replace("'", "''").replace(":", ": ") + "'"
out = [f"\\set r{i} random(1, 1000000000000000)" for i in range(n)]
k = "k AS (SELECT r::text AS r, i FROM (VALUES " + ", ".join(f"({i}, :r{i}::bigint)" for i in range(n)) + ") AS v (i, r))"
out.append("BEGIN;")
out.append(f"""WITH {k} SELECT k.i, o.default_role, (SELECT x.organization_id FROM domains x WHERE x.state = 'verified' AND x.deleted_at IS NULL AND (x.domain = 'acme.test') ORDER BY length(x.domain) DESC, x.organization_id LIMIT 1) AS nearest_holder, (SELECT u.id FROM users u JOIN memberships m ON m.user_id = u.id AND m.organization_id = u.organization_id WHERE u.organization_id = 'org_bench' AND u.email = 'e' || k.r ORDER BY u.id LIMIT 1) AS member FROM k CROSS JOIN directories d JOIN organizations o ON o.id = d.organization_id WHERE d.id = 'dir_bench' AND d.organization_id = 'org_bench' AND d.deleted_at IS NULL AND o.deleted_at IS NULL FOR KEY SHARE OF d, o;""")
T = 1796606264103
out.append(
 f"WITH {k}, "
 f"h0 AS (INSERT INTO users (id, organization_id, email, first_name, last_name, created_at, updated_at) SELECT 'user_' || r, 'org_bench', 'e' || r, 'First1', 'Last1', {T}, {T} FROM k), "
 f"h1 AS (INSERT INTO memberships (id, organization_id, user_id, role, state, role_group_id, directory_id, created_at, updated_at) SELECT 'om_' || r, 'org_bench', 'user_' || r, 'member', 'active', NULL, 'dir_bench', {T}, {T} FROM k), "
 f"h2 AS (INSERT INTO directory_users (id, directory_id, organization_id, user_name, user_name_key, external_id, email, display_name, active, resource, user_id, version, created_at, updated_at) SELECT 'diru_' || r, 'dir_bench', 'org_bench', 'e' || r, 'e' || r, '00u' || r, 'e' || r, 'First1 Last1', 1, {q(res)}, 'user_' || r, 1, {T}, {T} FROM k), "
 f"h3 AS (INSERT INTO membership_grants (id, membership_id, organization_id, kind, role, detail, created_at) SELECT 'grant_' || r, 'om_' || r, 'org_bench', 'directory', 'member', '{{}}', {T} FROM k), "
 f"audit AS (INSERT INTO audit_events (id, chain_key, chain_seq, organization_id, action, actor_type, actor_id, actor_name, targets, ip, user_agent, request_id, occurred_at, metadata, prev_hash, hash) SELECT 'audit_' || j || r, 'org_bench', -nextval('audit_events_pending'), 'org_bench', 'dsync.user.created', 'directory', 'dir_bench', 'Bench', {q(targets1)}, '127.0.0.1', NULL, 'req_' || r, {T}, {q(meta1)}, '', '' FROM k CROSS JOIN (VALUES ('a'), ('b')) AS jj (j) ORDER BY i, j), "
 f"seqs AS (INSERT INTO event_entity_seqs (entity_key, seq) SELECT j || r, 1 FROM k CROSS JOIN (VALUES ('directory_user' || chr(58) || 'diru_'), ('membership' || chr(58) || 'om_')) AS jj (j) ON CONFLICT (entity_key) DO UPDATE SET seq = event_entity_seqs.seq + excluded.seq RETURNING entity_key, seq) "
 f"INSERT INTO events (cursor, id, audit_event_id, type, organization_id, entity_type, entity_id, entity_seq, created_at, data, snapshot) "
 f"SELECT -nextval('events_pending'), 'event_' || j || r, 'audit_' || j || r, 'dsync.user.created', 'org_bench', 'directory_user', 'diru_' || r, seqs.seq, {T}, {q(data1)}, {q(snap1)} "
 f"FROM k CROSS JOIN (VALUES ('a', 'directory_user' || chr(58) || 'diru_'), ('b', 'membership' || chr(58) || 'om_')) AS jj (j, p) JOIN seqs ON seqs.entity_key = p || r ORDER BY i, j;")
out.append("COMMIT;")
out.append(f"WITH {k} INSERT INTO scim_requests (id, directory_id, organization_id, method, path, status, scim_type, request_body, response_body, duration_ms, created_at) SELECT 'scimreq_' || r, 'dir_bench', 'org_bench', 'POST', '/scim/v2/dir_bench/Users', 201, NULL, {q(res)}, {q(res)}, 3, {T} FROM k;")
print("\n".join(out))
