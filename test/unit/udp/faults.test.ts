// UDP echo faults: oversize datagrams, failing sends, a full send queue, socket errors, bind conflicts.
// Every one is counted and none stops the listener.
//
// A real send failure cannot be provoked from an unprivileged test on Linux: an unconnected UDP socket
// never sees ICMP port-unreachable (ECONNREFUSED is for connected sockets), and the source of a datagram
// the kernel delivers is always an address the reply can go to (even a client bound to the broadcast
// address 127.255.255.255 sends from 127.0.0.1). What remains (EPERM from a netfilter REJECT, EACCES,
// ENOBUFS, dgram's synchronous throw on a forged source port 0) needs root or raw packets. So these tests
// use a real dgram socket and real datagrams, and replace only that socket's send() through the factory's
// createSocket dependency, to fail (asynchronously or by throwing) or to hold replies back.
import { describe, expect, it } from 'vitest';
import { createSocket as dgramCreateSocket, type Socket, type SocketOptions } from 'node:dgram';
import { pino } from 'pino';
import { createUdpEchoListener, type UdpEchoListener, type UdpEchoListenerOptions } from '../../../src/udp/listener.js';
import { createUdpStats, type UdpStats } from '../../../src/udp/stats.js';
import { patternedBytes } from '../../support/echo-client.js';
import { waitFor } from '../../support/wait.js';
import { capturingLogger } from '../../support/logger.js';
import { udpPerTest, type UdpClient } from '../../support/udp.js';
import { UDP_LISTENER_DEFAULTS } from '../../support/config.js';

type SendCallback = (error: Error | null, bytes: number) => void;
type Send = (msg: Buffer, port: number, address: string, callback: SendCallback) => void;

/** A real socket whose send() goes through `intercept` (which may call the real one). */
function socketWithSend(intercept: (real: Send, ...args: Parameters<Send>) => void) {
  const made: { socket?: Socket } = {};
  const createSocket = (options: SocketOptions) => {
    const socket = dgramCreateSocket(options);
    const real = socket.send.bind(socket) as unknown as Send;
    socket.send = ((msg: Buffer, port: number, address: string, callback: SendCallback) => intercept(real, msg, port, address, callback)) as unknown as Socket['send'];
    made.socket = socket;
    return socket;
  };
  return { createSocket, made };
}

const POISON = 0xee; // datagrams starting with this byte get the injected fault

const udp = udpPerTest();

async function start(overrides: Partial<UdpEchoListenerOptions> = {}): Promise<{ listener: UdpEchoListener; stats: UdpStats; client: UdpClient }> {
  const { listener, stats, port } = await udp.startListener(overrides);
  return { listener, stats, client: await udp.client(port) };
}

