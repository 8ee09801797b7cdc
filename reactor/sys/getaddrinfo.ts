/**
 * getaddrinfo(3) over the syscall layer: Python's `socket.getaddrinfo` and
 * `socket.gaierror`, the blocking name lookup that `BlockingResolver`
 * (tornado/netutil.py) runs on the loop's thread and executor workers run
 * on theirs.
 *
 * Thread safety: the strings, hints and result pointer live in a native
 * region this module allocates at import, and module instances are per
 * thread, so concurrent lookups in several workers never share memory.
 * The result list is always released with freeaddrinfo, even when decoding
 * one of its entries fails.
 *
 * glibc `struct addrinfo` (48 B): flags i32 @0, family @4, socktype @8,
 * protocol @12, addrlen u32 @16, addr* @24, canonname* @32, next* @40.
 * The BSDs swap canonname and addr (canonname @24, addr @32).
 */
import { domainToASCII } from 'node:url';
import { allocRegion } from './arena.js';
import {
  freeaddrinfo, getaddrinfo as callGetaddrinfo, gaiStrerror as callGaiStrerror, lastErrno, peek,
} from './libc.js';
import { OSError } from './errors.js';
import { describeValue } from './validate.js';
import { decodeSockaddr, formatIPv6, parseIPv4, parseIPv6, type Address } from './sockaddr.js';
import { AF_INET, AF_INET6, AF_UNSPEC, SOCK_STREAM } from './constants.js';

const linux = process.platform === 'linux';
const ADDRINFO_SIZE = 48;
const AI_ADDR = linux ? 24 : 32;
const AI_NEXT = 40;

// Region layout: hints @0, result pointer @48, service @64, host @128.
const RESULT = 48;
const SERVICE = 64;
const SERVICE_MAX = 63;
const HOST = 128;
const HOST_MAX = 1025; // NI_MAXHOST, terminating NUL included
const region = allocRegion(HOST + HOST_MAX + 1);

/** One entry of a lookup: where and how to connect. */
export interface AddrInfo {
  /** AF_INET or AF_INET6. */
  family: number;
  /** SOCK_STREAM, SOCK_DGRAM or SOCK_RAW. */
  socktype: number;
  /** The protocol number (6 for TCP, 17 for UDP). */
  protocol: number;
  /** `[host, port]`, or `[host, port, flowinfo, scopeId]` for IPv6. */
  address: Address;
}

// glibc's EAI_* values are negative; the BSDs' are small positive numbers.
const EAI_NAMES: Record<number, string> = linux
  ? {
    [-1]: 'EAI_BADFLAGS', [-2]: 'EAI_NONAME', [-3]: 'EAI_AGAIN', [-4]: 'EAI_FAIL', [-5]: 'EAI_NODATA',
    [-6]: 'EAI_FAMILY', [-7]: 'EAI_SOCKTYPE', [-8]: 'EAI_SERVICE', [-9]: 'EAI_ADDRFAMILY',
    [-10]: 'EAI_MEMORY', [-11]: 'EAI_SYSTEM', [-12]: 'EAI_OVERFLOW',
  }
  : {
    1: 'EAI_ADDRFAMILY', 2: 'EAI_AGAIN', 3: 'EAI_BADFLAGS', 4: 'EAI_FAIL', 5: 'EAI_FAMILY', 6: 'EAI_MEMORY',
    7: 'EAI_NODATA', 8: 'EAI_NONAME', 9: 'EAI_SERVICE', 10: 'EAI_SOCKTYPE', 11: 'EAI_SYSTEM', 14: 'EAI_OVERFLOW',
  };

/** The EAI_* numbers by name, for this platform. */
export const EAI: Readonly<Record<string, number>> = Object.freeze(
  Object.fromEntries(Object.entries(EAI_NAMES).map(([value, name]) => [name, Number(value)])),
);

const messages = new Map<number, string>();

/** gai_strerror(3), cached: the texts are static. */
export function gaiStrerror(status: number): string {
  let text = messages.get(status);
  if (text === undefined) {
    // koffi would truncate a fraction silently and name no argument for a non-number.
    if (!Number.isInteger(status)) throw new TypeError(`status must be an EAI_* integer, got ${describeValue(status)}`);
    text = callGaiStrerror(status) || `Unknown getaddrinfo error ${status}`;
    messages.set(status, text);
  }
  return text;
}

/**
 * A getaddrinfo failure (Python's `socket.gaierror`): `errno` is the raw
 * EAI_* number, `code` its name (`'EAI_NONAME'`), as Node names them.
 */
export class GaiError extends OSError {
  /** The name that was looked up, if any. */
  hostname?: string;

  constructor(status: number, hostname?: string, message?: string, code?: string) {
    const resolved = code ?? EAI_NAMES[status] ?? 'EAI_UNKNOWN';
    super(status, 'getaddrinfo', message ?? `[Errno ${status}] ${gaiStrerror(status)}${hostname === undefined ? '' : ` (${hostname})`}`, resolved);
    if (hostname !== undefined) this.hostname = hostname;
  }
}
Object.defineProperty(GaiError.prototype, 'name', { value: 'GaiError', writable: true, configurable: true });

function stageString(text: string, at: number, max: number): boolean {
  const written = region.view.write(text, at, max, 'utf8');
  if (Buffer.byteLength(text, 'utf8') > written) return false;
  region.view[at + written] = 0;
  return true;
}

