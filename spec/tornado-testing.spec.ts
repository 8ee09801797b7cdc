/**
 * spec/tornado-testing.ts, the port of tornado.testing the tornado-*.spec
 * files run on: its checks must be able to fail. ExpectLog tells channels
 * apart (issue 10: ExpectLog(appLog, …) vs ExpectLog(genLog, …)), a
 * required expectation that saw nothing fails, an unexpected error record
 * fails the case, wait() times out, stop() before wait() returns at once.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { appLog, genLog } from '../reactor/log.js';
import { AsyncTestCase, ExpectLog, expectLog, installTestLogger, removeTestLogger } from './tornado-testing.js';
import { fdLeakCheck, thrown } from './helpers.js';

const checkFds = fdLeakCheck();

test('ExpectLog swallows matching records of its own channel only', () => {
  installTestLogger();
  const self = new AsyncTestCase();
  try {
    const onApp = new ExpectLog(appLog, 'Exception in callback');
    genLog.error('Exception in callback <function f>'); // same words, other channel
    assert.not.ok(onApp.matched);
    appLog.error('Exception in callback <function f>', new Error('boom'));
    assert.ok(onApp.matched);
    assert.ok(onApp.loggedStack);
    onApp.exit();
    const failure = thrown(() => self.checkLogs());
    assert.match(failure.message, /\[error tornado\.general\] Exception in callback <function f>/);
    assert.not.match(failure.message, /tornado\.application/);
  } finally {
    removeTestLogger();
  }
});

test('ExpectLog matches at the start of the message, as re.match does', () => {
  installTestLogger();
  try {
    const e = new ExpectLog(genLog, 'error on read');
    genLog.warn('an error on read'); // not at the start
    assert.not.ok(e.matched);
    genLog.warn('error on read: ECONNRESET');
    assert.ok(e.matched);
    e.exit();
    assert.throws(() => new AsyncTestCase().checkLogs(), /an error on read/);
  } finally {
    removeTestLogger();
  }
});

test('a required ExpectLog that saw nothing fails; an optional one does not', async () => {
  installTestLogger();
  try {
    const required = new ExpectLog(genLog, 'Connect error');
    assert.throws(() => required.exit(), /did not get expected log message/);
    new ExpectLog(genLog, 'Connect error', false).exit();
    const error = await expectLog(appLog, 'x', () => 1).then(() => null, (e: Error) => e);
    assert.match(error!.message, /did not get expected log message/);
    assert.is(await expectLog(appLog, 'x', () => { appLog.error('x marks'); return 2; }), 2);
  } finally {
    removeTestLogger();
  }
});

test('wait() returns what stop() got, at once if stop() came first, and times out otherwise', async () => {
  const self = new AsyncTestCase();
  self.setUp();
  try {
    self.stop('early');
    assert.is(await self.wait(), 'early');
    self.ioLoop.addCallback(() => self.stop(42));
    assert.is(await self.wait(), 42);
    const timedOut = await self.wait(null, 0.05).then(() => null, (e: Error) => e);
    assert.match(timedOut!.message, /timed out after 0.05 seconds/);
    self.ioLoop.addCallback(self.guard(() => { throw new RangeError('in a callback'); }));
    const failed = await self.wait().then(() => null, (e: Error) => e);
    assert.instance(failed, RangeError);
  } finally {
    self.tearDown();
  }
});

test('no fds leaked', () => {
  checkFds();
});

test.run();
