// The connections table (src/tcp/connection-table.ts): one process's listing from stand-in
// connections, and the merge of several processes' pages (the cluster primary's /connections).
// The route over real sockets: test/unit/sidecar/connections.test.ts; across workers: test/service/cluster.test.ts.
import { describe, expect, it } from 'vitest';
import { createConnectionTable, mergeConnectionPages, type ConnectionRow, type ViewableConnection } from '../../../src/tcp/connection-table.js';

function standIn(name: string, openedAt: number, bytes: { received: number; sent: number }): ViewableConnection & { bytesNow: { received: number; sent: number } } {
  const connection = {
    openedAt,
    remote: name,
    stalled: false,
    proxyDetails: undefined,
    bytesNow: bytes,
    bytes: () => connection.bytesNow,
    pendingWriteBytes: () => 0,
    view: () => ({ peer: name, local: '127.0.0.1:7000' }),
  };
  return connection;
}

const row = (client: string, keys: Partial<ConnectionRow>): ConnectionRow => ({
  listener: 'tcp://*:7000',
  client,
  peer: client,
  local: '127.0.0.1:7000',
  bytesIn: 0,
  bytesOut: 0,
  ageSeconds: 0,
  idleSeconds: null,
  readingPaused: false,
  pendingWriteBytes: 0,
  ...keys,
});

describe('one process: createConnectionTable', () => {
  it('sorts by age, bytes or idle time (largest first, unknown idle last), bounds by limit, counts all', () => {
    let clock = 10_000;
    const old = standIn('old', 1_000, { received: 10, sent: 10 });
    const big = standIn('big', 5_000, { received: 9_000, sent: 9_000 });
    const quiet = standIn('quiet', 8_000, { received: 0, sent: 0 });
    const table = createConnectionTable({ connections: () => [old, big, quiet].map((connection) => ({ listener: 'tcp://*:7000', connection })), now: () => clock });

    const byAge = table.list({ sort: 'age', limit: 100 });
    expect(byAge.total).toBe(3);
    expect(byAge.connections.map((c) => c.client)).toEqual(['old', 'big', 'quiet']);
    expect(byAge.connections[0]).toMatchObject({ listener: 'tcp://*:7000', peer: 'old', bytesIn: 10, bytesOut: 10, ageSeconds: 9, readingPaused: false, pendingWriteBytes: 0 });

    const biggest = table.list({ sort: 'bytes', limit: 1 });
    expect(biggest).toEqual({ total: 3, connections: [expect.objectContaining({ client: 'big' })] });

    // quiet never sent a byte: idle since it opened. The others had bytes when first listed: unknown
    // until their counts move; old's moves now.
    clock = 12_000;
    old.bytesNow = { received: 11, sent: 11 };
    const byIdle = table.list({ sort: 'idle', limit: 100 });
    expect(byIdle.connections.map((c) => [c.client, c.idleSeconds])).toEqual([
      ['quiet', 4],
      ['old', 0],
      ['big', null],
    ]);
  });
});

describe('several processes: mergeConnectionPages', () => {
  const first = { total: 3, connections: [row('a', { ageSeconds: 30, bytesIn: 1, idleSeconds: 5 }), row('b', { ageSeconds: 20, bytesIn: 500 }), row('c', { ageSeconds: 2, bytesOut: 50, idleSeconds: 1 })] };
  const second = { total: 5, connections: [row('d', { ageSeconds: 25, bytesIn: 100, bytesOut: 100, idleSeconds: 9 }), row('e', { ageSeconds: 1, idleSeconds: 0 })] };

  it('adds every total and orders the rows of all pages as one process would', () => {
    expect(mergeConnectionPages([first, second], { sort: 'age', limit: 100 })).toEqual({ total: 8, connections: [first.connections[0], second.connections[0], first.connections[1], first.connections[2], second.connections[1]] });
    expect(mergeConnectionPages([first, second], { sort: 'bytes', limit: 100 }).connections.map((c) => c.client)).toEqual(['b', 'd', 'c', 'a', 'e']);
    expect(mergeConnectionPages([first, second], { sort: 'idle', limit: 100 }).connections.map((c) => c.client)).toEqual(['d', 'a', 'c', 'e', 'b']);
  });

  it('keeps the first `limit` rows of the merged order', () => {
    expect(mergeConnectionPages([first, second], { sort: 'age', limit: 2 })).toEqual({ total: 8, connections: [first.connections[0], second.connections[0]] });
  });

  it('no pages (no worker answered): nothing open', () => {
    expect(mergeConnectionPages([], { sort: 'age', limit: 100 })).toEqual({ total: 0, connections: [] });
  });
});
