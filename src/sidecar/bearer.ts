import type { FastifyReply } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';

/** What a route behind the optional bearer token checks: always true when no token is set. */
export type BearerCheck = (header: string | undefined) => boolean;

/**
 * Compares `Authorization: Bearer <token>` in constant time: digests of both sides are compared,
 * so neither the content nor the length of the token leaks through timing. No token: everyone passes.
 */
export function bearerCheck(token: string | undefined): BearerCheck {
  if (!token) return () => true;
  const expected = createHash('sha256').update(token).digest();
  return (header) => {
    const match = header === undefined ? null : /^Bearer[ ]+(\S+)\s*$/i.exec(header);
    const given = createHash('sha256').update(match?.[1] ?? '').digest();
    return timingSafeEqual(given, expected) && match !== null;
  };
}

/** The 401 of a route behind the token, with a message saying what needs it. */
export function unauthorized(reply: FastifyReply, message: string): FastifyReply {
  return reply.code(401).header('www-authenticate', 'Bearer realm="metrics"').header('cache-control', 'no-store').send({ error: 'Unauthorized', message });
}
