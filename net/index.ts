/**
 * gale/net: sockets over raw fds (Python's `socket` module), and Tornado's
 * netutil.py, tcpserver.py, tcpclient.py and process.py.
 *
 * The socket layer (`Socket`, `socketpair`, `pipe` and the socket
 * constants) lives on the ground floor, `reactor/sys/socket.ts`, because
 * ssl, streams and resolvers build on it, as Tornado's iostream.py builds on
 * Python's `socket`. It is re-exported here because that is where a porter
 * looks for it (Tornado code says `socket.socket` next to
 * `netutil.bind_sockets`). The files of this folder are the top floor of
 *   reactor (sys/ first) → ssl → streams → resolvers → net
 * and nothing below imports them. This index is for users only: gale's own
 * modules import the files directly, never a folder's index.
 */
export * from '../reactor/sys/socket.js';
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
