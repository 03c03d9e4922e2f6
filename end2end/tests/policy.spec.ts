import { APIRequestContext, Page } from '@playwright/test';
import { test, expect, Vendor } from './fixtures';

// The access policy page: the admin turns on "SSO required" for the organization's domain; the
// simulator then shows that accepting an invitation for an address there goes through SSO, and
// the control points say so in words. The organization has a verified domain and an active OIDC
// connection to the real OpenID Provider .ci/e2e starts; the vendor turned SSO-required off first.
async function orgWithSso(request: APIRequestContext, vendor: Vendor, domain: string) {
  const org = await vendor.createOrg(`Policy ${domain}`);
  await vendor.verifiedDomain(org, domain);
  await vendor.activeOidcConnection(org);
  const off = await request.patch(`/api/v1/organizations/${org}/policy`, { headers: vendor.headers, data: { sso_required_domains: [] } });
  expect(off.status()).toBe(200);
  return vendor.setupLink(org, ['sso', 'invitations']);
}

async function simulateInvitation(page: Page, email: string) {
  await page.getByTestId('sim-email').fill(email);
  await page.getByTestId('sim-path').selectOption('invitation');
  await page.getByTestId('sim-submit').click();
  await expect(page.getByTestId('sim-result')).toContainText(email);
}

type Journey = { page: Page; request: APIRequestContext; vendor: Vendor; redeem: (link: string) => Promise<void> };

async function journey({ page, request, vendor, redeem }: Journey, js: boolean) {
  const domain = `policy-${js ? 'js' : 'nojs'}-${Date.now()}.test`;
  await redeem(await orgWithSso(request, vendor, domain));
  await page.getByTestId('policy-link').click();
  await expect(page.getByRole('heading', { name: 'Access policy' })).toBeVisible();
  const invitationPoint = page.locator('[data-testid="control-point"][data-key="invitation"]');
  await expect(invitationPoint).toContainText('Invitations need only the emailed link');
  await expect(page.locator('[data-testid="control-point"][data-key="jit_provisioning"]')).toContainText(
    `People with an @${domain} address who sign in through Test IdP OIDC are added as Member`,
  );

  // Before: the emailed link is enough.
  await simulateInvitation(page, `dana@${domain}`);
  await expect(page.locator('[data-testid="sim-reason"][data-rule="sso_required"]')).toHaveAttribute('data-outcome', 'info');

  // A bad domain is refused, naming the field; then a preview, then the change.
  await page.getByTestId('sso-required-domains').fill('not-ours.test');
  await page.getByTestId('policy-save').click();
  await expect(page.getByTestId('form-error')).toContainText('not-ours.test is not one of this organization');
  await page.getByTestId('sso-required-domains').fill(domain);
  await page.getByTestId('policy-dry-run').check();
  await page.getByTestId('policy-save').click();
  await expect(page.getByTestId('policy-impact')).toContainText('Preview');
  await expect(invitationPoint).toContainText('Invitations need only the emailed link');
  await page.getByTestId('sso-required-domains').fill(domain);
  await page.getByTestId('policy-dry-run').uncheck();
  await page.getByTestId('policy-save').click();
  await expect(page.getByTestId('policy-saved')).toBeVisible();

  // After: the control point says so in words, and the simulator shows acceptance through SSO.
  await expect(invitationPoint).toContainText(`Invitations to @${domain} addresses go through single sign-on with Test IdP OIDC`);
  await simulateInvitation(page, `dana@${domain}`);
  const sso = page.locator('[data-testid="sim-reason"][data-rule="sso_required"]');
  await expect(sso).toHaveAttribute('data-outcome', 'allow');
  await expect(sso).toContainText('accepting goes through Test IdP');
  await expect(page.getByTestId('sim-result')).toHaveAttribute('data-decision', 'allow');
}

test('an admin requires SSO for the domain; the simulator and the control points say so (JavaScript on)', async ({ page, request, vendor, redeem }) => {
  await journey({ page, request, vendor, redeem }, true);
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });
  test('the same with plain form posts (JavaScript off)', async ({ page, request, vendor, redeem }) => {
    await journey({ page, request, vendor, redeem }, false);
  });
});