// The resolver speaks ASCII: Unicode names go out as IDNA (as Python's idna codec does).
function asciiHost(host: string): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(host)) return host;
  return domainToASCII(host);
}

function stageHost(host: string): number {
  if (host.includes('\0')) throw new GaiError(EAI.EAI_NONAME!, host, 'host name contains a NUL byte', 'EAI_NONAME');
  const ascii = asciiHost(host);
  if ((host !== '' && ascii === '') || !stageString(ascii, HOST, HOST_MAX - 1)) {
    throw new GaiError(EAI.EAI_NONAME!, host, `invalid host name ${JSON.stringify(host)}`, 'EAI_NONAME');
  }
  return region.addr + HOST;
}

function stageService(port: number | string): number {
  if (typeof port === 'number') {
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`port must be 0-65535, got ${port}`);
    port = String(port);
  } else if (typeof port !== 'string') {
    throw new TypeError(`port must be a number or a service name, got ${typeof port}`);
  }
  if (port.includes('\0') || !stageString(port, SERVICE, SERVICE_MAX)) {
    throw new GaiError(EAI.EAI_SERVICE!, undefined, `invalid service ${JSON.stringify(port)}`, 'EAI_SERVICE');
  }
  return region.addr + SERVICE;
}

function readPointer(view: Buffer, at: number): number {
  // User-space addresses fit in 53 bits; two u32 reads avoid a BigInt.
  return view.readUInt32LE(at) + view.readUInt32LE(at + 4) * 0x1_0000_0000;
}

function walk(list: number): AddrInfo[] {
  const results: AddrInfo[] = [];
  for (let node = list; node !== 0;) {
    const info = peek(node, ADDRINFO_SIZE);
    const family = info.readInt32LE(4);
    const addrlen = info.readUInt32LE(16);
    const addr = readPointer(info, AI_ADDR);
    if ((family === AF_INET || family === AF_INET6) && addr !== 0 && addrlen <= 128) {
      results.push({
        family,
        socktype: info.readInt32LE(8),
        protocol: info.readInt32LE(12),
        address: decodeSockaddr(peek(addr, addrlen), 0, addrlen),
      });
    }
    node = readPointer(info, AI_NEXT);
  }
  return results;
}

/**
 * Looks `host` up (blocking). `host` null means the local or wildcard
 * address (with AI_PASSIVE); `port` is a number or a service name. Throws
 * `GaiError` (or `OSError` for EAI_SYSTEM, as Python does).
 */
export function getaddrinfo(host: string | null, port: number | string | null, family: number = AF_UNSPEC,
  socktype = 0, proto = 0, flags = 0): AddrInfo[] {
  if (host !== null && typeof host !== 'string') throw new TypeError(`host must be a string or null, got ${typeof host}`);
  for (const [name, value] of [['family', family], ['socktype', socktype], ['proto', proto], ['flags', flags]] as const) {
    if (!Number.isInteger(value)) throw new TypeError(`${name} must be an integer`);
  }
  const view = region.view;
  const nodePtr = host === null ? 0 : stageHost(host);
  const servicePtr = port === null || port === undefined ? 0 : stageService(port);
  view.fill(0, 0, ADDRINFO_SIZE + 8);
  view.writeInt32LE(flags, 0);
  view.writeInt32LE(family, 4);
  view.writeInt32LE(socktype, 8);
  view.writeInt32LE(proto, 12);
  const status = callGetaddrinfo(nodePtr, servicePtr, region.addr, region.addr + RESULT);
  if (status !== 0) {
    // errno first: the next FFI call may overwrite it.
    const err = lastErrno();
    if (status === EAI.EAI_SYSTEM && err !== 0) throw new OSError(err, 'getaddrinfo');
    throw new GaiError(status, host ?? undefined);
  }
  const list = readPointer(view, RESULT);
  try {
    return walk(list);
  } finally {
    freeaddrinfo(list);
  }
}

/** The entry a literal IP host resolves to, without a lookup; null when `host` is not one. */
function literal(host: string, port: number, family: number): [number, Address] | null {
  if ((family === AF_UNSPEC || family === AF_INET) && parseIPv4(host)) return [AF_INET, [host, port]];
  if (family === AF_UNSPEC || family === AF_INET6) {
    const bytes = parseIPv6(host);
    if (bytes) return [AF_INET6, [formatIPv6(bytes), port, 0, 0]];
  }
  return null;
}

/**
 * Tornado's `BlockingResolver.resolve`, synchronously: `[family, address]`
 * pairs for SOCK_STREAM, duplicates removed, getaddrinfo's order kept. A
 * literal IP host is answered here, without calling getaddrinfo.
 */
export function resolveSync(host: string, port: number, family: number = AF_UNSPEC): Array<[number, Address]> {
  if (typeof host === 'string' && typeof port === 'number' && Number.isInteger(port) && port >= 0 && port <= 65535) {
    const answer = literal(host, port, family);
    if (answer) return [answer];
  }
  const seen = new Set<string>();
  const results: Array<[number, Address]> = [];
  for (const info of getaddrinfo(host, port, family, SOCK_STREAM)) {
    const key = `${info.family}|${JSON.stringify(info.address)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    results.push([info.family, info.address]);
  }
  return results;
}
