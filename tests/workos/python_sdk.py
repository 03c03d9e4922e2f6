"""Drives Lanyard's WorkOS-compatible API with the official Python SDK (PyPI workos 10.x), configured
only through WORKOS_BASE_URL and WORKOS_API_KEY, as a vendor's code would be. Python's models are
strict: a missing required key raises, so every answer is read in full."""
import json
import os
import sys
import time
import urllib.request

from workos import WorkOSClient
from workos._errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    UnprocessableEntityError,
)
from workos.organizations.models.organization_domain_data import OrganizationDomainData

tag = f"py-{int(time.time() * 1000):x}"
client = WorkOSClient()


def expect(exc, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except exc as e:
        return e
    except Exception as e:  # noqa: BLE001
        raise AssertionError(f"expected {exc.__name__}, got {type(e).__name__}: {e}") from e
    raise AssertionError(f"expected {exc.__name__}, the call succeeded")


orgs = client.organizations
created = [orgs.create_organization(name=f"{tag} Org {i}", external_id=f"{tag}-ext-{i}", metadata={"i": str(i)}) for i in range(7)]
with_domains = orgs.create_organization(
    name=f"{tag} Domains",
    domain_data=[OrganizationDomainData(domain=f"{tag}-a.example", state="verified")],
)
assert [d.domain for d in with_domains.domains] == [f"{tag}-a.example"], with_domains.domains
assert with_domains.domains[0].state == "verified"

page = orgs.list_organizations(limit=3)
assert len(page.data) == 3 and page.list_metadata.after, page.list_metadata
seen = [o.id for o in page.auto_paging_iter()]
for o in created + [with_domains]:
    assert o.id in seen, o.id
assert seen == sorted(seen, reverse=True), "newest first"
assert len(seen) == len(set(seen))

assert orgs.get_organization(created[2].id).name == f"{tag} Org 2"
assert orgs.get_organization_by_external_id(f"{tag}-ext-5").id == created[5].id
found = orgs.list_organizations(domains=[f"{tag}-a.example"])
assert [o.id for o in found.data] == [with_domains.id]

updated = orgs.update_organization(created[0].id, name=f"{tag} Renamed", metadata={"plan": "gold"})
assert updated.name == f"{tag} Renamed" and updated.metadata == {"plan": "gold"}

expect(NotFoundError, orgs.get_organization, "org_01HZZZZZZZZZZZZZZZZZZZZZZZ")
expect(UnprocessableEntityError, orgs.create_organization, name="")
expect(BadRequestError, orgs.create_organization, name=f"{tag} Dup", external_id=f"{tag}-ext-1")
expect(
    ConflictError,
    orgs.create_organization,
    name=f"{tag} Taken",
    domain_data=[OrganizationDomainData(domain=f"{tag}-a.example", state="verified")],
)

domains = client.organization_domains
claim = domains.create_organization_domain(domain=f"{tag}-b.example", organization_id=created[1].id)
assert claim.state == "pending" and claim.verification_token, claim
again = domains.get_organization_domain(claim.id)
assert again.id == claim.id
checked = domains.verify_organization_domain(claim.id)
assert checked.state != "verified"
domains.delete_organization_domain(claim.id)
expect(NotFoundError, domains.get_organization_domain, claim.id)

assert list(client.sso.list_connections(organization_id=created[0].id).data) == []
expect(NotFoundError, client.sso.get_connection, "conn_01HZZZZZZZZZZZZZZZZZZZZZZZ")

link = client.admin_portal.generate_link(organization=created[3].id, intent="sso").link
assert "/portal/link/" in link, link

orgs.delete_organization(created[6].id)
expect(NotFoundError, orgs.get_organization, created[6].id)

# Directory Sync: users and groups pushed over SCIM (as an IdP does, straight to Lanyard), read
# back through the SDK. The directory itself is made with Lanyard's own API.
lanyard = os.environ["LANYARD_URL"]
key = os.environ["WORKOS_API_KEY"]


def call(method, path, body=None, token=key):
    scim = path.startswith("/scim/")
    req = urllib.request.Request(
        lanyard + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/scim+json" if scim else "application/json",
        },
    )
    with urllib.request.urlopen(req) as r:
        text = r.read()
        return json.loads(text) if text else None


dsync = client.directory_sync
d_org = orgs.create_organization(name=f"{tag} Dsync")
d = call("POST", f"/api/v1/organizations/{d_org.id}/directories", {"type": "entra", "name": f"{tag} Entra"})
pushed = []
for i in range(7):
    pushed.append(call("POST", f"/scim/v2/{d['id']}/Users", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"p{i}@{tag}.example", "externalId": f"aad-{i}", "active": i != 6,
        "name": {"givenName": f"G{i}", "familyName": f"F{i}"},
        "emails": [{"value": f"p{i}@{tag}.example", "primary": True}],
    }, d["bearer_token"]))