describe('UDP echo faults', () => {
  it('drops and counts datagrams above maxDatagramBytes, echoes those at the limit', async () => {
    const { stats, client } = await start({ maxDatagramBytes: 100 });
    await client.send(patternedBytes(101, 1));
    const atLimit = patternedBytes(100, 2);
    // In order: when the 100-byte echo is back, the 101-byte datagram was read (and dropped).
    expect((await client.exchange(atLimit)).equals(atLimit)).toBe(true);
    expect(client.inbox).toHaveLength(0);
    expect(stats).toMatchObject({ receivedDatagrams: 2, receivedBytes: 201, sentDatagrams: 1, sentBytes: 100 });
    expect(stats.errors).toEqual({ oversize: 1, send_queue_full: 0, send_failed: 0, receive_failed: 0, loop: 0, reserved_source_port: 0, rate_limited: 0, loss: 0 });
  });

  it('counts failed sends, warns once per interval, and keeps echoing', async () => {
    let clock = 1_000_000;
    const { logger, lines } = capturingLogger('info');
    const { createSocket } = socketWithSend((real, msg, port, address, callback) => {
      if (msg[0] === POISON) process.nextTick(callback, Object.assign(new Error('send EPERM'), { code: 'EPERM', syscall: 'send' }), 0);
      else real(msg, port, address, callback);
    });
    const { listener, stats, client } = await start({ createSocket, logger, now: () => clock, warnIntervalMs: 10_000 });
    for (let i = 0; i < 100; i++) await client.send(Buffer.from([POISON, i]));
    const good = Buffer.from('still echoing');
    expect((await client.exchange(good)).equals(good)).toBe(true);
    await waitFor(() => stats.errors.send_failed === 100, { what: '100 failed sends counted' });
    expect(stats).toMatchObject({ receivedDatagrams: 101, sentDatagrams: 1, sentBytes: good.length });
    expect(listener.bound).toBe(true);
    const warnings = () => lines.filter((line) => line.event === 'udp_echo_trouble');
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toMatchObject({ level: 40, reason: 'send_failed', code: 'EPERM', notLoggedSinceLastWarning: 0 });

    clock += 10_000; // the next failure after the interval warns again, with the count it did not log
    await client.send(Buffer.from([POISON]));
    await waitFor(() => stats.errors.send_failed === 101, { what: 'the 101st failure' });
    expect(warnings()).toHaveLength(2);
    expect(warnings()[1]).toMatchObject({ reason: 'send_failed', notLoggedSinceLastWarning: 99 });
    expect(listener.queuedSends).toBe(0);
  });

  it('survives a send() that throws (what dgram does for a datagram from port 0), counting it', async () => {
    const { createSocket } = socketWithSend((real, msg, port, address, callback) => {
      if (msg[0] === POISON) throw Object.assign(new RangeError('Port should be > 0 and < 65536. Received 0.'), { code: 'ERR_SOCKET_BAD_PORT' });
      real(msg, port, address, callback);
    });
    const { listener, stats, client } = await start({ createSocket });
    await client.send(Buffer.from([POISON]));
    const good = Buffer.from('after a throw');
    expect((await client.exchange(good)).equals(good)).toBe(true);
    expect(stats.errors.send_failed).toBe(1);
    expect(listener.queuedSends).toBe(0);
    expect(listener.bound).toBe(true);
  });

  it('drops and counts datagrams while maxQueuedSends replies wait, then echoes again', async () => {
    const held: Array<() => void> = [];
    const { createSocket } = socketWithSend((real, msg, port, address, callback) => {
      // Hold poisoned replies back, as a full kernel send buffer would (libuv queues them).
      if (msg[0] === POISON) held.push(() => real(msg, port, address, callback));
      else real(msg, port, address, callback);
    });
    const { listener, stats, client } = await start({ createSocket, maxQueuedSends: 4 });
    for (let i = 0; i < 10; i++) await client.send(Buffer.from([POISON, i]));
    await waitFor(() => stats.receivedDatagrams === 10, { what: '10 datagrams read' });
    expect(listener.queuedSends).toBe(4);
    expect(stats.errors.send_queue_full).toBe(6);
    for (const release of held.splice(0)) release();
    const replies = [];
    for (let i = 0; i < 4; i++) replies.push(await client.next());
    expect(replies.map((reply) => [...reply])).toEqual([0, 1, 2, 3].map((i) => [POISON, i]));
    await waitFor(() => listener.queuedSends === 0, { what: 'the queue to empty' });
    const good = Buffer.from('room again');
    expect((await client.exchange(good)).equals(good)).toBe(true);
    expect(stats).toMatchObject({ receivedDatagrams: 11, sentDatagrams: 5 });
  });

  it("counts an 'error' event on the socket as receive_failed and carries on", async () => {
    const { logger, lines } = capturingLogger('info');
    const { createSocket, made } = socketWithSend((real, ...args) => real(...args));
    const { listener, stats, client } = await start({ createSocket, logger });
    made.socket?.emit('error', Object.assign(new Error('recvmsg ENOMEM'), { code: 'ENOMEM', syscall: 'recvmsg' }));
    expect(stats.errors.receive_failed).toBe(1);
    expect(lines.filter((line) => line.event === 'udp_echo_trouble')).toMatchObject([{ reason: 'receive_failed', code: 'ENOMEM' }]);
    const good = Buffer.from('after a socket error');
    expect((await client.exchange(good)).equals(good)).toBe(true);
    expect(listener.bound).toBe(true);
  });

  it('rejects listen() on a port in use and leaves nothing bound', async () => {
    const { listener } = await start();
    const port = listener.address?.port as number;
    const second = createUdpEchoListener({ ...UDP_LISTENER_DEFAULTS, host: '127.0.0.1', port, logger: pino({ level: 'silent' }), stats: createUdpStats() });
    await expect(second.listen()).rejects.toMatchObject({ code: 'EADDRINUSE' });
    expect(second.bound).toBe(false);
    expect(second.address).toBeUndefined();
    await second.close();
    await expect(second.listen()).rejects.toThrow(/once/);
  });

  it('close() unbinds, is idempotent, and frees the port', async () => {
    const stats = createUdpStats();
    const listener = createUdpEchoListener({ ...UDP_LISTENER_DEFAULTS, host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }), stats });
    const { port } = await listener.listen();
    await Promise.all([listener.close(), listener.close()]);
    await listener.close();
    expect(listener.bound).toBe(false);
    expect(listener.address).toBeUndefined();
    const again = createUdpEchoListener({ ...UDP_LISTENER_DEFAULTS, host: '127.0.0.1', port, logger: pino({ level: 'silent' }), stats });
    udp.track(again);
    await expect(again.listen()).resolves.toMatchObject({ port });
  });

  it('asks the kernel for the configured socket buffers (Linux reports twice what it granted)', async () => {
    const { createSocket, made } = socketWithSend((real, ...args) => real(...args));
    await start({ createSocket, recvBufferSize: 256 * 1024, sendBufferSize: 128 * 1024 });
    expect(made.socket?.getRecvBufferSize()).toBeGreaterThanOrEqual(256 * 1024);
    expect(made.socket?.getSendBufferSize()).toBeGreaterThanOrEqual(128 * 1024);
  });

  it('rejects nonsense options at construction', () => {
    const base = { ...UDP_LISTENER_DEFAULTS, host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }), stats: createUdpStats() };
    expect(() => createUdpEchoListener({ ...base, maxDatagramBytes: -1 })).toThrow(RangeError);
    expect(() => createUdpEchoListener({ ...base, maxQueuedSends: 0 })).toThrow(RangeError);
    expect(() => createUdpEchoListener({ ...base, recvBufferSize: 1.5 })).toThrow(RangeError);
  });
});
