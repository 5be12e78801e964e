/** A listener could not bind: says which one, where, and which settings move it. */
export class StartError extends Error {
  readonly code: string | undefined;
  constructor(
    readonly listener: string,
    readonly host: string,
    readonly port: number,
    cause: unknown,
  ) {
    const err = cause as NodeJS.ErrnoException | undefined;
    const what = listener === 'echo' ? 'echo listener' : listener === 'sidecar' ? 'sidecar (health, metrics)' : `echo listener ${listener}`;
    const settings = listener === 'sidecar' ? 'HTTP_HOST/--http-host, HTTP_PORT/--http-port' : listener === 'echo' ? 'ECHO_HOST/--host, ECHO_PORT/--port' : 'ECHO_LISTENERS/--listeners';
    const why = err?.code === 'EADDRINUSE' ? 'address already in use' : err?.code === 'EADDRNOTAVAIL' ? 'address not available on this host' : (err?.message ?? String(cause));
    super(`${what} cannot listen on ${host}:${port}: ${why}${err?.code ? ` (${err.code})` : ''}; set ${settings}`, { cause });
    this.name = 'StartError';
    this.code = err?.code;
  }
}
