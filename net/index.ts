/**
 * gale/net: sockets over raw fds (Python's `socket` module), and Tornado's
 * netutil.py, tcpserver.py, tcpclient.py and process.py.
 *
 * The folder spans two floors of the dependency order
 *   reactor → net/socket.ts → (ssl) → streams → resolvers → the rest of net
 * - the ground floor, `socket.ts`: `Socket`, `socketpair`, `pipe` and the
 *   socket constants. It imports nothing but `reactor/sys`, and streams,
 *   ssl and resolvers build on it, as Tornado's iostream.py builds on
 *   Python's `socket`;
 * - the top floor, `netutil.ts`, `tcpserver.ts`, `tcpclient.ts`,
 *   `process.ts`: Tornado's modules of those names, which use streams and
 *   resolvers.
 * Each file's arrows still point one way: `socket.ts` never imports its
 * neighbours here, and nothing below the top floor imports them. The
 * socket layer stays in `net/` because that is where a porter looks for it
 * (Tornado code says `socket.socket` next to `netutil.bind_sockets`), and
 * moving it would rewrite an import in nearly every module and spec for no
 * change in behaviour. This index is for users only: gale's own modules
 * import the files directly, never a folder's index.
 */
export * from './socket.js';
export { bindSockets, bindUnixSocket, addAcceptHandler, isValidIp, type BindOptions } from './netutil.js';
export { TCPServer, type TCPServerOptions } from './tcpserver.js';
export {
  TCPClient, Connector, INITIAL_CONNECT_TIMEOUT, type ConnectFunction, type TCPClientOptions,
  type ConnectOptions as TCPClientConnectOptions,
} from './tcpclient.js';
export { cpuCount, taskId, forkProcesses } from './process.js';
// Tornado's process.Subprocess (net/subprocess.ts)
export {
  Subprocess, CalledProcessError, type SubprocessOptions, type StdioOption,
} from './subprocess.js';
