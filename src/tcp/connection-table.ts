// The open echo connections as rows, read from their sockets when asked, never on the echo path:
// one process's listing, and the merge of several (the cluster primary's /connections).
import type { ProxyTlvDetails } from '../proxy/index.js';
import type { SocketView, TlsView } from './connection-view.js';
import type { ByteTotals } from './stats.js';

/** What a listing reads of a connection (an EchoConnection). */
export interface ViewableConnection {
  readonly openedAt: number;
  readonly remote: string;
  readonly stalled: boolean;
  readonly proxyDetails: ProxyTlvDetails | undefined;
  bytes(): ByteTotals;
  pendingWriteBytes(): number;
  view(): SocketView;
}

export interface OpenConnection {
  readonly listener: string;
  readonly connection: ViewableConnection;
}

export const CONNECTION_SORTS = ['age', 'bytes', 'idle'] as const;
export type ConnectionSort = (typeof CONNECTION_SORTS)[number];

export interface ConnectionsQuery {
  readonly sort: ConnectionSort;
  readonly limit: number;
}

/** One open connection as /connections shows it. */
export interface ConnectionRow {
  readonly listener: string;
  /** The worker process holding it (its id in /healthz), with ECHO_WORKERS > 1. */
  readonly worker?: number;
  /** The client as the service believes it: from the PROXY header where there is one. */
  readonly client: string;
  readonly peer: string;
  readonly local: string;
  readonly tls?: TlsView;
  readonly proxy?: ProxyTlvDetails;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly ageSeconds: number;
  /** null while unknown (see LastSeen.known). */
  readonly idleSeconds: number | null;
  readonly readingPaused: boolean;
  readonly pendingWriteBytes: number;
}

/** `total` open connections, of which the first `limit` in the asked order. */
export interface ConnectionsPage {
  readonly total: number;
  readonly connections: readonly ConnectionRow[];
}

type SortKeys = Pick<ConnectionRow, 'bytesIn' | 'bytesOut' | 'ageSeconds' | 'idleSeconds'>;

/** Largest first; unknown idle times last. The same order for one process and for a merge. */
const ORDER: Record<ConnectionSort, (a: SortKeys, b: SortKeys) => number> = {
  age: (a, b) => b.ageSeconds - a.ageSeconds,
  bytes: (a, b) => b.bytesIn + b.bytesOut - (a.bytesIn + a.bytesOut),
  idle: (a, b) => (b.idleSeconds ?? -1) - (a.idleSeconds ?? -1),
};

const seconds = (ms: number) => Math.round(ms) / 1000;

/** When a listing last saw a connection's byte count move; kept per connection only once a listing has looked. */
interface LastSeen {
  bytes: number;
  at: number;
  /** The first listing already found bytes: when they came is unknown until the count moves again. */
  known: boolean;
}

export interface ConnectionTable {
  list(query: ConnectionsQuery): ConnectionsPage;
}

export function createConnectionTable({ connections, now }: { connections: () => Iterable<OpenConnection>; now: () => number }): ConnectionTable {
  // Time since the last byte without a look at the per-chunk path: the socket's byte counts are
  // compared with what the previous listing saw, so its resolution is the time between listings.
  const lastSeen = new WeakMap<ViewableConnection, LastSeen>();
  const idleMs = (connection: ViewableConnection, { received, sent }: ByteTotals, at: number): number | null => {
    const bytes = received + sent;
    const seen = lastSeen.get(connection);
    if (seen === undefined) {
      lastSeen.set(connection, { bytes, at: bytes === 0 ? connection.openedAt : at, known: bytes === 0 });
      return bytes === 0 ? at - connection.openedAt : null;
    }
    if (seen.bytes !== bytes) {
      seen.bytes = bytes;
      seen.at = at;
      seen.known = true;
    }
    return seen.known ? at - seen.at : null;
  };

  return {
    list({ sort, limit }) {
      const at = now();
      // Cheap numbers for every connection (to sort on); addresses and TLS details only for those shown.
      const rows: Array<SortKeys & OpenConnection> = [];
      for (const { listener, connection } of connections()) {
        const bytes = connection.bytes();
        const idle = idleMs(connection, bytes, at);
        rows.push({ listener, connection, bytesIn: bytes.received, bytesOut: bytes.sent, ageSeconds: seconds(at - connection.openedAt), idleSeconds: idle === null ? null : seconds(idle) });
      }
      rows.sort(ORDER[sort]);
      return {
        total: rows.length,
        connections: rows.slice(0, limit).map(({ listener, connection, ...keys }) => {
          const { peer, local, tls } = connection.view();
          return {
            listener,
            client: connection.remote,
            peer,
            local,
            ...(tls ? { tls } : {}),
            ...(connection.proxyDetails ? { proxy: connection.proxyDetails } : {}),
            ...keys,
            readingPaused: connection.stalled,
            pendingWriteBytes: connection.pendingWriteBytes(),
          };
        }),
      };
    },
  };
}

/** Several processes' pages as one: every total counted, the first `limit` rows of them all in the asked order. */
export function mergeConnectionPages(pages: readonly ConnectionsPage[], { sort, limit }: ConnectionsQuery): ConnectionsPage {
  return {
    total: pages.reduce((sum, page) => sum + page.total, 0),
    connections: pages
      .flatMap((page) => page.connections)
      .sort(ORDER[sort])
      .slice(0, limit),
  };
}
