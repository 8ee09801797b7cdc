/**
 * sockaddr_in / sockaddr_in6 / sockaddr_un, encoded into and decoded from
 * native memory: what CPython's socketmodule.c does when it turns Python's
 * `(host, port)` tuples and Unix paths into C addresses and back. Layouts (Linux; BSD prefixes a length byte and uses a
 * one-byte family):
 *   sockaddr_in   16 B: family u16 @0, port u16 BE @2, addr @4
 *   sockaddr_in6  28 B: family u16 @0, port u16 BE @2, flowinfo u32 BE @4, addr @8, scope_id u32 @24
 *   sockaddr_un  110 B: family u16 @0, path @2 (a leading NUL: abstract namespace)
 */
import { AF_INET, AF_INET6, AF_UNIX } from './constants.js';
import { OSError, errno as E } from './errors.js';
import { allocRegion, type Region } from './arena.js';
import { c } from './libc.js';

const bsd = process.platform !== 'linux' && process.platform !== 'win32';

/** An address as gale's API spells it: `[host, port]`, `[host, port, flowinfo, scopeId]` or a Unix path. */
export type Address = [string, number] | [string, number, number, number] | string;

/** Maximum bytes of a Unix socket path (sun_path minus the terminating NUL). */
export const UNIX_PATH_MAX = bsd ? 103 : 107;

function writeFamily(view: Buffer, offset: number, family: number, length: number): void {
  if (bsd) {
    view[offset] = length;
    view[offset + 1] = family;
  } else {
    view.writeUInt16LE(family, offset);
  }
}

function readFamily(view: Buffer, offset: number): number {
  return bsd ? view[offset + 1]! : view[offset]! | (view[offset + 1]! << 8);
}

/** A port (u16, network order) at `view[offset]`. */
function readPort(view: Buffer, offset: number): number {
  return (view[offset]! << 8) | view[offset + 1]!;
}

// The last IPv4 host decoded, as its four bytes in one int32 and as text. A
// server's peers come from few hosts (all of them from 127.0.0.1 behind a
// proxy): reusing the text saves building it (four number-to-string
// conversions and three concatenations, about 2 % of an accepted
// connection's instructions). Same string value either way.
let lastIPv4 = 0;
let lastIPv4Text = '0.0.0.0';

/** The dotted-quad text of the IPv4 address at `view[at]`. */
function ipv4Text(view: Buffer, at: number): string {
  const a = view[at]!;
  const b = view[at + 1]!;
  const c = view[at + 2]!;
  const d = view[at + 3]!;
  const value = (a << 24) | (b << 16) | (c << 8) | d;
  if (value !== lastIPv4) {
    lastIPv4Text = `${a}.${b}.${c}.${d}`;
    lastIPv4 = value;
  }
  return lastIPv4Text;
}

/** Parses dotted-quad IPv4 text into 4 bytes, or returns null. Strict: no leading zeros ambiguity beyond inet_pton's. */
export function parseIPv4(text: string, out?: Uint8Array, at = 0): Uint8Array | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const bytes = out ?? new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    if (!/^\d{1,3}$/.test(part) || (part.length > 1 && part[0] === '0')) return null;
    const value = Number(part);
    if (value > 255) return null;
    bytes[at + i] = value;
  }
  return bytes;
}

/** Parses IPv6 text (with an optional embedded IPv4 tail) into 16 bytes, or returns null. */
export function parseIPv6(text: string, out?: Uint8Array, at = 0): Uint8Array | null {
  if (text.length < 2 || text.length > 45) return null;
  const bytes = out ?? new Uint8Array(16);
  // An embedded IPv4 tail (::ffff:1.2.3.4) is rewritten as its two hex groups.
  let head = text;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    const v4 = parseIPv4(text.slice(lastColon + 1));
    if (!v4) return null;
    head = `${text.slice(0, lastColon + 1)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const halves = head.split('::');
  if (halves.length > 2) return null;
  const parse = (s: string): number[] | null => {
    if (s === '') return [];
    const groups = s.split(':');
    const words: number[] = [];
    for (const g of groups) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      words.push(parseInt(g, 16));
    }
    return words;
  };
  const left = parse(halves[0]!);
  const right = halves.length === 2 ? parse(halves[1]!) : [];
  if (!left || !right) return null;
  const total = left.length + right.length;
  if (halves.length === 2 ? total > 7 : total !== 8) return null;
  const words = [...left, ...new Array(8 - total).fill(0), ...right];
  for (let i = 0; i < 8; i++) {
    bytes[at + 2 * i] = words[i]! >> 8;
    bytes[at + 2 * i + 1] = words[i]! & 0xff;
  }
  return bytes;
}

/** Formats 16 bytes as RFC 5952 IPv6 text (longest zero run compressed, lower case). */
export function formatIPv6(view: Uint8Array, at = 0): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((view[at + 2 * i]! << 8) | view[at + 2 * i + 1]!);
  // IPv4-mapped addresses read better with a dotted tail, as inet_ntop writes them.
  if (words[0] === 0 && words[1] === 0 && words[2] === 0 && words[3] === 0 && words[4] === 0 && words[5] === 0xffff) {
    return `::ffff:${view[at + 12]}.${view[at + 13]}.${view[at + 14]}.${view[at + 15]}`;
  }
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) { bestStart = i; bestLength = j - i; }
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(':');
  if (bestStart < 0) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLength))}`;
}

