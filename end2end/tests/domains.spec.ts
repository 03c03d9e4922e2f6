import { Page } from '@playwright/test';
import { test, expect, OpenPortal } from './fixtures';
import * as dns2 from 'dns2';

// A real DNS server on loopback that Lanyard queries (.ci/e2e sets LANYARD_DNS_SERVERS to it).
const dnsPort = Number(process.env.E2E_DNS_PORT ?? 5399);
const txt = new Map<string, string[]>();
let server: ReturnType<typeof dns2.createServer>;

test.beforeAll(async () => {
  server = dns2.createServer({
    udp: true,
    handle: (request: any, send: any) => {
      const response = dns2.Packet.createResponseFromRequest(request);
      const [question] = request.questions;
      const values = txt.get(question.name.toLowerCase().replace(/\.$/, ''));
      if (values && question.type === dns2.Packet.TYPE.TXT) {
        for (const data of values) {
          response.answers.push({ name: question.name, type: dns2.Packet.TYPE.TXT, class: dns2.Packet.CLASS.IN, ttl: 60, data });
        }
      } else if (!values) {
        response.header.rcode = 3; // NXDOMAIN
      }
      send(response);
    },
  });
  await server.listen({ udp: { port: dnsPort, address: '127.0.0.1' } });
});

test.afterAll(async () => {
  await server.close();
});

async function verifyJourney(page: Page, openPortal: OpenPortal, domain: string) {
  await openPortal({ name: `Domains ${domain}`, intents: ['domain_verification', 'audit_logs'] });
  await page.getByRole('main').getByRole('link', { name: 'Verify your domains' }).click();
  await expect(page.getByRole('heading', { name: 'Verify your domains' })).toBeVisible();
  await expect(page.getByTestId('domains-empty')).toBeVisible();

  // A consumer domain is refused with a message that says why, and nothing is added.
  await page.getByLabel('Domain', { exact: true }).fill('gmail.com');
  await page.getByRole('button', { name: 'Add domain' }).click();
  await expect(page.getByTestId('form-error')).toContainText('consumer mail provider');
  await expect(page.getByTestId('domain')).toHaveCount(0);

  await page.getByLabel('Domain', { exact: true }).fill(domain);
  await page.getByRole('button', { name: 'Add domain' }).click();
  const card = page.getByTestId('domain');
  await expect(card).toHaveCount(1);
  await expect(card.getByTestId('domain-state')).toHaveText('Pending');
  const recordName = await card.getByTestId('record-name').inputValue();
  const recordValue = await card.getByTestId('record-value').inputValue();
  expect(recordName).toBe(`_lanyard-challenge.${domain}`);
  expect(recordValue).toMatch(/^lanyard-domain-verification=/);

  // Checking before the record exists says what was (not) found.
  await card.getByRole('button', { name: 'Check now' }).click();
  await expect(page.getByTestId('last-check')).toContainText('no TXT record');
  await expect(card.getByTestId('domain-state')).toHaveText('Pending');

  // The admin publishes the record; Check now verifies.
  txt.set(recordName, [recordValue]);
  await page.getByTestId('domain').getByRole('button', { name: 'Check now' }).click();
  await expect(page.getByTestId('domain').getByTestId('domain-state')).toHaveText('Verified');
  await expect(page.getByTestId('last-check')).toContainText('found the expected TXT record');

  await page.getByRole('link', { name: 'Overview' }).click();
  await expect(page.getByText('1 verified, 0 waiting')).toBeVisible();
}

test('with JavaScript: add a domain, publish the record, Check now, Verified', async ({ page, openPortal }) => {
  await verifyJourney(page, openPortal, 'e2e-js.test');
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });
  test('the same with plain form posts', async ({ page, openPortal }) => {
    await verifyJourney(page, openPortal, 'e2e-nojs.test');
  });
});
