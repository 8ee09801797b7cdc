/**
 * gale/net: sockets over raw fds, Tornado's netutil, TCPServer and TCPClient.
 */
export * from './socket.js';
export { bindSockets, bindUnixSocket, addAcceptHandler, isValidIp, type BindOptions } from './netutil.js';
export { TCPServer, type TCPServerOptions } from './tcpserver.js';
export {
  TCPClient, Connector, INITIAL_CONNECT_TIMEOUT, type ConnectFunction, type TCPClientOptions,
  type ConnectOptions as TCPClientConnectOptions,
} from './tcpclient.js';
export { cpuCount, taskId, forkProcesses } from './process.js';
