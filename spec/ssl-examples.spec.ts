/**
 * The README's TLS examples run as written: the server with a certificate
 * and key, the client verifying it against the CA; SIGINT stops the server
 * cleanly. Each runs in its own process, bounded in time.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { testCerts } from './tls-certs.js';
import { collect, delay, until } from './helpers.js';

const examples = fileURLToPath(new URL('../scripts/examples/', import.meta.url));
const certs = testCerts();

test('the TLS server and client examples talk, and the server stops on SIGINT', async () => {
  const server = spawn(process.execPath, [examples + 'tls-server.js', certs.server.cert, certs.server.key, '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const serverOut = collect(server);
  const timer = setTimeout(() => server.kill('SIGKILL'), 30_000);
  try {
    const [, port] = await until(() => /on 127\.0\.0\.1:(\d+)/.exec(serverOut.text()), () => `the address in: ${serverOut.text()}`, { tries: 1000, pause: () => delay(10) });
    const client = spawn(process.execPath, [examples + 'tls-client.js', 'localhost', port!, certs.ca.cert], { stdio: ['ignore', 'pipe', 'pipe'] });
    const clientOut = collect(client);
    const clientTimer = setTimeout(() => client.kill('SIGKILL'), 20_000);
    const code = await clientOut.exited;
    clearTimeout(clientTimer);
    assert.is(code, 0, clientOut.text());
    assert.match(clientOut.text(), /connected with TLSv1\.3/);
    assert.match(clientOut.text(), /echo: hello over TLS\n/);
    // A client that does not trust the CA fails with the verification error.
    const distrust = spawn(process.execPath, [examples + 'tls-client.js', 'localhost', port!], { stdio: ['ignore', 'pipe', 'pipe'] });
    const distrustOut = collect(distrust);
    assert.is.not(await distrustOut.exited, 0);
    assert.match(distrustOut.text(), /CERTIFICATE_VERIFY_FAILED/);
    server.kill('SIGINT');
    assert.is(await serverOut.exited, 0, serverOut.text());
  } finally {
    clearTimeout(timer);
    if (server.exitCode === null) server.kill('SIGKILL');
  }
});

test('the TLS server example refuses to start without its files', async () => {
  const missing = spawn(process.execPath, [examples + 'tls-server.js', '/nonexistent/cert.pem', '/nonexistent/key.pem', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = collect(missing);
  assert.is.not(await out.exited, 0);
  assert.match(out.text(), /certfile "\/nonexistent\/cert\.pem" does not exist/);
  const usage = spawn(process.execPath, [examples + 'tls-server.js'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const usageOut = collect(usage);
  assert.is(await usageOut.exited, 2);
  assert.match(usageOut.text(), /usage/);
});

test.run();
