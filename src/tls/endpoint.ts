import { createServer as createTlsServer, type Server as TlsServer, type TlsOptions, type TLSSocket } from 'node:tls';
import type { ServerOpts, Socket } from 'node:net';
import type { Logger } from 'pino';
import { acceptedSocketOf } from './accepted-socket.js';
import { loadTlsMaterial, type CertificateSummary, type TlsFiles, type TlsMaterial } from './material.js';
import { classifyHandshakeError, createTlsStats, type TlsStats } from './stats.js';

function remoteOf(socket: TLSSocket): string {
  const raw = acceptedSocketOf(socket);
  const address = socket.remoteAddress ?? raw?.remoteAddress;
  const port = socket.remotePort ?? raw?.remotePort;
  return `${address ?? '?'}:${port ?? '?'}`;
}

export interface TlsEndpointOptions {
  readonly files: TlsFiles;
  /** A client that has not completed its handshake by then is cut and counted as `timeout`. */
  readonly handshakeTimeoutMs: number;
  readonly logger: Logger;
  readonly stats?: TlsStats;
  /** Material already loaded and checked (e.g. while parsing the configuration), so it is not read twice. */
  readonly material?: TlsMaterial;
}

/** `changed: false`: the files hold what is already in use, so nothing was reloaded or counted. */
export type TlsReloadResult = { readonly ok: true; readonly changed: boolean; readonly certificate: CertificateSummary } | { readonly ok: false; readonly error: Error };

export interface TlsEndpoint {
  /**
   * Options for tls.createServer, built from the current material: key, cert, ca + requestCert and
   * rejectUnauthorized (mTLS, when a client CA is configured), handshakeTimeout, and
   * allowHalfOpen: false. Spread them after your own net options. (allowHalfOpen is false so that a
   * client closing mid-handshake — a TCP probe — is noticed at once instead of at the handshake
   * timeout; attach() turns half-open back on for each established connection, so the echo still
   * answers a client that half-closed.)
   */
  readonly serverOptions: TlsOptions;
  /** The material in use (the last one loaded successfully). */
  readonly material: TlsMaterial;
  readonly stats: TlsStats;
  /** True when clients must present a certificate that chains to the client CA. */
  readonly mutual: boolean;
  /**
   * Counts and logs (debug) handshake failures of `server`, cuts failed sockets, makes established
   * connections half-open, and includes the server in reload(). createServer() does this already.
   */
  attach(server: TlsServer): void;
  /** tls.createServer({...netOptions, ...serverOptions}, onSecureConnection), attached. */
  createServer(netOptions: ServerOpts, onSecureConnection: (socket: TLSSocket) => void): TlsServer;
  /**
   * Re-reads the PEM files and, if they are good, gives every attached server the new secure
   * context: new handshakes use it, established connections carry on untouched. If they are not,
   * the previous certificate stays in use and the error is returned (never thrown). Calls are
   * serialised; each reads the files afresh.
   */
  reload(): Promise<TlsReloadResult>;
  /** The same, but a no-op when the files hold the material already in use (a watched directory changed for another reason). */
  reloadIfChanged(): Promise<TlsReloadResult>;
}