grp = call("POST", f"/scim/v2/{d['id']}/Groups", {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Admins",
    "members": [{"value": pushed[0]["id"]}, {"value": pushed[1]["id"]}],
}, d["bearer_token"])
listed = dsync.list_directories(organization_id=d_org.id).data
assert [x.id for x in listed] == [d["id"]] and listed[0].type == "azure scim v2.0", listed
assert dsync.get_directory(d["id"]).metadata.users.inactive == 1
read = list(dsync.list_users(directory=d["id"], limit=3).auto_paging_iter())
assert sorted(u.id for u in read) == sorted(u["id"] for u in pushed), read
u0 = next(u for u in read if u.id == pushed[0]["id"])
assert u0.idp_id == "aad-0" and u0.first_name == "G0" and [g.name for g in u0.groups] == ["Admins"], u0
assert next(u for u in read if u.id == pushed[6]["id"]).state == "inactive"
assert sorted(u.id for u in dsync.list_users(group=grp["id"]).data) == sorted([pushed[0]["id"], pushed[1]["id"]])
assert dsync.get_user(pushed[1]["id"]).groups[0].id == grp["id"]
assert [g.id for g in dsync.list_groups(directory=d["id"]).data] == [grp["id"]]
assert [g.id for g in dsync.list_groups(user=pushed[0]["id"]).data] == [grp["id"]]
assert dsync.get_group(grp["id"]).name == "Admins"
expect(UnprocessableEntityError, dsync.list_users)
expect(NotFoundError, dsync.get_group, "dirg_01HZZZZZZZZZZZZZZZZZZZZZZZ")
dsync.delete_directory(d["id"])
expect(NotFoundError, dsync.get_directory, d["id"])
print(f"python SDK: directory sync ok ({len(read)} users)")

# Every event so far through the SDK, which builds a typed object for each known name (a missing
# required key raises), page by page.
WOS_EVENTS = [
    "organization.created", "organization.updated", "organization.deleted",
    "organization_domain.created", "organization_domain.verified", "organization_domain.verification_failed",
    "organization_domain.updated", "organization_domain.deleted", "connection.activated",
    "connection.deactivated", "connection.deleted", "dsync.activated", "dsync.deleted",
    "dsync.user.created", "dsync.user.updated", "dsync.user.deleted", "dsync.group.created",
    "dsync.group.updated", "dsync.group.deleted", "dsync.group.user_added", "dsync.group.user_removed",
    "organization_membership.created", "organization_membership.updated", "organization_membership.deleted",
]
events = []
after = None
while True:
    page = client.events.list_events(events=WOS_EVENTS, limit=50, after=after) if after else client.events.list_events(events=WOS_EVENTS, limit=50)
    if not page.data:
        break
    events.extend(page.data)
    after = page.data[-1].id
seen = {e.event for e in events}
for name in ["organization.created", "organization.updated", "organization.deleted", "organization_domain.created",
             "organization_domain.verified", "organization_domain.deleted", "dsync.activated", "dsync.deleted",
             "dsync.user.created", "dsync.group.created", "dsync.group.user_added",
             "organization_membership.created"]:
    assert name in seen, (name, seen)
assert len({e.id for e in events}) == len(events)
print(f"python SDK: {len(events)} events of {len(seen)} types deserialized")

# The WorkOS-format webhook deliveries the Node run received, verified by the SDK's verify_event.
# They were signed minutes ago, during the Node run: past the SDK's default 180 s window, so the
# window is widened to 15 minutes (the Node SDKs checked them with the default window on arrival).
if os.environ.get("WEBHOOK_FILE"):
    with open(os.environ["WEBHOOK_FILE"]) as f:
        hook = json.load(f)
    for d in hook["deliveries"]:
        ev = client.webhooks.verify_event(event_body=d["body"].encode(), event_signature=d["sig"], secret=hook["secret"], tolerance=900)
        assert ev.id == json.loads(d["body"])["id"]
    try:
        client.webhooks.verify_event(event_body=hook["deliveries"][0]["body"] + " ", event_signature=hook["deliveries"][0]["sig"], secret=hook["secret"], tolerance=900)
        raise AssertionError("a changed body verified")
    except ValueError:
        pass
    print(f"python SDK: {len(hook['deliveries'])} WorkOS-format deliveries verified")

# Audit Logs: create_event twice with one idempotency key is one entry of the organization's
# trail, marked as the vendor's; SDK answers are typed; a bad event or organization is refused.
from datetime import datetime, timezone  # noqa: E402

from workos.audit_logs.models import AuditLogEvent, AuditLogEventActor, AuditLogEventContext, AuditLogEventTarget  # noqa: E402

a_org = orgs.create_organization(name=f"{tag} Audit")


def audit_event(action, actor_id="user_42"):
    return AuditLogEvent(
        action=action,
        occurred_at=datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc),
        actor=AuditLogEventActor(id=actor_id, type="user", name="Jane Doe", metadata={"role": "owner"}),
        targets=[AuditLogEventTarget(id="doc_7", type="document", name="Q4 plan")],
        context=AuditLogEventContext(location="203.0.113.9", user_agent="python"),
        metadata={"mfa": True},
        version=1,
    )


