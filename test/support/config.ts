// The service's defaults, from the settings table, for tests that build one part on its own.
import { defaultConfig } from '../../src/config/parse.js';

const defaults = defaultConfig();

/** A UDP listener's options as the service sets them by default. */
export const UDP_LISTENER_DEFAULTS = {
  recvBufferSize: defaults.udp.recvBufferBytes,
  sendBufferSize: defaults.udp.sendBufferBytes,
  maxQueuedSends: defaults.udp.maxQueuedSends,
} as const;

/** ECHO_PROXY_TIMEOUT_MS's default. */
export const PROXY_TIMEOUT_MS = defaults.echo.proxyTimeoutMs;
