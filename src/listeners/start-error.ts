/** What could not bind, as the operator knows it: its name, its address and the settings that set it. */
export interface ListenTarget {
  /** e.g. `echo listener tcp://127.0.0.1:7101` or `sidecar (health, metrics)`. */
  readonly what: string;
  readonly host: string;
  readonly port: number;
  /** The settings to change, as the operator gave them (e.g. `ECHO_LISTENERS`, `--port`). */
  readonly origin: string;
}

const WHY: Readonly<Record<string, string>> = {
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available on this host',
  EACCES: 'permission denied (ports below 1024 need CAP_NET_BIND_SERVICE)',
  ENOTFOUND: 'host name does not resolve',
  EAI_AGAIN: 'host name does not resolve (temporary failure)',
  EAFNOSUPPORT: 'address family not supported on this host',
};

/** A listener could not bind: says which one, where, why and which settings move it. */
export class StartError extends Error {
  readonly code: string | undefined;
  readonly listener: string;
  readonly host: string;
  readonly port: number;
  constructor(target: ListenTarget, cause: unknown) {
    const err = cause as NodeJS.ErrnoException | undefined;
    const code = err?.code;
    const why = (code !== undefined ? WHY[code] : undefined) ?? err?.message ?? String(cause);
    super(`${target.what} cannot listen on ${target.host}:${target.port}: ${why}${code ? ` (${code})` : ''}; set ${target.origin}`, { cause });
    this.name = 'StartError';
    this.code = code;
    this.listener = target.what;
    this.host = target.host;
    this.port = target.port;
  }
}
