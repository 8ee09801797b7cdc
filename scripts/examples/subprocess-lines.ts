/**
 * README example: a child process whose output is read line by line
 * (Tornado's `Subprocess` with `stdout=STREAM`), then its exit status.
 */
import { IOLoop, Subprocess, StreamClosedError } from 'gale';

const loop = IOLoop.current()!;
await loop.runSync(async () => {
  const child = new Subprocess(['sh', '-c', 'echo one; echo two >&2; echo three'],
    { stdout: Subprocess.STREAM, stderr: Subprocess.STDOUT });   // stderr into the same pipe
  try {
    for (;;) {
      const line = await child.stdout!.readUntil('\n');
      console.log(`child says: ${line!.toString().trimEnd()}`);
    }
  } catch (error) {
    if (!(error instanceof StreamClosedError)) throw error;   // closed: the child is done writing
  }
  console.log(`exit status ${await child.waitForExit()}`);   // rejects with CalledProcessError if non-zero
}, 10);
loop.close();
