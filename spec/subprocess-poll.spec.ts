/**
 * Subprocess with the polling fallback (GALE_CHILD_WATCH=poll: waitpid on a
 * loop timeout), the way children are watched where there is no pidfd
 * (older kernels, macOS/BSD): the shared cases of ./subprocess-cases.ts.
 */
import { defineSubprocessCases } from './subprocess-cases.js';

process.env.GALE_CHILD_WATCH = 'poll'; // read for each new child, so set before any case runs
defineSubprocessCases('Subprocess (polling)', 'poll').run();
