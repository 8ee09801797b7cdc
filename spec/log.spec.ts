/**
 * reactor/log.ts: the pluggable logger, the default stderr one (debug only
 * with GALE_DEBUG), Tornado's three channels, and callback descriptions.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { accessLog, appLog, describeCallback, genLog, getLogger, setLogger, stderrLogger, type LogRecord, type Logger } from '../reactor/log.js';
import { fdLeakCheck } from './helpers.js';

const checkFds = fdLeakCheck();

/** What the default logger writes to stderr while `fn` runs. */
function stderrOf(fn: () => void): string {
  const write = process.stderr.write;
  let out = '';
  process.stderr.write = ((chunk: string | Uint8Array) => { out += String(chunk); return true; }) as typeof process.stderr.write;
  try {
    fn();
  } finally {
    process.stderr.write = write;
  }
  return out;
}

test('the default logger writes one tagged line per record to stderr', () => {
  assert.is(getLogger(), stderrLogger);
  const error = new RangeError('bad range');
  const out = stderrOf(() => {
    appLog.error('Exception in callback', error);
    genLog.warn('careful', 42, { a: 1 });
    accessLog.info('200 GET /');
  });
  const lines = out.split('\n').filter(Boolean);
  assert.match(lines[0]!, /^\[E tornado.application\] Exception in callback RangeError: bad range/);
  assert.ok(out.includes('    at '), 'errors are logged with their stack');
  assert.ok(lines.includes('[W tornado.general] careful 42 { a: 1 }'));
  assert.ok(lines.includes('[I tornado.access] 200 GET /'));
});

test('debug records appear only with GALE_DEBUG', () => {
  const saved = process.env.GALE_DEBUG;
  try {
    delete process.env.GALE_DEBUG;
    assert.is(stderrOf(() => genLog.debug('hidden')), '');
    process.env.GALE_DEBUG = '1';
    assert.is(stderrOf(() => genLog.debug('shown')), '[D tornado.general] shown\n');
  } finally {
    if (saved === undefined) delete process.env.GALE_DEBUG;
    else process.env.GALE_DEBUG = saved;
  }
});

test('setLogger routes every channel to the new logger', () => {
  const records: Array<[string, unknown[]]> = [];
  const logger: Logger = {
    debug: (...a) => records.push(['debug', a]),
    info: (...a) => records.push(['info', a]),
    warn: (...a) => records.push(['warn', a]),
    error: (...a) => records.push(['error', a]),
  };
  setLogger(logger);
  try {
    assert.is(getLogger(), logger);
    appLog.error('e', 1);
    genLog.info('i');
    accessLog.warn('w');
    genLog.debug('d');
  } finally {
    setLogger(stderrLogger);
  }
  assert.equal(records, [['error', ['e', 1]], ['info', ['i']], ['warn', ['w']], ['debug', ['d']]]);
  assert.is(String(appLog), 'tornado.application');
  assert.is(String(genLog), 'tornado.general');
  assert.is(String(accessLog), 'tornado.access');
});

test('every record carries its channel name, for a logger with handle() (issue 10)', () => {
  // Regression: records had no channel, so ExpectLog(appLog, …) and
  // ExpectLog(genLog, …) could not be told apart.
  const records: LogRecord[] = [];
  const plain: unknown[][] = [];
  const logger: Logger = {
    debug: (...a) => plain.push(a), info: (...a) => plain.push(a), warn: (...a) => plain.push(a), error: (...a) => plain.push(a),
    handle: (record) => records.push(record),
  };
  setLogger(logger);
  try {
    appLog.error('a', 1);
    genLog.warn('g');
    accessLog.info('x');
  } finally {
    setLogger(stderrLogger);
  }
  assert.equal(plain, [], 'handle() takes precedence over the level methods');
  assert.equal(records, [
    { name: 'tornado.application', level: 'error', args: ['a', 1] },
    { name: 'tornado.general', level: 'warn', args: ['g'] },
    { name: 'tornado.access', level: 'info', args: ['x'] },
  ]);
  assert.is(appLog.name, 'tornado.application');
  assert.is(genLog.name, 'tornado.general');
  assert.is(accessLog.name, 'tornado.access');
});

test('a copy of the default logger with one method replaced still names the channel', () => {
  // Regression: the default logger's handle() was copied by { ...stderrLogger },
  // and took every record away from the replaced method.
  const seen: unknown[][] = [];
  setLogger({ ...stderrLogger, info: (...a: unknown[]) => seen.push(a) });
  let out = '';
  try {
    out = stderrOf(() => {
      genLog.info('to the replacement');
      appLog.warn('to stderr');
    });
  } finally {
    setLogger(stderrLogger);
  }
  assert.equal(seen, [['to the replacement']]);
  assert.is(out, '[W tornado.application] to stderr\n');
  assert.is(stderrOf(() => stderrLogger.warn('direct')), '[W gale] direct\n');
});

test('setLogger(logger, name) routes one channel only; setLogger(logger) resets them all', () => {
  const access: unknown[][] = [];
  const rest: unknown[][] = [];
  const into = (list: unknown[][]): Logger => ({
    debug: (...a) => list.push(a), info: (...a) => list.push(a), warn: (...a) => list.push(a), error: (...a) => list.push(a),
  });
  const restLogger = into(rest);
  setLogger(restLogger);
  const accessLogger = into(access);
  setLogger(accessLogger, 'tornado.access');
  try {
    assert.is(getLogger('tornado.access'), accessLogger);
    assert.is(getLogger('tornado.general'), restLogger);
    accessLog.info('GET /');
    genLog.info('general');
    setLogger(restLogger);
    accessLog.info('after reset');
  } finally {
    setLogger(stderrLogger);
  }
  assert.equal(access, [['GET /']]);
  assert.equal(rest, [['general'], ['after reset']]);
});

test('describeCallback names functions, and shows anything else briefly', () => {
  assert.is(describeCallback(function onRead() {}), '<function onRead>');
  assert.is(describeCallback(() => {}), '<anonymous function>');
  const bound = function handler() {}.bind(null);
  assert.is(describeCallback(bound), '<function bound handler>');
  assert.is(describeCallback(null), 'null');
  assert.is(describeCallback({ deep: { deeper: 1 } }), '{ deep: [Object] }');
});

test('no fds leaked', () => {
  checkFds();
});

test.run();
