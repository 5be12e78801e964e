// Sockets from /proc (Linux): the network namespace's TCP table and the descriptors of a process.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface TcpSocketRow {
  readonly localPort: number;
  readonly remotePort: number;
  /** The kernel's state code, e.g. '0A' = LISTEN, '01' = ESTABLISHED. */
  readonly state: string;
  readonly inode: string;
  /** Bytes received and not yet read by the process that holds the socket. */
  readonly rxQueue: number;
}

/** This network namespace's IPv4 TCP sockets, from /proc/net/tcp (Linux). */
export function tcpSockets(): TcpSocketRow[] {
  const port = (address: string | undefined) => parseInt(address?.split(':')[1] ?? '', 16);
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length > 9)
    .map((fields) => ({ localPort: port(fields[1]), remotePort: port(fields[2]), state: fields[3] as string, inode: fields[9] as string, rxQueue: parseInt(fields[4]?.split(':')[1] ?? '0', 16) }));
}

/** The socket descriptors of a process: socket inode -> descriptor number (Linux, /proc/<pid>/fd). */
export function socketDescriptors(pid: number | 'self'): Map<string, number> {
  const sockets = new Map<string, number>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed while listing (the directory's own descriptor, for one)
    }
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode !== undefined) sockets.set(inode, Number(fd));
  }
  return sockets;
}
