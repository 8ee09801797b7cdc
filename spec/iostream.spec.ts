/**
 * streams/: the shared stream suite (stream-suite.ts: Tornado 4.4's
 * TestIOStreamMixin behaviours and gale's additions) over a TCP connection
 * on 127.0.0.1 and over a Unix socketpair.
 */
import { defineStreamSuite } from './stream-suite.js';
import { tcp, unixPair } from './stream-helpers.js';

defineStreamSuite(tcp).run();
defineStreamSuite(unixPair).run();
