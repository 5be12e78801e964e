// The bare-Node baseline: the smallest correct echo server Node can run.
// `net.createServer(s => s.pipe(s))` plus an error handler so a client reset cannot crash it.
// Prints one JSON line {"event":"listening","echo":{"port":N}} when bound (same shape as tcp-echo).
import net from 'node:net';

const host = process.env.ECHO_HOST ?? '127.0.0.1';
const port = Number(process.env.ECHO_PORT ?? 0);

const server = net.createServer((socket) => {
  socket.on('error', () => socket.destroy());
  socket.pipe(socket);
});
server.on('error', (error) => {
  console.error(`bare-echo: ${error.message}`);
  process.exit(1);
});
server.listen({ host, port }, () => {
  const address = server.address();
  console.log(JSON.stringify({ event: 'listening', echo: { address: address.address, port: address.port } }));
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
