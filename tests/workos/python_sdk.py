"""Drives Lanyard's WorkOS-compatible API with the official Python SDK (PyPI workos 10.x), configured
only through WORKOS_BASE_URL and WORKOS_API_KEY, as a vendor's code would be. Python's models are
strict: a missing required key raises, so every answer is read in full."""
import sys
import time

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

expect(AuthenticationError, WorkOSClient(api_key="lanyard_sk_wrong").organizations.list_organizations)
print("python SDK: all scenarios passed")
sys.exit(0)
