import { readFileSync } from 'node:fs';

export interface TcpSocketRow {
  readonly localPort: number;
  readonly remotePort: number;
  /** The kernel's state code, e.g. '0A' = LISTEN, '01' = ESTABLISHED. */
  readonly state: string;
  readonly inode: string;
}

/** This network namespace's IPv4 TCP sockets, from /proc/net/tcp (Linux). */
export function tcpSockets(): TcpSocketRow[] {
  const port = (address: string | undefined) => parseInt(address?.split(':')[1] ?? '', 16);
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length > 9)
    .map((fields) => ({ localPort: port(fields[1]), remotePort: port(fields[2]), state: fields[3] as string, inode: fields[9] as string }));
}
