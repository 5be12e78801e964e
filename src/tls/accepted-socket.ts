import type { Socket } from 'node:net';

/**
 * The accepted TCP socket under a server-side TLS socket, or undefined for a plain one. Node keeps
 * it as the TLSSocket's `_parent` (internal, stable since v0.11); its addresses, byte counts and
 * resets are the connection's own.
 */
export function acceptedSocketOf(socket: Socket): Socket | undefined {
  return (socket as Socket & { _parent?: Socket })._parent;
}