for _ in range(2):
    r = client.audit_logs.create_event(organization_id=a_org.id, event=audit_event("document.shared"), idempotency_key=f"{tag}-audit")
    assert r.success is True, r
client.audit_logs.create_event(organization_id=a_org.id, event=audit_event("document.deleted"))
expect(UnprocessableEntityError, client.audit_logs.create_event, organization_id=a_org.id, event=audit_event("bad action"))
expect(NotFoundError, client.audit_logs.create_event, organization_id="org_01HZZZZZZZZZZZZZZZZZZZZZZZ", event=audit_event("x"))
trail = call("GET", f"/api/v1/audit_events?organization_id={a_org.id}&limit=100")["data"]
vendor = sorted(e["action"] for e in trail if e["action"].startswith("vendor:"))
assert vendor == ["vendor:document.deleted", "vendor:document.shared"], trail
assert all(e["metadata"]["source"] == "vendor" and e["metadata"]["occurred_at"] == "2026-12-01T09:30:00.000Z" for e in trail if e["action"].startswith("vendor:"))
exp = client.audit_logs.create_export(organization_id=a_org.id, range_start=datetime.now(timezone.utc).replace(year=2020), range_end=datetime.now(timezone.utc).replace(year=2100), actions=["document.deleted"])
assert exp.state == "ready" and exp.url, exp
with urllib.request.urlopen(exp.url) as r:
    rows = r.read().decode().strip().splitlines()
assert len(rows) == 2 and "vendor:document.deleted" in rows[1], rows
assert client.audit_logs.get_export(exp.id).id == exp.id
print("python SDK: audit log events and exports ok")

# Webhook endpoints: create (secret shown once), list, update, conflict, delete.
hooks = client.webhooks
made = [hooks.create_webhook_endpoint(endpoint_url=f"https://vendor.example/{tag}-{i}", events=["dsync.user.created"]) for i in range(2)]
assert all(m.secret and m.status == "enabled" for m in made), made
listed = [e.id for e in hooks.list_webhook_endpoints(limit=100).data]
assert all(m.id in listed for m in made), listed
changed = hooks.update_webhook_endpoint(made[0].id, status="disabled", events=["dsync.user.deleted"])
assert changed.status == "disabled" and changed.events == ["dsync.user.deleted"] and changed.secret == "", changed
expect(ConflictError, hooks.create_webhook_endpoint, endpoint_url=made[1].endpoint_url, events=["dsync.user.created"])
for m in made:
    hooks.delete_webhook_endpoint(m.id)
expect(NotFoundError, hooks.delete_webhook_endpoint, made[0].id)
print("python SDK: webhook endpoints ok")

# Invitations and organization memberships.
um = client.user_management
u_org = orgs.create_organization(name=f"{tag} UM")
inv = um.send_invitation(email=f"{tag}@um.example", organization_id=u_org.id, role_slug="member")
assert inv.state == "pending" and inv.token and inv.accept_invitation_url.endswith(inv.token), inv
assert um.get_invitation(inv.id).email == f"{tag}@um.example"
assert um.find_invitation_by_token(inv.token).id == inv.id
assert [i.id for i in um.list_invitations(organization_id=u_org.id).data] == [inv.id]
assert um.revoke_invitation(inv.id).state == "revoked"
expect(UnprocessableEntityError, um.accept_invitation, inv.id)
inv_events = client.events.list_events(events=["invitation.created", "invitation.revoked"], organization_id=u_org.id).data
assert [e.event for e in inv_events] == ["invitation.created", "invitation.revoked"], inv_events
assert [e.data.state for e in inv_events] == ["pending", "revoked"], inv_events
u_dir = call("POST", f"/api/v1/organizations/{u_org.id}/directories", {"type": "okta", "name": f"{tag} UM dir"})
for i in range(2):
    call("POST", f"/scim/v2/{u_dir['id']}/Users", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": f"m{i}-{tag}@um.example", "active": True,
        "emails": [{"value": f"m{i}-{tag}@um.example", "primary": True}],
    }, u_dir["bearer_token"])
oms = client.organization_membership
members = oms.list_organization_memberships(organization_id=u_org.id).data
assert len(members) == 2 and all(m.status == "active" and m.directory_managed for m in members), members
assert oms.get_organization_membership(members[0].id).user.email == members[0].user.email
assert [m.id for m in oms.list_organization_memberships(user_id=members[0].user_id, statuses=["active", "inactive"]).data] == [members[0].id]
expect(NotFoundError, oms.get_organization_membership, "om_01HZZZZZZZZZZZZZZZZZZZZZZZ")
print("python SDK: invitations and memberships ok")

expect(AuthenticationError, WorkOSClient(api_key="lanyard_sk_wrong").organizations.list_organizations)
print("python SDK: all scenarios passed")
sys.exit(0)
