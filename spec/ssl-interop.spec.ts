/**
 * Interop with real TLS peers: `openssl s_client` and `openssl s_server`
 * (TLS 1.2 and 1.3), and Node's own `tls` as server and as client.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as tls from 'node:tls';
import { SSLIOStream } from '../streams/ssl-iostream.js';
import { Socket } from '../reactor/sys/socket.js';
import { CERT_REQUIRED } from '../ssl/context.js';
import { EchoTlsServer, clientContext, connectTls, serverContext, testCerts } from './tls-certs.js';
import { fdLeakCheck, inLoop } from './helpers.js';
import { stopped, waitForOutput } from './tls-peers.js';

const certs = testCerts();

for (const version of ['-tls1_2', '-tls1_3']) {
  test(`openssl s_client (${version}) talks to a gale TLS server`, async () => {
    const leaks = fdLeakCheck();
    await inLoop(async () => {
      const server = new EchoTlsServer(serverContext());
      const client = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${server.port}`, '-servername', 'localhost',
        '-CAfile', certs.ca.cert, '-verify_return_error', version, '-quiet'], { stdio: ['pipe', 'pipe', 'pipe'] });
      try {
        client.stdin!.write('hello from openssl\n');
        await waitForOutput(client, /hello from openssl\n/);
        const stream = server.streams[0] as SSLIOStream;
        assert.is(stream.sslSocket.version(), version === '-tls1_2' ? 'TLSv1.2' : 'TLSv1.3');
      } finally {
        await stopped(client);
      }
      for (let i = 0; i < 100 && server.errors.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.is(server.errors.length, 1);
      server.stop();
    });
    leaks();
  });

  test(`a gale client (${version}) talks to openssl s_server`, async () => {
    const leaks = fdLeakCheck();
    const server = spawn('openssl', ['s_server', '-accept', '127.0.0.1:0', '-cert', certs.server.cert, '-key', certs.server.key,
      '-rev', version], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const [, port] = await waitForOutput(server, /ACCEPT 127\.0\.0\.1:(\d+)/);
      await inLoop(async () => {
        const stream = await connectTls(Number(port));
        assert.is(stream.sslSocket.version(), version === '-tls1_2' ? 'TLSv1.2' : 'TLSv1.3');
        // -rev answers each line reversed.
        await stream.write('gale\n');
        assert.is((await stream.readUntil('\n'))!.toString(), 'elag\n');
        stream.close();
      });
    } finally {
      await stopped(server);
    }
    leaks();
  });
}

test('openssl s_client with a client certificate passes a CERT_REQUIRED gale server', async () => {
  const leaks = fdLeakCheck();
  await inLoop(async () => {
    const context = serverContext();
    context.verifyMode = CERT_REQUIRED;
    context.loadVerifyLocations({ cafile: certs.ca.cert });
    const server = new EchoTlsServer(context);
    const client = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${server.port}`, '-CAfile', certs.ca.cert,
      '-cert', certs.client.cert, '-key', certs.client.key, '-quiet'], { stdio: ['pipe', 'pipe', 'pipe'] });
    try {
      client.stdin!.write('mutual\n');
      await waitForOutput(client, /mutual\n/);
    } finally {
      await stopped(client);
    }
    server.stop();
  });
  leaks();
});

test('Node\'s tls client talks to a gale TLS server, ALPN included', async () => {
  const leaks = fdLeakCheck();
  await inLoop(async () => {
    const context = serverContext();
    context.setAlpnProtocols(['gale/1']);
    const server = new EchoTlsServer(context);
    const reply = await new Promise<{ data: string; alpn: string | false }>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port: server.port, servername: 'localhost', ca: readFileSync(certs.ca.cert), ALPNProtocols: ['gale/1'] }, () => {
        socket.write('node says hi\n');
      });
      let data = '';
      socket.on('data', (d) => {
        data += d;
        if (data.endsWith('\n')) { socket.end(); resolve({ data, alpn: socket.alpnProtocol ?? false }); }
      });
      socket.on('error', reject);
    });
    assert.equal(reply, { data: 'node says hi\n', alpn: 'gale/1' });
    for (let i = 0; i < 100 && server.errors.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    // Node sends close_notify: the gale side sees an orderly end, no error.
    assert.equal(server.errors, [null]);
    server.stop();
  });
  leaks();
});

test('a gale client talks to Node\'s tls server; an orderly close reaches readUntilClose', async () => {
  const leaks = fdLeakCheck();
  const server = tls.createServer({ cert: readFileSync(certs.server.cert), key: readFileSync(certs.server.key) }, (socket) => {
    socket.once('data', (d) => socket.end(`node echoes ${d}`));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  try {
    await inLoop(async () => {
      const stream = new SSLIOStream(new Socket(), { sslOptions: clientContext() });
      await stream.connect(['127.0.0.1', port], { serverHostname: 'localhost' });
      await stream.write('ping');
      assert.is((await stream.readUntilClose())!.toString(), 'node echoes ping');
      assert.is(stream.error, null);
      stream.close();
    });
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
  leaks();
});

test.run();
