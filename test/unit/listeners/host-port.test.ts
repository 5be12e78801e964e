// How the service writes an address and port (src/listeners/host-port.ts).
import { describe, expect, it } from 'vitest';
import { hostPort } from '../../../src/listeners/host-port.js';

describe('hostPort', () => {
  it.each([
    ['127.0.0.1', 7000, '127.0.0.1:7000'],
    ['::1', 7000, '[::1]:7000'],
    ['::ffff:10.0.0.1', 51000, '10.0.0.1:51000'],
    ['::ffff:1', 51000, '[::ffff:1]:51000'],
    ['::ffff:10.0.0.1%eth0', 2, '[::ffff:10.0.0.1%eth0]:2'],
    ['::', 8080, '[::]:8080'],
    ['fe80::1%eth0', 1, '[fe80::1%eth0]:1'],
    ['127.0.0.1', undefined, '127.0.0.1:?'],
    [undefined, 7000, '?'],
  ])('%s and %s: %s', (address, port, written) => {
    expect(hostPort(address, port)).toBe(written);
  });
});
