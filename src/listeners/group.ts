import type { AddressInfo } from 'node:net';
import type { Listener } from './listener.js';
import { StartError } from './start-error.js';

/**
 * Every listener of one process, started, stopped and drained together: accepting while all are,
 * connections and pending bytes summed, the first listener's address. listen() binds them in order;
 * if one cannot bind, it stops those already bound and throws a StartError naming it.
 */
export interface ListenerGroup extends Omit<Listener, 'spec' | 'detail'> {
  /** Each listener's state for /healthz. */
  detail(): Array<Record<string, unknown>>;
}

export function createListenerGroup(listeners: readonly Listener[]): ListenerGroup {
  const sum = (read: (listener: Listener) => number) => listeners.reduce((total, listener) => total + read(listener), 0);
  return {
    async listen() {
      const addresses: AddressInfo[] = [];
      for (const listener of listeners) {
        try {
          addresses.push(await listener.listen());
        } catch (error) {
          for (const started of listeners) started.stopAccepting();
          const { name, host, port, origin } = listener.spec;
          throw new StartError({ what: `echo listener ${name}`, host, port, origin }, error);
        }
      }
      return addresses[0] as AddressInfo;
    },
    get accepting() {
      return listeners.every((listener) => listener.accepting);
    },
    get address() {
      return listeners[0]?.address;
    },
    get activeConnections() {
      return sum((listener) => listener.activeConnections);
    },
    pendingWriteBytes: () => sum((listener) => listener.pendingWriteBytes()),
    stopAccepting: () => listeners.forEach((listener) => listener.stopAccepting()),
    drain: (quietMs) => listeners.forEach((listener) => listener.drain(quietMs)),
    idle: async () => {
      await Promise.all(listeners.map((listener) => listener.idle()));
    },
    closeAll: () => listeners.forEach((listener) => listener.closeAll()),
    detail: () => listeners.map((listener) => listener.detail()),
  };
}
