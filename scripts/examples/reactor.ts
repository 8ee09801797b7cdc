/**
 * The embedder's example in the README (and docs/reactor.md): watch a
 * socket with addHandler, schedule a write with callLater, and await a gale
 * Future inside runSync.
 */
import { IOLoop, sleep, socketpair } from 'gale';

const loop = new IOLoop();
const [a, b] = socketpair();               // two connected sockets (raw fds)
a.setBlocking(false);

const got = await loop.runSync(async () => {
  const received = new Promise<string>((resolve) => {
    loop.addHandler(a, (sock, events) => {  // the handler gets back what was registered
      loop.removeHandler(sock);
      resolve(`${sock.recv(100).toString()} (events ${events})`);
    }, IOLoop.READ);
  });
  loop.callLater(0.05, () => b.send('hello'));
  await sleep(0.01);                        // a gale Future, awaited like a Promise
  return received;
}, 5);                                      // seconds; runSync rejects with TimeoutError after this

console.log(got);
console.log(loop.stats());
a.close();
b.close();
loop.close();
