// GET /: a status page for people, in the spirit of HAProxy's stats page. The page is static: its
// script polls /healthz, /metrics and /connections once a second while it is visible, so the
// service does nothing for it when nobody looks. Every asset comes from this package (uPlot from
// node_modules), none from elsewhere.
import type { FastifyPluginAsync } from 'fastify';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

const SECURITY_HEADERS = {
  // Nothing but this sidecar's own scripts, styles and requests; the token never leaves for elsewhere.
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** uPlot's files, read from node_modules at the first request for them and kept. */
function packageFile(specifier: string): () => Promise<Buffer> {
  let content: Promise<Buffer> | undefined;
  return () => {
    content ??= readFile(createRequire(import.meta.url).resolve(specifier)).catch((error: unknown) => {
      content = undefined;
      throw error;
    });
    return content;
  };
}

export const statusPageRoutes: FastifyPluginAsync = async (app) => {
  // The page's own files, loaded at the first request for the page: nobody looking costs nothing.
  let pageAssets: Promise<typeof import('./status-page-assets.js')> | undefined;
  const assets = () => (pageAssets ??= import('./status-page-assets.js'));
  const uplotScript = packageFile('uplot/dist/uPlot.iife.min.js');
  const uplotStyle = packageFile('uplot/dist/uPlot.min.css');
  const cached = { 'cache-control': 'public, max-age=3600' };

  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').headers({ ...SECURITY_HEADERS, 'cache-control': 'no-cache' }).send((await assets()).STATUS_HTML));
  app.get('/status.js', async (_request, reply) => reply.type('text/javascript; charset=utf-8').headers({ ...SECURITY_HEADERS, 'cache-control': 'no-cache' }).send((await assets()).STATUS_SCRIPT));
  app.get('/status.css', async (_request, reply) => reply.type('text/css; charset=utf-8').headers({ ...SECURITY_HEADERS, 'cache-control': 'no-cache' }).send((await assets()).STATUS_CSS));
  app.get('/assets/uPlot.js', async (_request, reply) => reply.type('text/javascript; charset=utf-8').headers({ ...SECURITY_HEADERS, ...cached }).send(await uplotScript()));
  app.get('/assets/uPlot.css', async (_request, reply) => reply.type('text/css; charset=utf-8').headers({ ...SECURITY_HEADERS, ...cached }).send(await uplotStyle()));
};
