// Which source ports the UDP echo never answers (inetd's check_loop, widened). An echo that answers
// anyone can be aimed at another UDP service, or at itself, by one forged datagram; the two then
// answer each other until one drops a datagram, which on loopback or a LAN is never. So a datagram
// from a port that is itself a server (this process's own ports, the small services, the known
// reflectors) is dropped and counted. The check is one lookup in a 64 KiB table built at listen time.

/** What the table says of a source port. */
export const SOURCE_PORT_ALLOWED = 0;
/** A port this process listens on (TCP, UDP or the sidecar), from any address: answering could loop. */
export const SOURCE_PORT_LOOP = 1;
/** Port 0, every privileged port, and the reflection ports in REFLECTION_PORTS. */
export const SOURCE_PORT_RESERVED = 2;

/** Privileged ports: no operating system picks an ephemeral port below this, and NAT keeps a port at or above it there. */
export const FIRST_UNPRIVILEGED_PORT = 1024;

/**
 * Unprivileged ports of UDP services known to be abused for reflection or amplification. Only ports
 * below 32768 are listed: from 32768 up, Linux (32768-60999) and Windows, macOS and the BSDs
 * (49152-65535) pick their clients' ephemeral ports, so refusing one there would refuse real clients.
 */
export const REFLECTION_PORTS: Readonly<Record<number, string>> = {
  1434: 'Microsoft SQL Server resolution service',
  1900: 'SSDP (UPnP discovery)',
  3283: 'Apple Remote Desktop',
  3389: 'RDP over UDP',
  3478: 'STUN / TURN',
  3702: 'WS-Discovery',
  5060: 'SIP',
  5351: 'NAT-PMP',
  5353: 'mDNS',
  5683: 'CoAP',
  10001: 'Ubiquiti discovery',
  10074: 'Mitel MiCollab (TP240PhoneHome)',
  11211: 'memcached',
  26000: 'Quake network protocol',
  27015: 'Steam / Source engine queries',
  32414: 'Plex media server discovery',
};

export interface SourcePortPolicy {
  /** verdicts[port]: SOURCE_PORT_ALLOWED, SOURCE_PORT_LOOP or SOURCE_PORT_RESERVED. Read per datagram. */
  readonly verdicts: Uint8Array;
  /** Marks a port this process listens on (any transport). Port 0 (not bound yet) is ignored. */
  refuseListenPort(port: number): void;
}

export function createSourcePortPolicy(listenPorts: Iterable<number> = []): SourcePortPolicy {
  const verdicts = new Uint8Array(65_536);
  verdicts.fill(SOURCE_PORT_RESERVED, 0, FIRST_UNPRIVILEGED_PORT);
  for (const port of Object.keys(REFLECTION_PORTS)) verdicts[Number(port)] = SOURCE_PORT_RESERVED;
  const refuseListenPort = (port: number) => {
    if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new RangeError(`source port policy: ${port} is not a port`);
    if (port !== 0) verdicts[port] = SOURCE_PORT_LOOP;
  };
  for (const port of listenPorts) refuseListenPort(port);
  return { verdicts, refuseListenPort };
}
