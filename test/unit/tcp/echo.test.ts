import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { connect } from 'node:net';
import { collectUntilEnd, echoRoundTrip, openClient, patternedBytes } from '../../support/echo-client.js';
import { httpRequest, sample, scrape } from '../../support/metrics.js';
import { startService, type RunningService } from '../../support/service.js';
import { waitFor } from '../../support/wait.js';

let running: RunningService;
beforeAll(async () => {
  running = await startService();
});
afterAll(async () => {
  await running.stop();
});

describe('echo correctness over real sockets', () => {
  it('echoes an empty session: connect, half-close, EOF with no bytes', async () => {
    const echoed = await echoRoundTrip(running.echoPort, Buffer.alloc(0));
    expect(echoed.length).toBe(0);
  });

  it('echoes all 256 byte values unmodified', async () => {
    const payload = Buffer.from(Array.from({ length: 256 * 4 }, (_, i) => i & 0xff));
    const echoed = await echoRoundTrip(running.echoPort, payload);
    expect(echoed.equals(payload)).toBe(true);
  });

  it.each([1, 100, 65_536, 65_537, 1024 * 1024 + 3, 64 * 1024 * 1024])('echoes %i bytes byte-exact', async (size) => {
    const payload = patternedBytes(size, size);
    const echoed = await echoRoundTrip(running.echoPort, payload);
    expect(echoed.length).toBe(size);
    expect(echoed.equals(payload)).toBe(true);
  });

  it('serves 500 concurrent clients, each verified byte-exact', async () => {
    const clients = Array.from({ length: 500 }, (_, i) => patternedBytes(1000 + i * 37, i + 1));
    const results = await Promise.all(clients.map((payload) => echoRoundTrip(running.echoPort, payload, { writeSize: 4096 })));
    results.forEach((echoed, i) => expect(echoed.equals(clients[i] as Buffer), `client ${i}`).toBe(true));
  });

  it('half-close: a client that ends its side still receives the whole echo, then EOF', async () => {
    const socket = await openClient(running.echoPort);
    const payload = patternedBytes(300_000, 7);
    const echoed = collectUntilEnd(socket);
    socket.end(payload); // write and FIN at once: the server must still echo it all
    expect((await echoed).equals(payload)).toBe(true);
    await once(socket, 'close');
  });

  it('interleaves many small writes in order', async () => {
    const socket = await openClient(running.echoPort);
    const echoed = collectUntilEnd(socket);
    const pieces: Buffer[] = [];
    for (let i = 0; i < 2000; i++) {
      const piece = patternedBytes(1 + (i % 97), i + 11);
      pieces.push(piece);
      socket.write(piece);
    }
    socket.end();
    expect((await echoed).equals(Buffer.concat(pieces))).toBe(true);
  });
});

describe('backpressure', () => {
  it('pauses reading from a client that does not read, keeping server buffers bounded, and loses nothing', async () => {
    const total = 256 * 1024 * 1024;
    const chunk = patternedBytes(1024 * 1024, 99);
    const pausesBefore = sample(await scrape(running.httpPort), 'echo_backpressure_pauses_total');
    const socket = connect({ port: running.echoPort, host: '127.0.0.1' });
    await once(socket, 'connect');
    socket.pause(); // the client does not read

    // The client queues all 256 MiB at once; the server may take only what its buffers allow.
    for (let written = 0; written < total; written += chunk.length) socket.write(chunk);

    const serverPending = async () =>
      (JSON.parse((await httpRequest(running.httpPort, '/healthz')).body) as { connections: { pendingWriteBytes: number } }).connections.pendingWriteBytes;
    await waitFor(async () => sample(await scrape(running.httpPort), 'echo_backpressure_pauses_total') > pausesBefore, { what: 'the server to pause reading' });
    const samples: number[] = [];
    for (let i = 0; i < 20; i++) samples.push(await serverPending());
    // Most of the stream is still waiting on the client's side: the server stopped taking it.
    expect(socket.writableLength).toBeGreaterThan(total - 32 * 1024 * 1024);
    // The server holds at most its write highWaterMark plus one read chunk for this client.
    expect(Math.max(...samples)).toBeGreaterThan(0);
    expect(Math.max(...samples)).toBeLessThanOrEqual(1024 * 1024);

    // Now read: all 256 MiB come back, in order.
    let received = 0;
    let mismatch = -1;
    socket.on('data', (data: Buffer) => {
      if (mismatch === -1 && !data.equals(chunk.subarray(received % chunk.length, (received % chunk.length) + data.length))) {
        // A read can straddle two copies of the chunk; compare byte by byte only then.
        for (let i = 0; i < data.length; i++) {
          if (data[i] !== chunk[(received + i) % chunk.length]) {
            mismatch = received + i;
            break;
          }
        }
      }
      received += data.length;
    });
    socket.end();
    socket.resume();
    await once(socket, 'end');
    expect(mismatch).toBe(-1);
    expect(received).toBe(total);
  });
});