let interfaceName: Region | null = null;

/** The index of network interface `name` (`'lo'` → 1), for an IPv6 scope. */
function interfaceIndex(name: string): number {
  const bytes = Buffer.from(name, 'utf8');
  // IFNAMSIZ is 16 with the NUL; a longer or NUL-carrying name names nothing.
  const index = bytes.length === 0 || bytes.length > 15 || bytes.includes(0) ? 0 : (() => {
    interfaceName ??= allocRegion(32);
    interfaceName.view.fill(0);
    bytes.copy(interfaceName.view);
    return c.ifNametoindex(interfaceName.addr) as number;
  })();
  if (!index) throw new OSError(E.ENODEV, 'if_nametoindex', `unknown network interface '${name}' in IPv6 scope`);
  return index;
}

/** Splits `fe80::1%eth0` or `fe80::1%2` into the literal and its scope id. */
function splitScope(host: string): [string, number] {
  const percent = host.indexOf('%');
  if (percent < 0) return [host, 0];
  const scope = host.slice(percent + 1);
  return [host.slice(0, percent), /^\d+$/.test(scope) ? Number(scope) : interfaceIndex(scope)];
}

/**
 * Writes `address` as a sockaddr of `family` at `view[offset]`. Returns its
 * length. Hosts must be literal addresses (resolve names first); `''` means
 * the wildcard address.
 */
export function encodeSockaddr(view: Buffer, offset: number, family: number, address: Address): number {
  // Zero exactly the struct: a view sized for it must do, and bytes past it
  // may belong to someone else.
  const size = family === AF_INET ? 16 : family === AF_INET6 ? 28 : family === AF_UNIX ? 110 : 0;
  if (!size) throw new OSError(E.EAFNOSUPPORT, 'socket', `address family ${family} is not supported`);
  view.fill(0, offset, offset + size);
  if (family === AF_UNIX) {
    if (typeof address !== 'string') throw new TypeError('an AF_UNIX address is a path string');
    const path = Buffer.from(address, 'utf8');
    if (path.length > UNIX_PATH_MAX) throw new OSError(E.ENAMETOOLONG, 'bind', `AF_UNIX path too long (${path.length} > ${UNIX_PATH_MAX} bytes)`);
    path.copy(view, offset + 2);
    // An abstract name (leading NUL) is sized exactly; a path includes its NUL.
    const length = 2 + path.length + (path[0] === 0 ? 0 : 1);
    writeFamily(view, offset, AF_UNIX, length);
    return length;
  }
  if (typeof address === 'string' || !Array.isArray(address)) throw new TypeError(`address must be [host, port] for family ${family}`);
  const [host, port] = address;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`port must be 0-65535, got ${port}`);
  if (family === AF_INET) {
    writeFamily(view, offset, AF_INET, 16);
    view.writeUInt16BE(port, offset + 2);
    if (host !== '' && !parseIPv4(host === 'localhost' ? '127.0.0.1' : host, view, offset + 4)) {
      throw new OSError(E.EINVAL, 'inet_pton', `'${host}' is not an IPv4 address`, 'EINVAL');
    }
  } else {
    writeFamily(view, offset, AF_INET6, 28);
    view.writeUInt16BE(port, offset + 2);
    const flowinfo = address.length === 4 ? address[2] : 0;
    let [literal, scopeId] = splitScope(host === 'localhost' ? '::1' : host);
    if (address.length === 4 && address[3]) scopeId = address[3];
    view.writeUInt32BE(flowinfo >>> 0, offset + 4);
    if (literal !== '' && !parseIPv6(literal, view, offset + 8)) {
      throw new OSError(E.EINVAL, 'inet_pton', `'${host}' is not an IPv6 address`, 'EINVAL');
    }
    view.writeUInt32LE(scopeId >>> 0, offset + 24);
  }
  return size;
}

/** Reads the sockaddr at `view[offset]` (of `length` bytes) into an Address. */
export function decodeSockaddr(view: Buffer, offset: number, length: number): Address {
  const family = length >= 2 ? readFamily(view, offset) : AF_UNIX;
  if (family === AF_INET) {
    return [ipv4Text(view, offset + 4), readPort(view, offset + 2)];
  }
  if (family === AF_INET6) {
    return [formatIPv6(view, offset + 8), readPort(view, offset + 2), view.readUInt32BE(offset + 4), view.readUInt32LE(offset + 24)];
  }
  if (family === AF_UNIX) {
    if (length <= 2) return '';
    let end = offset + length;
    const abstract = view[offset + 2] === 0;
    if (!abstract) {
      const nul = view.indexOf(0, offset + 2);
      if (nul >= 0 && nul < end) end = nul;
    }
    return view.toString('utf8', offset + 2, end);
  }
  throw new OSError(E.EAFNOSUPPORT, 'getsockname', `address family ${family} is not supported`);
}

/** The family a sockaddr at `view[offset]` declares. */
export function sockaddrFamily(view: Buffer, offset: number): number {
  return readFamily(view, offset);
}
