// Load generator for the docker-compose demo stack (`docker compose --profile load up`):
// a few connections echo a steady stream through tcp-echo so Prometheus shows traffic
// at once. Each session sends for a while, half-closes, checks that every byte came
// back, and reconnects. It is not a benchmark: see bench/ for measurements.
import { connect } from 'node:net';

const host = process.env.TARGET_HOST || 'tcp-echo';
const port = Number(process.env.TARGET_PORT || 7000);
const connections = Number(process.env.LOAD_CONNECTIONS || 4);
const bytesPerSecond = Number(process.env.LOAD_BYTES_PER_SECOND || 256 * 1024); // per connection
const sessionMs = Number(process.env.LOAD_SESSION_MS || 10_000);
const tickMs = 100;
const chunk = Buffer.alloc(Math.max(1, Math.round((bytesPerSecond * tickMs) / 1000)), 'tcp-echo load ');
const totals = { sessions: 0, sent: 0, received: 0, mismatches: 0, errors: 0 };

function session() {
  let sent = 0;
  let received = 0;
  const socket = connect({ host, port, noDelay: true });
  const timer = setInterval(() => {
    if (socket.writableLength > chunk.length * 4) return; // the server is behind: don't pile up
    socket.write(chunk);
    sent += chunk.length;
  }, tickMs);
  const stop = setTimeout(() => {
    clearInterval(timer);
    socket.end();
  }, sessionMs);
  socket.on('data', (data) => (received += data.length));
  socket.on('end', () => {
    totals.sessions += 1;
    totals.sent += sent;
    totals.received += received;
    if (received !== sent) totals.mismatches += 1;
  });
  socket.on('error', () => (totals.errors += 1));
  socket.on('close', () => {
    clearInterval(timer);
    clearTimeout(stop);
    setTimeout(session, 1000).unref();
  });
}

for (let i = 0; i < connections; i++) session();
setInterval(() => process.stdout.write(`${JSON.stringify({ event: 'loadgen', target: `${host}:${port}`, ...totals })}\n`), 10_000);
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
