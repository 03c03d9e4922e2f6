import { APIRequestContext, Browser } from '@playwright/test';
import { test, expect, env, Journey } from './fixtures';

// Members and invitations: the admin invites someone in the browser, the mail arrives at a real
// SMTP server on loopback (tests/support/smtp_sink.mjs, started by .ci/e2e), the invitee opens
// the emailed link, accepts, lands in the vendor's product with a code, and shows on the Members
// page as "invited by" the admin.
const smtpHttp = env.smtpHttp;

async function mailTo(request: APIRequestContext, to: string): Promise<{ subject: string; text: string; html: string }> {
  for (let i = 0; i < 60; i++) {
    const all = await (await request.get(`${smtpHttp}/messages`)).json();
    const m = all.find((x: { to: string[] }) => JSON.stringify(x.to).includes(to));
    if (m) return m;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`no mail to ${to} arrived at the SMTP server`);
}

async function journey({ browser, page, request, vendor, openPortal }: Journey & { browser: Browser }, js: boolean, who: string) {
  const admin = `admin-${who}@acme.test`;
  await openPortal({ name: `Members ${who}`, intents: ['invitations', 'audit_logs'], link: { admin_email: admin } });
  await page.getByRole('main').getByRole('link', { name: 'Members and invitations' }).click();
  await expect(page.getByRole('heading', { name: 'Members', exact: true })).toBeVisible();
  await expect(page.getByTestId('members-empty')).toBeVisible();
  await expect(page.getByTestId('invitations-empty')).toBeVisible();

  // A bad address is refused with the field named; nothing is lost.
  const invitee = `new-${who}@example.com`;
  await page.getByTestId('invite-email').fill(invitee);
  await page.getByTestId('invite-days').fill('45');
  await page.getByTestId('invite-submit').click();
  await expect(page.getByTestId('form-error')).toContainText('1 to 30');
  await page.getByTestId('invite-email').fill(invitee);
  await page.getByTestId('invite-days').fill('7');
  await page.getByTestId('invite-role').selectOption('member');
  await page.getByTestId('invite-submit').click();
  const row = page.getByTestId('invitation').filter({ hasText: invitee });
  await expect(row.getByTestId('invitation-state')).toHaveText('pending');

  // The mail arrives through SMTP with the link.
  const mail = await mailTo(request, invitee);
  expect(mail.subject).toContain(`Members ${who}`);
  const link = mail.text.match(/http:\/\/\S+\/invite\/lanyard_invite_[A-Za-z0-9_-]+/)?.[0];
  expect(link, mail.text).toBeTruthy();
  expect(mail.html).toContain(link!);

  // The invitee, in their own browser, opens it: the page shows who invited them; the button accepts.
  const ctx = await browser.newContext({ javaScriptEnabled: js });
  const p2 = await ctx.newPage();
  await p2.goto(link!);
  await expect(p2.getByTestId('inviter')).toHaveText(admin);
  await expect(p2.getByTestId('org')).toHaveText(`Members ${who}`);
  await expect(p2.getByTestId('role')).toHaveText('Member');
  await p2.getByTestId('accept').click();
  await expect(p2).toHaveURL(/\/e2e\/vendor-callback\?code=/);
  const code = new URL(p2.url()).searchParams.get('code');
  const token = await vendor.exchange(code);
  expect(token.status()).toBe(200);
  expect((await token.json()).profile.email).toBe(invitee);
  // The link is single use.
  await p2.goto(link!);
  await expect(p2.getByRole('heading', { name: 'This invitation link no longer works' })).toBeVisible();
  await ctx.close();

  // The admin sees the new member with "invited by" provenance, and why they have access.
  await page.reload();
  const member = page.getByTestId('member-row').filter({ hasText: invitee });
  await expect(member.getByTestId('member-source')).toHaveText(`invited by ${admin}`);
  await expect(member.getByTestId('member-state')).toHaveText('active');
  await expect(page.getByTestId('invitation').filter({ hasText: invitee }).getByTestId('invitation-state')).toHaveText('accepted');
  await member.getByRole('link', { name: invitee }).click();
  await expect(page.getByTestId('member-email')).toHaveText(invitee);
  await expect(page.getByTestId('grant').first()).toContainText(`invited by ${admin}`);
  await expect(page.getByTestId('role-source')).toContainText(`invited by ${admin}`);

  // The admin suspends them: the state changes and the history says who did it.
  await page.getByTestId('suspend').click();
  await expect(page.getByTestId('member-state')).toHaveText('suspended');
  await expect(page.getByTestId('grant').last()).toContainText(`suspended by ${admin}`);
}

test('admin invites, the mail arrives, the invitee accepts and shows as invited (JavaScript on)', async ({ browser, page, request, vendor, openPortal }) => {
  await journey({ browser, page, request, vendor, openPortal }, true, 'js');
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });
  test('admin invites, the mail arrives, the invitee accepts and shows as invited (JavaScript off)', async ({ browser, page, request, vendor, openPortal }) => {
    await journey({ browser, page, request, vendor, openPortal }, false, 'nojs');
  });
});
