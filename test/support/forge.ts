// Forged UDP datagrams: an IPv4 packet with any source address and port, written whole to a raw
// socket (python3, since Node has no raw sockets). This is what an attacker on a network without
// source-address filtering does; it needs root (CAP_NET_RAW).
import { execFileSync } from 'node:child_process';
import { toolAvailable } from './tools.js';

const SCRIPT = `
import socket, struct, sys
def checksum(data):
    if len(data) % 2: data += b'\\0'
    total = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while total >> 16: total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff
src, sport, dst, dport, payload = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), bytes.fromhex(sys.argv[5])
length = 8 + len(payload)
pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!BBH', 0, 17, length)
udp = struct.pack('!HHHH', sport, dport, length, 0) + payload
udp = struct.pack('!HHHH', sport, dport, length, checksum(pseudo + udp) or 0xffff) + payload
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + length, 0, 0x4000, 64, 17, 0, socket.inet_aton(src), socket.inet_aton(dst))
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
raw.sendto(ip + udp, (dst, 0))
`;

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

/** Whether datagrams can be forged here; if not, says why (the caller skips). */
export function canForge(): boolean {
  if (!toolAvailable('python3', 'python3')) return false;
  if (process.getuid?.() !== 0) {
    console.warn('skipping: forging a datagram needs a raw socket (run the tests as root)');
    return false;
  }
  return true;
}

/** Sends one IPv4 UDP datagram that claims to come from `from`; returns once the kernel has taken it. */
export function forgeDatagram(from: Endpoint, to: Endpoint, payload: Buffer): void {
  execFileSync('python3', ['-c', SCRIPT, from.address, String(from.port), to.address, String(to.port), payload.toString('hex')], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
}
