import { spawn, ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { test, expect, env, Vendor } from './fixtures';
import { APIRequestContext, Page } from '@playwright/test';

// The vendor's product is a small Node app using npm openid-client (tests/support/oidc_rp_app.mjs)
// configured with nothing but Lanyard's issuer URL, a client id and a secret. A person clicks
// "Sign in with SSO", enters their work email on Lanyard's discovery page (a personal address is
// refused first), signs in at their company's IdP (npm oidc-provider) and lands back in the app
// signed in, with their organization and role from the ID token.

type Rp = { url: string; proc: ChildProcess };

async function startRp(baseURL: string): Promise<Rp> {
  const proc = spawn('node', [path.join(__dirname, '../../tests/support/oidc_rp_app.mjs')], {
    env: { ...process.env, ISSUER: baseURL, RP_PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = readline.createInterface({ input: proc.stdout! });
  const port = await new Promise<string>((resolve, reject) => {
    lines.on('line', (l) => l.startsWith('READY ') && resolve(l.slice(6)));
    proc.on('exit', (code) => reject(new Error(`the relying party exited (${code})`)));
  });
  return { url: `http://127.0.0.1:${port}`, proc };
}

async function journey(page: Page, request: APIRequestContext, vendor: Vendor, baseURL: string, domain: string) {
  expect(env.opUrl, 'E2E_OP_URL is set by .ci/e2e').toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  const orgId = await vendor.createOrg(`OP ${domain}`);
  await vendor.verifiedDomain(orgId, domain);
  await vendor.activeOidcConnection(orgId);

  const rp = await startRp(baseURL);
  try {
    const created = await request.post('/api/v1/oauth_clients', {
      headers: vendor.headers,
      data: { name: 'Acme Analytics', redirect_uris: [`${rp.url}/callback`] },
    });
    expect(created.status()).toBe(201);
    const { client_id, client_secret } = await created.json();
    expect(client_secret).toBeTruthy();
    expect((await request.post(`${rp.url}/_configure`, { data: { client_id, client_secret } })).status()).toBe(204);

    await request.post(`${env.opUrl}/_test/account`, {
      data: { sub: `op-${domain}`, email: `dana@${domain}`, given_name: 'Dana', family_name: 'Lee', groups: ['Engineering'] },
    });

    await page.goto(rp.url);
    await page.getByRole('link', { name: 'Sign in with SSO' }).click();

    // Lanyard's home-realm discovery page.
    await expect(page).toHaveURL(new RegExp(`^${baseURL}/oauth2/authorize\\?`));
    await expect(page.getByRole('heading', { name: 'Sign in to Acme Analytics' })).toBeVisible();
    const email = page.getByLabel('Work email');
    await expect(email).toBeFocused();

    // A personal address is refused with a message that says what to do; nothing is lost.
    await email.fill('dana@gmail.com');
    await page.getByRole('button', { name: 'Continue' }).click();
    const error = page.getByRole('alert');
    await expect(error).toContainText('gmail.com is a personal email provider');
    await expect(error).toContainText('Enter the email address your company gave you');
    await expect(page.getByLabel('Work email')).toHaveValue('dana@gmail.com');
    await expect(page.getByLabel('Work email')).toHaveAttribute('aria-invalid', 'true');

    // An address of a domain nobody verified.
    await page.getByLabel('Work email').fill('dana@nobody-has-sso.test');
    await page.getByRole('button', { name: 'Continue' }).click();
    await expect(page.getByRole('alert')).toContainText('No organization has set up single sign-on for nobody-has-sso.test');

    // The work address: on to the IdP, which signs Dana in, and back to the app.
    await page.getByLabel('Work email').fill(`dana@${domain}`);
    await page.getByRole('button', { name: 'Continue' }).click();
    await expect(page).toHaveURL(`${rp.url}/`);
    await expect(page.getByTestId('signed-in')).toBeVisible();
    await expect(page.getByTestId('email')).toHaveText(`dana@${domain}`);
    await expect(page.getByTestId('org-id')).toHaveText(orgId);
    await expect(page.getByTestId('org-name')).toHaveText(`OP ${domain}`);
    await expect(page.getByTestId('role')).toHaveText('member');
    await expect(page.getByTestId('email-verified')).toHaveText('true');
    await expect(page.getByTestId('userinfo-sub')).toHaveText((await page.getByTestId('sub').textContent())!);
  } finally {
    rp.proc.kill();
  }
}

test('with JavaScript: an app using openid-client signs a person in through the discovery page', async ({ page, request, baseURL, vendor }) => {
  await journey(page, request, vendor, baseURL!, 'op-js.test');
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });
  test('the same with plain forms', async ({ page, request, baseURL, vendor }) => {
    await journey(page, request, vendor, baseURL!, 'op-nojs.test');
  });
});
