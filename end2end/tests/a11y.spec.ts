import { test, expect, env } from './fixtures';

// The accessibility check itself (fixtures.ts, AxeWatch) must catch a violation, or every
// journey's "no violations" would mean nothing: a page of Lanyard's origin with an unlabeled field
// makes the journey fail. `test.fail()` turns that expected failure into a pass, and a check that
// let the page through into a failure.
for (const js of [true, false]) {
  test.describe(js ? 'JavaScript on' : 'JavaScript off', () => {
    test.use({ javaScriptEnabled: js });
    test('the accessibility check fails a journey on an unlabeled field', async ({ page }) => {
      test.fail();
      await page.route(`${env.baseURL}/a11y-selfcheck`, (r) =>
        r.fulfill({
          contentType: 'text/html; charset=utf-8',
          body: '<!DOCTYPE html><html lang="en"><head><title>Self-check</title></head><body><main><h1>Form</h1><input type="text" name="x"></main></body></html>',
        }),
      );
      await page.goto('/a11y-selfcheck');
    });
  });
}

// Pages no other journey opens, so that every portal page is checked: log streams, the guided
// setup's chooser, each setup step of a draft, the public home page and the not-found page.
test('a tour of the portal pages no other journey opens', async ({ page, openPortal }) => {
  await openPortal({ name: `Tour ${Date.now()}`, intents: ['sso', 'domain_verification', 'dsync', 'invitations', 'audit_logs', 'log_streams'] });
  await expect(page).toHaveTitle(/^Overview · Tour /);
  for (const [section, title] of [
    ['Log streams', /^Log streams · /],
    ['Access policy', /^Access policy · /],
    ['Activity', /^Activity · /],
    ['Members and invitations', /^Members · /],
  ] as const) {
    await page.getByRole('navigation', { name: 'Setup sections' }).getByRole('link', { name: section }).click();
    await expect(page).toHaveTitle(title);
    await expect(page.getByRole('navigation', { name: 'Setup sections' }).getByRole('link', { name: section })).toHaveAttribute('aria-current', 'page');
  }
  await page.goto('/portal/sso/setup');
  await page.getByTestId('idp-entra').check();
  await page.getByTestId('protocol-oidc').check();
  await page.getByTestId('start-setup').click();
  await expect(page.getByTestId('setup-step-1')).toBeVisible();
  for (const n of [2, 3, 4]) {
    await page.goto(`${page.url().replace(/\?step=\d$/, '')}?step=${n}`);
    await expect(page.getByTestId(`setup-step-${n}`)).toBeVisible();
  }
  // ADFS offers only SAML: choosing OpenID Connect says so, in an announced message.
  await page.goto('/portal/sso/setup');
  await page.getByTestId('idp-adfs').check();
  await page.getByTestId('protocol-oidc').check();
  await page.getByTestId('start-setup').click();
  await expect(page.getByRole('alert')).toContainText('ADFS connects over SAML');
  await page.goto('/');
  await page.goto('/no-such-page');
  await expect(page.getByRole('heading', { name: 'Page not found' })).toBeVisible();
});
