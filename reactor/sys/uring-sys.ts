/**
 * io_uring's raw system interface (Linux): `syscall` for io_uring_setup,
 * io_uring_enter and io_uring_register (glibc wraps none of them), and
 * `mmap`/`munmap` for the rings. No Tornado counterpart: Tornado's pollers
 * are readiness APIs; this is what ../uring/ring.ts builds a ring from.
 *
 * `syscall` is variadic in C. It is bound as a fixed (number, six i64
 * arguments) function, every one passed (zeros where the call has fewer),
 * not through koffi's variadic declaration, because that is correct on
 * both 64-bit Linux ABIs gale runs on and half the cost (0.27 µs against
 * 0.55 µs a call here: a variadic call takes a type per argument on every
 * call). Correct because integer variadic arguments travel exactly like
 * fixed ones there: on x86_64 in rdi, rsi, rdx, rcx, r8, r9 and then the
 * stack (a variadic call also sets al, the count of vector registers, which
 * glibc's assembly `syscall()` never reads); on aarch64 Linux in x0-x7
 * (AAPCS64; only Apple's arm64 ABI puts variadic arguments on the stack).
 * Tested on x86_64 and on aarch64 under qemu-user (docs/arm64.md).
 * Every wrapper returns the raw result (-1 with errno set on failure) so the
 * caller decides what an error means; `lastErrno()` reads errno.
 */
import { bind } from './ffi.js';
import './arena.js'; // opens libc

/** Syscall numbers (the same on every Linux architecture since 5.1). */
export const SYS_IO_URING_SETUP = 425;
export const SYS_IO_URING_ENTER = 426;
export const SYS_IO_URING_REGISTER = 427;

const syscall6 = bind('libc', 'syscall', 'i64', ['i64', 'i64', 'i64', 'i64', 'i64', 'i64', 'i64']);
const mmapRaw = bind('libc', 'mmap', 'i64', ['u64', 'u64', 'i32', 'i32', 'i32', 'i64']);
const munmapRaw = bind('libc', 'munmap', 'i32', ['u64', 'u64']);

export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_ANONYMOUS = 0x20;
export const MAP_POPULATE = 0x8000;

/** io_uring_setup(entries, params*): the ring fd, or -1. */
export function ioUringSetup(entries: number, paramsAddr: number): number {
  return syscall6(SYS_IO_URING_SETUP, entries, paramsAddr, 0, 0, 0, 0) as number;
}

/** io_uring_enter(fd, toSubmit, minComplete, flags, arg*, argSize): submitted count, or -1. */
export function ioUringEnter(fd: number, toSubmit: number, minComplete: number, flags: number, argAddr: number, argSize: number): number {
  return syscall6(SYS_IO_URING_ENTER, fd, toSubmit, minComplete, flags, argAddr, argSize) as number;
}

/** io_uring_register(fd, opcode, arg*, count): 0 (or a count), or -1. */
export function ioUringRegister(fd: number, opcode: number, argAddr: number, count: number): number {
  return syscall6(SYS_IO_URING_REGISTER, fd, opcode, argAddr, count, 0, 0) as number;
}

/** mmap(2): the address, or -1 (MAP_FAILED). */
export function mmap(addr: number, length: number, prot: number, flags: number, fd: number, offset: number): number {
  return mmapRaw(addr, length, prot, flags, fd, offset) as number;
}

/** munmap(2): 0, or -1. Every view of the range must be dropped first (a later use is a SIGSEGV). */
export function munmap(addr: number, length: number): number {
  return munmapRaw(addr, length) as number;
}

