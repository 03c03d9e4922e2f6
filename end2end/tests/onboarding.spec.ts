import { Page } from '@playwright/test';
import { test, expect, Vendor } from './fixtures';

async function vendorCreatesOrgAndLink(vendor: Vendor, name: string) {
  const orgId = await vendor.createOrg(name);
  const url = await vendor.setupLink(orgId, ['domain_verification', 'sso', 'audit_logs']);
  return { orgId, url };
}

// Script errors, CSP violations and failed sub-resources; the 401/410 document loads are expected.
function watchForErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('response', (r) => {
    if (r.status() >= 400 && r.request().resourceType() !== 'document') errors.push(`${r.status()} ${r.url()}`);
  });
  return errors;
}

async function adminJourney(page: Page, vendor: Vendor, name: string, js: boolean) {
  const { url } = await vendorCreatesOrgAndLink(vendor, name);

  // Opening the link shows a page and consumes nothing: opening it twice still works.
  await page.goto(url);
  await page.goto(url);
  await expect(page.getByRole('heading', { name: `Set up ${name}` })).toBeVisible();
  await page.getByTestId('redeem').click();

  await expect(page).toHaveURL(/\/portal$/);
  if (js) await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.getByTestId('org-name')).toHaveText(name);
  await expect(page.getByTestId('step')).toHaveCount(3);
  await expect(page.getByRole('heading', { name: 'Verify your domains' })).toBeVisible();

  await page.getByRole('main').getByRole('link', { name: 'Activity' }).click();
  await expect(page).toHaveURL(/\/portal\/activity$/);
  await expect(page.getByRole('heading', { name: 'Activity' })).toBeVisible();
  await expect(page.getByTestId('activity-item').filter({ hasText: 'Setup link opened' })).toHaveCount(1);
  await expect(page.getByTestId('activity-item').filter({ hasText: 'Organization created' })).toHaveCount(1);

  await page.getByPlaceholder('Filter by action or person').fill('redeemed');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/q=redeemed/);
  await expect(page.getByTestId('activity-item')).toHaveCount(1);

  // The link was used: it now answers 410 with what to do.
  const again = await page.goto(url);
  expect(again?.status()).toBe(410);
  await expect(page.getByText('already been used')).toBeVisible();
  await expect(page.getByText('Ask your contact')).toBeVisible();

  // Signing out ends the session.
  await page.goto('/portal');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByTestId('signed-out')).toBeVisible();
  const after = await page.goto('/portal');
  expect(after?.status()).toBe(401);
}

test.describe('with JavaScript', () => {
  test('vendor creates an org and link; admin redeems it and sees overview and activity', async ({ page, vendor }) => {
    const errors = watchForErrors(page);
    await adminJourney(page, vendor, 'Acme Hydrated', true);
    expect(errors).toEqual([]);
  });
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });
  test('the same journey works with plain forms and links', async ({ page, vendor }) => {
    await adminJourney(page, vendor, 'Acme Static', false);
    await expect(page.locator('body')).not.toHaveAttribute('data-hydrated', 'true');
  });
});
