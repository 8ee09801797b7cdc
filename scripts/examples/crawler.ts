/**
 * docs/porting.md's queue example: a crawler in the shape of Tornado's
 * webspider demo. Workers take pages from a Queue and put back the links
 * they find; a Semaphore keeps at most two fetches on the wire at once;
 * queue.join() says when every page found has been fetched. The "site" is
 * a TCPServer on loopback answering each path with the paths it links to.
 *
 *   npm run build && node dist/scripts/examples/crawler.js
 */
import { IOLoop, Queue, Semaphore, TCPClient, TCPServer, bindSockets, type IOStream } from 'gale';

const site: Record<string, string[]> = {
  '/': ['/a', '/b', '/c'], '/a': ['/b', '/d'], '/b': ['/'], '/c': ['/d', '/e'], '/d': [], '/e': ['/a', '/f'], '/f': [],
};

class Site extends TCPServer {
  override async handleStream(stream: IOStream): Promise<void> {
    const path = (await stream.readUntil('\n'))!.toString().trim();
    await stream.write(`${(site[path] ?? []).join(' ')}\n`);
    stream.close();
  }
}

async function crawl(port: number, concurrency = 3): Promise<void> {
  const client = new TCPClient();
  const queue = new Queue<string>();
  const connections = new Semaphore(2);   // at most two fetches at once
  const seen = new Set<string>(['/']);
  let fetching = 0;
  let mostAtOnce = 0;

  async function fetchLinks(path: string): Promise<string[]> {
    using _ = await connections.acquire();   // released when this function returns or throws
    mostAtOnce = Math.max(mostAtOnce, ++fetching);
    const stream = await client.connect('127.0.0.1', port);
    try {
      await stream.write(`${path}\n`);
      return (await stream.readUntil('\n'))!.toString().trim().split(' ').filter(Boolean);
    } finally {
      stream.close();
      fetching--;
    }
  }

  async function worker(): Promise<void> {
    for await (const path of queue) {   // Tornado's `async for url in q:`
      try {
        const links = await fetchLinks(path);
        console.log(`fetched ${path} -> ${links.join(' ') || '(no links)'}`);
        for (const link of links.filter((l) => !seen.has(l))) {
          seen.add(link);
          await queue.put(link);
        }
      } finally {
        queue.taskDone();
      }
    }
  }

  await queue.put('/');
  for (let i = 0; i < concurrency; i++) void worker();   // Tornado's spawn_callback: they wait on the queue forever
  await queue.join({ seconds: 10 });                      // every page found has been fetched
  console.log(`crawled ${seen.size} pages, at most ${mostAtOnce} fetches at once`);
  client.close();
}

const server = new Site();
const [socket] = bindSockets(0, '127.0.0.1');
server.addSockets([socket!]);
const port = (socket!.getsockname() as [string, number])[1];
await IOLoop.current()!.runSync(() => crawl(port), 20);
server.stop();
