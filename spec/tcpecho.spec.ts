/**
 * Tornado's tcpecho demo (scripts/examples/tcpecho-server.ts and
 * tcpecho-client.ts) run as two processes on loopback: the client's line
 * comes back, the server logs what it got and the lost client, and a
 * second client is served by the same server. Bounded in time.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { collect, delay, until } from './helpers.js';

const examples = fileURLToPath(new URL('../scripts/examples/', import.meta.url));

function runClient(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [examples + 'tcpecho-client.js', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const output = collect(child);
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`client timed out:\n${output.text()}`)); }, 20_000);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, out: output.text() }); });
  });
}

test('tcpecho: the client\'s message comes back from the server process, twice', async () => {
  const server = spawn(process.execPath, [examples + 'tcpecho-server.js', '--port=0', '--address=127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const serverOut = collect(server);
  const exited = new Promise<number | null>((resolve) => server.on('close', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  try {
    const [, port] = await until(() => /\[I server\] Listening on TCP port (\d+)/.exec(serverOut.text()), () => `the listening line in:\n${serverOut.text()}`, { tries: 1000, pause: () => delay(20) });
    assert.ok(Number(port) > 0);

    const first = await runClient([`--port=${port}`, '--host=localhost', '--message=hello gale']);
    assert.is(first.code, 0, first.out);
    assert.match(first.out, /^Sent to server: hello gale$/m);
    assert.match(first.out, /^Response from server: hello gale$/m);

    const second = await runClient([`--port=${port}`, '--host=127.0.0.1']);
    assert.is(second.code, 0, second.out);
    assert.match(second.out, /^Response from server: ping$/m);

    await until(() => /Received bytes: hello gale\n[^]*Lost client at host 127\.0\.0\.1[^]*Received bytes: ping\n[^]*Lost client at host 127\.0\.0\.1/.exec(serverOut.text()),
      () => `both clients served in:\n${serverOut.text()}`, { tries: 1000, pause: () => delay(20) });
    assert.not.match(serverOut.text(), /\[E /, 'the server logged no error');
  } finally {
    server.kill('SIGTERM');
    await exited;
  }
});

test('tcpecho: the client fails cleanly when nothing listens', async () => {
  // A port just released: nothing listens there.
  const { Socket } = await import('../reactor/sys/socket.js');
  const probe = new Socket();
  probe.bind(['127.0.0.1', 0]);
  const port = (probe.getsockname() as [string, number])[1];
  probe.close();
  const result = await runClient([`--port=${port}`, '--host=127.0.0.1']);
  assert.is.not(result.code, 0);
  assert.match(result.out, /StreamClosedError|ECONNREFUSED/);
});

test.run();
