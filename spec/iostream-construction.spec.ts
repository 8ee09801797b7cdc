/**
 * What making a stream costs in objects the engine must build per
 * connection (issue 18's connect mode), counted: a server makes one per
 * accepted connection, so anything per stream that is not needed is paid
 * at every accept. Counting calls, not timing.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IOLoop } from '../reactor/ioloop.js';
import { Socket } from '../reactor/sys/socket.js';
import { socketpair } from '../reactor/sys/libc.js';
import { AF_UNIX, SOCK_STREAM } from '../reactor/sys/constants.js';
import { IOStream } from '../streams/iostream.js';
import { fdLeakCheck } from './helpers.js';

const checkFds = fdLeakCheck();

test('an IOStream binds one method when made (its event handler), and its writes still go out through its own writeToFd', async () => {
  const loop = new IOLoop({ makeCurrent: false });
  const [a, b] = socketpair(AF_UNIX, SOCK_STREAM, true);
  const bind = Function.prototype.bind;
  let binds = 0;
  let stream: IOStream | null = null;
  let peer: IOStream | null = null;
  try {
    Function.prototype.bind = function countedBind(this: (...args: unknown[]) => unknown, ...args: unknown[]) {
      binds++;
      return bind.apply(this, args as [unknown, ...unknown[]]);
    } as typeof bind;
    try {
      stream = new IOStream(new Socket(AF_UNIX, SOCK_STREAM, 0, a), { ioLoop: loop });
    } finally {
      Function.prototype.bind = bind;
    }
    // The write sink was an object with two more bound methods per stream.
    assert.is(binds, 1);
    peer = new IOStream(new Socket(AF_UNIX, SOCK_STREAM, 0, b), { ioLoop: loop });
    let written = 0;
    const writeToFd = stream.writeToFd;
    stream.writeToFd = function countedWriteToFd(this: IOStream, data: Uint8Array) {
      written += data.length;
      return writeToFd.call(this, data);
    };
    const got = await loop.runSync(async () => {
      await stream!.write(Buffer.from('hello'));
      return peer!.readBytes(5);
    }, 10);
    assert.is(got?.toString(), 'hello');
    assert.is(written, 5, 'the write buffer wrote through the stream itself');
  } finally {
    Function.prototype.bind = bind;
    stream?.close();
    peer?.close();
    loop.close();
  }
});

test('no fds leaked', () => {
  checkFds();
});

test.run();