export async function createTlsEndpoint(options: TlsEndpointOptions): Promise<TlsEndpoint> {
  const { files, logger } = options;
  const handshakeTimeout = options.handshakeTimeoutMs;
  const stats = options.stats ?? createTlsStats();
  const mutual = files.clientCaFile !== undefined;
  let material = options.material ?? (await loadTlsMaterial(files));
  stats.certificateNotAfterSeconds = Math.floor(material.certificate.notAfter.getTime() / 1000);
  const servers = new Set<TlsServer>();

  const contextOptions = (m: TlsMaterial) => ({ key: m.key, cert: m.cert, ...(m.clientCa ? { ca: m.clientCa } : {}) });

  const onClientError = (error: NodeJS.ErrnoException, socket: TLSSocket) => {
    const reason = classifyHandshakeError(error, socket);
    if (reason === 'probe') stats.probes++;
    else stats.handshakeFailures[reason]++;
    if (logger.isLevelEnabled('debug')) {
      logger.debug(
        { event: reason === 'probe' ? 'tls_probe' : 'tls_handshake_failed', reason, code: error.code, error: error.message.trim(), authorizationError: socket.authorizationError, remote: remoteOf(socket) },
        reason === 'probe' ? 'closed before a TLS handshake' : 'TLS handshake failed',
      );
    }
    // Node leaves a timed-out handshake open; no failed handshake may keep its slot.
    if (!socket.destroyed) socket.destroy();
  };

  // Once the handshake has failed the socket is closed and can no longer tell its peer; for the debug
  // log, ask the accepted TCP socket at accept time (it caches the answer).
  const rememberPeer = (raw: Socket) => void raw.remotePort;

  // Client-initiated renegotiation (TLS 1.2 and older) costs the server a full handshake per
  // request and has a history of attacks: refuse it. Node only reports the attempt ('error', with the
  // socket left open and the renegotiation going ahead), so the connection is closed here.
  const onEstablishedError = function (this: TLSSocket, error: NodeJS.ErrnoException) {
    if (error.code !== 'ERR_TLS_RENEGOTIATION_DISABLED' && error.code !== 'ERR_TLS_SESSION_ATTACK') return;
    stats.renegotiationsRefused++;
    if (logger.isLevelEnabled('debug')) logger.debug({ event: 'tls_renegotiation_refused', remote: remoteOf(this) }, 'client tried to renegotiate: connection closed');
    this.destroy();
  };

  const onSecure = (socket: TLSSocket) => {
    socket.allowHalfOpen = true;
    socket.disableRenegotiation();
    socket.on('error', onEstablishedError);
  };

  let queue: Promise<unknown> = Promise.resolve();
  const sameAsInUse = (next: TlsMaterial) =>
    next.cert.equals(material.cert) && next.key.equals(material.key) && (next.clientCa === undefined ? material.clientCa === undefined : material.clientCa?.equals(next.clientCa) === true);
  const reloadOnce = async (onlyIfChanged: boolean): Promise<TlsReloadResult> => {
    try {
      const next = await loadTlsMaterial(files);
      if (onlyIfChanged && sameAsInUse(next)) {
        logger.debug({ event: 'tls_files_unchanged', subject: material.certificate.subject }, 'certificate files changed on disk but hold the certificate in use');
        return { ok: true, changed: false, certificate: material.certificate };
      }
      for (const server of servers) server.setSecureContext(contextOptions(next));
      material = next;
      stats.reloads++;
      stats.certificateNotAfterSeconds = Math.floor(next.certificate.notAfter.getTime() / 1000);
      const { subject, issuer, fingerprint256, notAfter } = next.certificate;
      logger.info({ event: 'tls_reloaded', subject, issuer, fingerprint256, notAfter: notAfter.toISOString() }, 'TLS certificate reloaded');
      return { ok: true, changed: true, certificate: next.certificate };
    } catch (caught) {
      const error = caught instanceof Error ? caught : new Error(String(caught));
      stats.reloadFailures++;
      logger.error({ event: 'tls_reload_failed', err: error, keptSubject: material.certificate.subject }, `TLS reload failed, keeping the previous certificate: ${error.message}`);
      return { ok: false, error };
    }
  };

  // One reload at a time, in the order asked (SIGHUP and the file watch may ask at once).
  const enqueue = (onlyIfChanged: boolean) => {
    const result = queue.then(() => reloadOnce(onlyIfChanged));
    queue = result;
    return result;
  };

  const endpoint: TlsEndpoint = {
    get serverOptions(): TlsOptions {
      return { ...contextOptions(material), requestCert: mutual, rejectUnauthorized: mutual, handshakeTimeout, allowHalfOpen: false };
    },
    get material() {
      return material;
    },
    stats,
    mutual,
    attach(server) {
      if (servers.has(server)) return;
      servers.add(server);
      server.on('tlsClientError', onClientError);
      server.prependListener('secureConnection', onSecure);
      if (logger.isLevelEnabled('debug')) server.on('connection', rememberPeer);
    },
    createServer(netOptions, onSecureConnection) {
      const server = createTlsServer({ ...netOptions, ...endpoint.serverOptions }, onSecureConnection);
      endpoint.attach(server);
      return server;
    },
    reload: () => enqueue(false),
    reloadIfChanged: () => enqueue(true),
  };
  return endpoint;
}
