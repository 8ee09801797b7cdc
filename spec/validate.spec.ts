/**
 * The argument checks behind the public API's TypeErrors and RangeErrors:
 * each names the argument and shows what it got.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkBytesLike, checkFunction, checkInteger, checkNumber, checkPort, checkSeconds, describeValue } from '../reactor/validate.js';

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
  throwsWith(() => checkBytesLike('data', 5), TypeError, /data must be a Buffer, Uint8Array or string, got number 5/);
  assert.is(checkBytesLike('data', 'x'), 'x');
});

test.run();
