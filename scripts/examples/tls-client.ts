/**
 * docs/tls.md's TLS client: connects with `TCPClient` and `sslOptions`,
 * verifying the server's certificate against a CA file and the host name,
 * sends one line and prints the answer.
 *
 *   npm run build && node dist/scripts/examples/tls-client.js localhost 8443 ca.pem
 */
import { IOLoop, TCPClient, createDefaultContext, type SSLIOStream } from 'gale';

const [host = 'localhost', port = '8443', cafile] = process.argv.slice(2);

const result = await IOLoop.current()!.runSync(async () => {
  // Verifies the chain against cafile (or Node's root CAs) and that the certificate covers `host`.
  const context = createDefaultContext('serverAuth', cafile ? { cafile } : {});
  const client = new TCPClient();
  const stream = await client.connect(host, Number(port), { sslOptions: context, timeout: 10 }) as SSLIOStream;
  console.log(`connected with ${stream.sslSocket.version()} (${stream.sslSocket.cipher()![0]})`);
  await stream.write('hello over TLS\n');
  const answer = (await stream.readUntil('\n'))!.toString();
  stream.close();
  client.close();
  return answer;
});
process.stdout.write(result);
