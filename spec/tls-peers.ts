/**
 * Real TLS servers for the client specs, outside gale: `openssl s_server`
 * (a child process) and a `node:tls` server (on libuv, in this process).
 * Both answer each line reversed (`s_server -rev`'s behaviour), so a spec
 * can tell a round trip from an echo of its own bytes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as tls from 'node:tls';
import type { Socket } from 'node:net';
import type { CertPair } from './tls-certs.js';
import { waitFor } from './helpers.js';

/** Waits (bounded) until `pattern` shows in `child`'s output; returns the match. Fails if `child` exits first. */
export function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutMs = 15_000): Promise<RegExpExecArray> {
  return waitFor([child.stdout!, child.stderr!], pattern, { timeoutMs, child });
}

/** Kills `child` (if still running) and waits for it to exit and its stdio pipes to close. */
export function stopped(child: ChildProcess): Promise<void> {
  // 'close', not 'exit': it comes once the child's stdio pipes are closed
  // too. On Node 24 a child's 'exit' can come while the socket of a stdio
  // pipe is still open, and the spec's fd check then counts it as a leak.
  return new Promise((resolve) => {
    const stdioOpen = [child.stdin, child.stdout, child.stderr].some((stream) => stream !== null && !stream.closed);
    const exited = child.exitCode !== null || child.signalCode !== null;
    if (exited && !stdioOpen) return resolve();
    child.once('close', () => resolve());
    if (!exited) child.kill('SIGKILL');
  });
}

/** A running TLS server on 127.0.0.1 that answers each line reversed. */
export interface TlsPeer {
  readonly kind: TlsPeerKind;
  readonly port: number;
  /** What the server has received from clients, as text (node:tls only: s_server's output is not parsed). */
  readonly received?: () => string;
  stop(): Promise<void>;
}

export type TlsPeerKind = 'openssl s_server' | 'node:tls';

/** `openssl s_server -rev` with `pair`, on an ephemeral port of 127.0.0.1. */
async function opensslServer(pair: CertPair): Promise<TlsPeer> {
  const child = spawn('openssl', ['s_server', '-accept', '127.0.0.1:0', '-cert', pair.cert, '-key', pair.key, '-rev'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const [, port] = await waitForOutput(child, /ACCEPT 127\.0\.0\.1:(\d+)/);
    // Keep draining its output: a full pipe would stall it.
    child.stdout!.resume();
    child.stderr!.resume();
    return { kind: 'openssl s_server', port: Number(port), stop: () => stopped(child) };
  } catch (error) {
    await stopped(child);
    throw error;
  }
}

/** A node:tls server with `pair` that answers each line reversed, until the client closes. */
async function nodeTlsServer(pair: CertPair): Promise<TlsPeer> {
  let received = '';
  const server = tls.createServer({ cert: readFileSync(pair.cert), key: readFileSync(pair.key) }, (socket) => {
    let pending = '';
    socket.on('data', (data) => {
      received += data.toString('latin1');
      pending += data.toString('latin1');
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        socket.write(`${[...pending.slice(0, nl)].reverse().join('')}\n`);
        pending = pending.slice(nl + 1);
      }
    });
    socket.on('end', () => socket.end());
    // A client that rejects the certificate hangs up after the handshake.
    socket.on('error', () => socket.destroy());
  });
  server.on('tlsClientError', () => {});
  // Every connection, from accept on, so that stop() can end those still
  // in their handshake too (server.close waits for all of them).
  const connections = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    kind: 'node:tls',
    port,
    received: () => received,
    stop: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of connections) socket.destroy();
    }),
  };
}

/** Starts a server of `kind` with the certificate `pair`. */
export function startTlsPeer(kind: TlsPeerKind, pair: CertPair): Promise<TlsPeer> {
  return kind === 'openssl s_server' ? opensslServer(pair) : nodeTlsServer(pair);
}
