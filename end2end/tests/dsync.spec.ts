import { APIRequestContext, Page } from '@playwright/test';
import { test, expect, OpenPortal } from './fixtures';

// Directory sync: the admin creates a SCIM directory in the portal and copies its URL and token;
// the test then plays the IdP (Okta-shaped requests) and the page shows what arrived.
const scimJson = 'application/scim+json';

async function journey(page: Page, request: APIRequestContext, openPortal: OpenPortal, who: string, js: boolean) {
  await openPortal({ name: `Dsync ${who}`, intents: ['dsync', 'audit_logs'] });
  await page.getByRole('main').getByRole('link', { name: 'Directory sync' }).click();
  await expect(page.getByRole('heading', { name: 'Directory sync' })).toBeVisible();
  await expect(page.getByTestId('directories-empty')).toBeVisible();

  // An empty name is refused by the form; a named Okta directory is created.
  await page.getByLabel('Identity provider').selectOption('okta');
  await page.getByLabel('Name', { exact: true }).fill('Okta production');
  await page.getByRole('button', { name: 'Create directory' }).click();
  const card = page.getByTestId('directory');
  await expect(card).toHaveCount(1);
  await expect(card.getByText('Set up Okta')).toBeVisible();
  const base = await card.getByTestId('scim-base-url').inputValue();
  const token = await card.getByTestId('scim-token').inputValue();
  expect(base).toMatch(/\/scim\/v2\/dir_[0-9A-Z]{26}$/);
  expect(token).toMatch(/^lanyard_scim_/);
  await expect(card.getByTestId('health')).toContainText('No request from your identity provider yet');
  await expect(card.getByTestId('first-sync')).toHaveAttribute('data-waiting', 'true');
  await expect(card.getByTestId('first-sync-text')).toContainText('Waiting for the first request from Okta');

  // The IdP pushes a user and a group with the user inside, and sends one bad filter.
  const auth = { Authorization: `Bearer ${token}`, 'Content-Type': scimJson };
  const email = `${who}@acme.test`;
  const user = await request.post(`${base}/Users`, {
    headers: auth,
    data: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: email, name: { givenName: 'Dana', familyName: 'Lee' }, emails: [{ primary: true, value: email, type: 'work' }], active: true },
  });
  expect(user.status()).toBe(201);
  const userId = (await user.json()).id;
  const group = await request.post(`${base}/Groups`, {
    headers: auth,
    data: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Engineering', members: [{ value: userId }] },
  });
  expect(group.status()).toBe(201);
  expect((await request.get(`${base}/Users?filter=nonsense`, { headers: auth })).status()).toBe(400);

  if (js) {
    // The page was left open: it turns from waiting to the first person by itself, and the
    // token shown once is still there to copy.
    await expect(card.getByTestId('first-sync')).toHaveAttribute('data-waiting', 'false', { timeout: 10_000 });
    await expect(card.getByTestId('first-sync-text')).toHaveText(`The first person arrived: ${email}.`);
    await expect(card.getByTestId('scim-token')).toHaveValue(token);
  }
  await page.reload();
  await expect(page.getByTestId('first-sync-text')).toHaveText(`The first person arrived: ${email}.`);
  const row = page.getByTestId('user-row').filter({ hasText: email });
  await expect(row.getByTestId('user-access')).toHaveText('member');
  await expect(page.getByTestId('scim-token')).toHaveCount(0);
  await expect(page.getByTestId('token-hints')).toContainText(token.slice(-4));
  await expect(page.getByTestId('health')).toContainText('3 requests in the last 24 hours, 1 failed');
  // Today's bar of the 14-day chart: two answered, one failed.
  await expect(page.getByTestId('scim-chart')).toHaveAttribute('data-ok', '2');
  await expect(page.getByTestId('scim-chart')).toHaveAttribute('data-bad', '1');

  // Map Engineering to admin: the preview lists the change and saves nothing; Save applies it.
  const eng = page.getByTestId('group').filter({ hasText: 'Engineering' });
  await eng.getByTestId('group-role').selectOption('admin');
  await eng.getByTestId('group-priority').fill('10');
  await eng.getByTestId('preview').click();
  await expect(page.getByTestId('preview-change')).toHaveText(`${email}: member → admin (from group Engineering)`);
  await expect(page.getByTestId('user-row').filter({ hasText: email }).getByTestId('user-access')).toHaveText('member');
  const eng2 = page.getByTestId('group').filter({ hasText: 'Engineering' });
  await eng2.getByTestId('group-role').selectOption('admin');
  await eng2.getByTestId('save-mapping').click();
  await expect(page.getByTestId('user-row').filter({ hasText: email }).getByTestId('user-access')).toHaveText('admin');

  // The IdP deactivates the user (Okta's path-less replace): access is suspended at once.
  const off = await request.patch(`${base}/Users/${userId}`, {
    headers: auth,
    data: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', value: { active: false } }] },
  });
  expect(off.status()).toBe(200);
  await page.reload();
  await expect(page.getByTestId('user-row').filter({ hasText: email }).getByTestId('user-access')).toHaveText('suspended');

  // The log shows only failures when asked, with the SCIM error type.
  await page.getByTestId('errors-only').click();
  await expect(page.getByTestId('log-line')).toHaveCount(1);
  await expect(page.getByTestId('log-line')).toContainText('invalidFilter');

  // A long exchange: the list shows the start of its bodies and links to a page with them whole.
  const tail = `END-OF-A-LONG-BODY-${who}`;
  const long = await request.post(`${base}/Users`, {
    headers: auth,
    data: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: `long-${email}`, title: 'x'.repeat(500), userType: tail, emails: [{ primary: true, value: `long-${email}`, type: 'work' }], active: true },
  });
  expect(long.status()).toBe(201);
  await page.goto('/portal/directories');
  const line = page.getByTestId('log-line').first();
  await expect(line).toContainText('POST');
  await line.locator('summary').click();
  await expect(line.getByTestId('whole-exchange')).toBeVisible();
  await expect(line).not.toContainText(tail);
  await line.getByTestId('whole-exchange').click();
  await expect(page).toHaveTitle(/^POST \/scim\/v2\/dir_[0-9A-Z]{26}\/Users · /);
  await expect(page.getByTestId('exchange-bodies')).toContainText(tail);
  await page.getByRole('link', { name: '← Directory sync (Okta production)' }).click();
  await expect(page.getByRole('heading', { name: 'Directory sync' })).toBeVisible();
}

test('with JavaScript: create a directory, the IdP pushes, map a group, deactivate', async ({ page, request, openPortal }) => {
  await journey(page, request, openPortal, 'dana-js', true);
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });
  test('the same with plain form posts', async ({ page, request, openPortal }) => {
    await journey(page, request, openPortal, 'dana-nojs', false);
  });
});
