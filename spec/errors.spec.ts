/** OSError: Node's codes for every errno a raw syscall can return. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { constants } from 'node:os';
import { OSError, errnoCode, errnoMessage } from '../reactor/sys/errors.js';
import { StreamBufferFullError, StreamClosedError, UnsatisfiableReadError } from '../streams/errors.js';

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

test('StreamClosedError is an OSError, as Tornado 4.4 derives it from IOError (issue 10)', () => {
  // Regression: it extended Error, so a port's `instanceof OSError` (Python's
  // `except IOError`) stopped catching a refused or closed stream.
  const cause = new OSError(constants.errno.ECONNREFUSED, 'connect');
  const err = new StreamClosedError(cause);
  assert.instance(err, OSError);
  assert.instance(err, Error);
  assert.is(err.name, 'StreamClosedError');
  assert.is(err.realError, cause);
  // Issue 12: the first line says why (it was just "Stream is closed").
  assert.is(err.message, 'Stream is closed: OSError: [Errno 111] connection refused (connect ECONNREFUSED)');
  assert.is(new StreamClosedError().message, 'Stream is closed');
  assert.is(err.errno, 0);
  assert.is(err.code, 'ESTREAMCLOSED');
  assert.is(new StreamClosedError().realError, null);
  // Tornado derives these two from Exception, not IOError.
  assert.not.instance(new UnsatisfiableReadError('x'), OSError);
  assert.not.instance(new StreamBufferFullError('x'), OSError);
});

test.run();
