/**
 * The few parts of `tornado.options` the tcpecho demo uses: `define(name,
 * default)` and `parseCommandLine()` for `--name=value` arguments, plus the
 * log line format `parse_command_line` sets up (`[I 161203 14:06:26 server:25]`
 * becomes `[I server] …`). Not part of gale: a helper for the ported demo.
 */
const values = new Map<string, string | number>();

/** `define("port", default=9888, help=…)`. */
export function define(name: string, defaultValue: string | number): void {
  values.set(name, defaultValue);
}

/** `options.parse_command_line()`: `--name=value` (numbers stay numbers). */
export function parseCommandLine(argv: string[] = process.argv.slice(2)): void {
  for (const arg of argv) {
    const match = /^--([^=]+)=(.*)$/s.exec(arg);
    if (!match || !values.has(match[1]!)) throw new Error(`Unrecognized command line option: ${arg}`);
    const [, name, raw] = match;
    values.set(name!, typeof values.get(name!) === 'number' ? Number(raw) : raw!);
  }
}

/** `options.<name>`. */
export const options = new Proxy({} as Record<string, any>, { get: (_target, name: string) => values.get(name) });

/** `logging.getLogger(__name__)` with the format parse_command_line installs. */
export function getLogger(name: string) {
  const line = (level: string, args: unknown[]): void => {
    const [format, ...rest] = args as [string, ...unknown[]];
    let i = 0;
    const text = String(format).replace(/%[sd]/g, () => String(rest[i++]));
    process.stderr.write(`[${level} ${name}] ${text}\n`);
  };
  return {
    info: (...args: unknown[]) => line('I', args),
    warning: (...args: unknown[]) => line('W', args),
  };
}
