// The optional banner: one line sent on connect, so a client behind a load balancer can see which
// replica answered. Off by default: with it the stream is no longer a pure echo.
import { hostname } from 'node:os';

export interface BannerContext {
  readonly listener: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly hostname?: string;
}

/**
 * Compiles a template once: `{hostname}`, `{listener}`, `{pod_name}`, `{pod_namespace}` and
 * `{env:NAME}` are filled in now, `{client_addr}` per connection. Unknown placeholders stay as written.
 */
export function compileBanner(template: string, context: BannerContext): (client: string) => Buffer {
  const fixed = template.replace(/\{(hostname|listener|pod_name|pod_namespace|env:[A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    if (name === 'hostname') return context.hostname ?? hostname();
    if (name === 'listener') return context.listener;
    if (name === 'pod_name') return context.env.POD_NAME ?? '';
    if (name === 'pod_namespace') return context.env.POD_NAMESPACE ?? '';
    return context.env[name.slice(4)] ?? '';
  });
  const parts = fixed.split('{client_addr}');
  if (parts.length === 1) {
    const line = Buffer.from(`${fixed}\n`);
    return () => line;
  }
  return (client) => Buffer.from(`${parts.join(client)}\n`);
}
