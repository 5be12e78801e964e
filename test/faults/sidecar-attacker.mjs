// A sidecar attacker in a process of its own (so that its work does not skew the test's timing):
// `node sidecar-attacker.mjs <port> '<json spec>'`. Every mode is bounded in connections and time.
// Prints {"event":"started"} once the attack is under way and {"event":"done",...} at the end, with the
// status codes it read back (for the modes that read) and how many connections it opened.
import { connect } from 'node:net';

const [port, json] = process.argv.slice(2);
const spec = JSON.parse(json);
const { mode, durationMs, maxConnections = 100_000, conns = 4 } = spec;
const stopAt = Date.now() + durationMs;
const request = Buffer.from(spec.request ?? 'GET /livez HTTP/1.1\r\nHost: x\r\n\r\n', 'latin1');
const statuses = {};
const open = new Set();
let opened = 0;
let startedSaid = false;

const say = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);
const started = () => {
  if (!startedSaid) say({ event: 'started' });
  startedSaid = true;
};
const running = () => Date.now() < stopAt;

const STATUS_LINE = Buffer.from('HTTP/1.1 ');

/** Counts the status codes of the responses read (bytes, no decoding: it must cost little), across chunk boundaries; returns how many this chunk had. */
function statusCounter() {
  let carry = Buffer.alloc(0);
  return (chunk) => {
    const bytes = carry.length === 0 ? chunk : Buffer.concat([carry, chunk]);
    let found = 0;
    let from = 0;
    for (let at = bytes.indexOf(STATUS_LINE); at !== -1 && at + 12 <= bytes.length; at = bytes.indexOf(STATUS_LINE, from)) {
      const status = bytes.toString('latin1', at + 9, at + 12);
      statuses[status] = (statuses[status] ?? 0) + 1;
      found++;
      from = at + 12;
    }
    carry = Buffer.from(bytes.subarray(Math.max(from, bytes.length - 11)));
    return found;
  };
}

/** Opens a connection (within the bounds); `onConnect` gets the socket; `again` reopens when it closes. */
function open1(onConnect, { again = false } = {}) {
  if (!running() || opened >= maxConnections) return;
  opened++;
  const socket = connect({ host: '127.0.0.1', port: Number(port) });
  open.add(socket);
  socket.on('error', () => undefined);
  socket.once('connect', () => {
    started();
    onConnect(socket);
  });
  socket.once('close', () => {
    open.delete(socket);
    if (again) setImmediate(() => open1(onConnect, { again }));
  });
}

const repeat = (count) => Buffer.concat(Array.from({ length: count }, () => request));

switch (mode) {
  // Each connection sends `requests` pipelined requests at once and never reads.
  case 'burst': {
    const payload = repeat(spec.requests);
    for (let i = 0; i < conns; i++) open1((socket) => socket.write(payload));
    break;
  }
  // Pipelined requests sent for as long as the server takes them; reconnects when cut. `read`: read every answer.
  case 'flood': {
    const payload = repeat(spec.batch ?? 500);
    for (let i = 0; i < conns; i++)
      open1(
        (socket) => {
          if (spec.read) socket.on('data', statusCounter());
          else socket.pause();
          const write = () => {
            while (running() && !socket.destroyed) if (!socket.write(payload)) return void socket.once('drain', write);
          };
          write();
        },
        { again: true },
      );
    break;
  }
  // `depth` requests in flight, every answer read before the next batch: a fast, well-formed client.
  case 'polite': {
    const payload = repeat(spec.depth);
    for (let i = 0; i < conns; i++)
      open1(
        (socket) => {
          const count = statusCounter();
          let pending = 0;
          // A response's status line comes first: its body may still be on the way, which is fine here.
          socket.on('data', (chunk) => {
            pending -= count(chunk);
            if (pending <= 0 && running()) {
              pending = spec.depth;
              socket.write(payload);
            }
          });
          pending = spec.depth;
          socket.write(payload);
        },
        { again: true },
      );
    break;
  }
  // `count` connections, `perSecond` of them a second, that send nothing (or `request`, if `send`), never read, held.
  case 'idle': {
    const batch = Math.max(1, Math.round(spec.perSecond / 100));
    for (let i = 0; i < spec.count && running(); i += batch) {
      for (let j = i; j < Math.min(spec.count, i + batch); j++)
        open1((socket) => {
          socket.pause();
          if (spec.send) socket.write(request);
        });
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    started();
    break;
  }
  // `depth` requests each, answers read `readBytes` at a time every `everyMs`; reconnects when cut.
  case 'slow': {
    const payload = repeat(spec.depth);
    for (let i = 0; i < conns; i++)
      open1(
        (socket) => {
          socket.pause();
          const count = statusCounter();
          const timer = setInterval(() => {
            if (!running() || socket.destroyed) return clearInterval(timer);
            const chunk = socket.read(spec.readBytes ?? 64) ?? socket.read();
            if (chunk) count(chunk);
            if (socket.readableLength === 0 && chunk === null) socket.write(payload);
          }, spec.everyMs ?? 50);
          socket.write(payload);
        },
        { again: true },
      );
    break;
  }
  default:
    throw new Error(`unknown mode ${mode}`);
}

await new Promise((resolve) => setTimeout(resolve, Math.max(0, stopAt - Date.now())));
say({ event: 'done', connections: opened, statuses });
for (const socket of open) socket.destroy();
process.exit(0);
