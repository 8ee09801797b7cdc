/**
 * The argument checks behind the public API's TypeErrors and RangeErrors:
 * each names the argument and shows what it got.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IOLoop } from '../reactor/ioloop.js';
import { PeriodicCallback } from '../reactor/periodic.js';
import { sleep, withTimeout } from '../reactor/gen.js';
import { Future, TimeoutError } from '../reactor/future.js';
import { inLoop, rejection } from './helpers.js';
import { bindSockets } from '../net/netutil.js';
import { TCPServer } from '../net/tcpserver.js';
import { BlockingResolver } from '../resolvers/resolver.js';
import { PipeIOStream } from '../streams/pipe-iostream.js';
import { toBytes, checkFunction, checkInteger, checkNumber, checkPort, checkSeconds, describeValue } from '../reactor/sys/validate.js';

function throwsWith(fn: () => unknown, kind: new (...a: any[]) => Error, message: RegExp): void {
  try {
    fn();
  } catch (error) {
    assert.instance(error, kind);
    assert.match((error as Error).message, message);
    return;
  }
  assert.unreachable('no error thrown');
}

test('describeValue renders type and value briefly', () => {
  assert.is(describeValue('5'), 'string "5"');
  assert.is(describeValue(NaN), 'NaN');
  assert.is(describeValue(null), 'null');
  assert.is(describeValue(undefined), 'undefined');
  assert.is(describeValue(3), 'number 3');
  assert.is(describeValue([1]), 'Array');
  assert.is(describeValue(Object.create(null)), 'object');
  assert.is(describeValue(function named() {}), 'function named');
  assert.is(describeValue(10n), 'bigint 10');
  assert.is(describeValue('y'.repeat(100)).length < 60, true);
});

test('seconds: a string is a TypeError, NaN and Infinity RangeErrors; numbers pass', () => {
  throwsWith(() => checkSeconds('delay', '5'), TypeError, /^delay must be a finite number of seconds, got string "5"$/);
  throwsWith(() => checkSeconds('delay', NaN), RangeError, /delay .* got NaN/);
  throwsWith(() => checkSeconds('delay', Infinity), RangeError, /got Infinity/);
  assert.is(checkSeconds('delay', -0.5), -0.5);
  assert.is(checkNumber('x', Infinity), Infinity);
});

test('integers: negative, fractional and wrong types are refused', () => {
  throwsWith(() => checkInteger('numBytes', -1), RangeError, /^numBytes must be a non-negative integer, got -1$/);
  throwsWith(() => checkInteger('numBytes', 1.5), RangeError, /got 1\.5/);
  throwsWith(() => checkInteger('maxWorkers', 0, 1), RangeError, /maxWorkers must be a positive integer, got 0/);
  throwsWith(() => checkInteger('n', 1, 2), RangeError, /an integer ≥ 2/);
  throwsWith(() => checkInteger('numBytes', '10'), TypeError, /got string "10"/);
  assert.is(checkInteger('numBytes', 0), 0);
});

test('ports, functions and bytes', () => {
  throwsWith(() => checkPort('port', 70000), RangeError, /port must be a port number \(0-65535\), got 70000/);
  throwsWith(() => checkPort('port', '80'), TypeError, /got string "80"/);
  assert.is(checkPort('port', 0), 0);
  throwsWith(() => checkFunction('callback', 'f'), TypeError, /callback must be a function, got string "f"/);
  const f = () => 1;
  assert.is(checkFunction('callback', f), f);
  throwsWith(() => toBytes(5), TypeError, /^data must be a Buffer, Uint8Array or string, got number 5$/);
  throwsWith(() => toBytes(null, 'delimiter'), TypeError, /^delimiter must be .* got null$/);
  assert.equal(toBytes('é'), Buffer.from([0xc3, 0xa9]));
  const bytes = new Uint8Array([1]);
  assert.is(toBytes(bytes), bytes);
});


// ------------------------------------------------------------ the public API uses them


test('IOLoop timeouts and callbacks name the bad argument', async () => {
  await inLoop(async (loop) => {
    const f = () => {};
    throwsWith(() => loop.callLater('5' as never, f), TypeError, /^delay must be a finite number of seconds, got string "5"$/);
    throwsWith(() => loop.callLater(NaN, f), RangeError, /^delay .* got NaN$/);
    throwsWith(() => loop.callLater(Infinity, f), RangeError, /^delay .* got Infinity$/);
    throwsWith(() => loop.callAt('soon' as never, f), TypeError, /^when must be/);
    throwsWith(() => loop.addTimeout({ seconds: '1' } as never, f), TypeError, /^deadline\.seconds must be .* got string "1"$/);
    throwsWith(() => loop.addTimeout(null as never, f), TypeError, /^deadline must be .* got null$/);
    throwsWith(() => loop.callLater(1, 'f' as never), TypeError, /^callback must be a function, got string "f"$/);
    throwsWith(() => loop.addCallback(undefined as never), TypeError, /^callback must be a function, got undefined$/);
    throwsWith(() => loop.addHandler(0, 'h' as never, IOLoop.READ), TypeError, /^handler must be a function/);
    throwsWith(() => loop.addHandler(0, f, '1' as never), TypeError, /^events must be a non-negative integer/);
    throwsWith(() => new PeriodicCallback(f, -5), RangeError, /^callbackTimeMs must be a positive number of milliseconds, got -5$/);
    throwsWith(() => new PeriodicCallback(f, '5' as never), TypeError, /^callbackTimeMs must be .* got string "5"$/);
    throwsWith(() => new PeriodicCallback('f' as never, 5), TypeError, /^callback must be a function/);
    throwsWith(() => sleep(-Infinity), RangeError, /^seconds must be/);
    // Nothing was scheduled by the refused calls: the loop is still idle.
    assert.is(loop.deadlineOf({ seconds: 1 }) > loop.time(), true);
  });
});

test('withTimeout(2, f) explains that a number is an absolute deadline', async () => {
  await inLoop(async () => {
    const error = await rejection(withTimeout(2, new Future()));
    assert.instance(error, TimeoutError);
    assert.match(error.message, /^Timeout: deadline 2\.000 passed at loop time \d+\.\d{3} \(a number is a deadline on IOLoop\.time\(\); pass \{ seconds: N \} for a relative timeout\)$/);
  });
});

test('ports, hosts and fds across net, resolvers and streams name what they got', async () => {
  await inLoop(async () => {
    throwsWith(() => bindSockets('80' as never), TypeError, /^port must be a port number \(0-65535\), got string "80"$/);
    throwsWith(() => bindSockets(70000), RangeError, /got 70000$/);
    throwsWith(() => bindSockets(0, 5 as never), TypeError, /^address must be a string or null, got number 5$/);
    throwsWith(() => new TCPServer().listen('x' as never), TypeError, /^port must be .* got string "x"$/);
    const resolver = new BlockingResolver();
    assert.match((await rejection(resolver.resolve('localhost', 'x' as never)!)).message, /^port must be .* got string "x"$/);
    assert.match((await rejection(resolver.resolve(5 as never, 80)!)).message, /^host must be a string, got number 5$/);
    resolver.close();
    throwsWith(() => new PipeIOStream('3' as never), TypeError, /^fd must be a non-negative integer, got string "3"$/);
  });
});

test.run();
