// An SMTP server that keeps what it receives (npm smtp-server, parsed with mailparser), for
// Lanyard's mail tests.
// Usage: node tests/support/smtp_sink.mjs  → prints "READY <smtp_port> <http_port>" once listening.
// Env: SMTP_PORT (0, the default, picks a free port); SMTP_TLS=1 offers STARTTLS (smtp-server's
// built-in self-signed certificate), otherwise STARTTLS is disabled; SMTP_FAIL_FIRST=N answers
// the first N messages with "451 4.3.0" (a temporary failure), for retry tests.
// AUTH PLAIN/LOGIN is accepted with any credentials but not required.
// Test hooks (HTTP on 127.0.0.1:<http_port>): GET /messages → [{from, to, subject, text, html,
// raw, envelopeFrom, user, secure}] in arrival order (`to` holds the envelope recipients);
// DELETE /messages clears them.
import http from 'node:http';
import { SMTPServer } from 'smtp-server';
import { simpleParser } from 'mailparser';

const messages = [];
let failFirst = Number(process.env.SMTP_FAIL_FIRST ?? 0);
const tls = process.env.SMTP_TLS === '1';

const smtp = new SMTPServer({
  name: 'smtp-sink.test',
  banner: 'Lanyard test sink',
  logger: false,
  disabledCommands: tls ? [] : ['STARTTLS'],
  authMethods: ['PLAIN', 'LOGIN'],
  authOptional: true,
  allowInsecureAuth: true,
  onAuth(auth, session, callback) {
    callback(null, { user: auth.username });
  },
  onData(stream, session, callback) {
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', async () => {
      if (failFirst > 0) {
        failFirst -= 1;
        const err = new Error('4.3.0 Temporary failure, try again later');
        err.responseCode = 451;
        callback(err);
        return;
      }
      try {
        const raw = Buffer.concat(chunks);
        const parsed = await simpleParser(raw);
        messages.push({
          from: parsed.from?.text ?? null,
          to: session.envelope.rcptTo.map((r) => r.address),
          subject: parsed.subject ?? null,
          text: parsed.text ?? null,
          html: typeof parsed.html === 'string' ? parsed.html : null,
          raw: raw.toString('utf8'),
          envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : null,
          user: session.user ?? null,
          secure: Boolean(session.secure),
        });
        callback(null, `2.0.0 queued as ${messages.length}`);
      } catch (e) {
        const err = new Error(`5.6.0 unparsable message: ${e}`);
        err.responseCode = 554;
        callback(err);
      }
    });
  },
});
smtp.on('error', (e) => console.error('smtp sink error', e));

const api = http.createServer((req, res) => {
  if (req.url === '/messages' && req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(messages));
  } else if (req.url === '/messages' && req.method === 'DELETE') {
    messages.length = 0;
    res.writeHead(204).end();
  } else {
    res.writeHead(404).end();
  }
});

smtp.listen(Number(process.env.SMTP_PORT ?? 0), '127.0.0.1', () => {
  api.listen(0, '127.0.0.1', () => {
    console.log(`READY ${smtp.server.address().port} ${api.address().port}`);
  });
});
