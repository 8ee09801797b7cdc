/** OSError: Node's codes for every errno a raw syscall can return. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { constants } from 'node:os';
import { OSError, errnoCode, errnoMessage } from '../reactor/sys/errors.js';

test('errnos that libuv does not name still get their code and text', () => {
  // Regression: EINPROGRESS came out as "Unknown system error 115".
  const err = new OSError(constants.errno.EINPROGRESS, 'connect');
  assert.is(err.code, 'EINPROGRESS');
  assert.is(err.syscall, 'connect');
  assert.match(err.message, /operation now in progress/);
  assert.is(errnoCode(constants.errno.ENETRESET), 'ENETRESET');
});

test('common errnos use Node codes and messages', () => {
  assert.is(errnoCode(constants.errno.ECONNREFUSED), 'ECONNREFUSED');
  assert.is(errnoMessage(constants.errno.ECONNREFUSED), 'connection refused');
  const err = new OSError(constants.errno.EADDRINUSE, 'bind');
  assert.instance(err, Error);
  assert.is(err.name, 'OSError');
  assert.is(err.errno, constants.errno.EADDRINUSE);
});

test('an errno nobody knows still makes a readable error', () => {
  const err = new OSError(9999, 'read');
  assert.match(err.code, /9999/);
  assert.match(err.message, /9999/);
});

test.run();
