import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // test/unit: in process, no build needed (npm run test:unit); test/service: the built service as a
    // child process; test/external: outside programs (docs/testing.md).
    include: ['test/unit/**/*.test.ts', 'test/service/**/*.test.ts', 'test/external/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    // Socket-heavy files would fight over 2 cores; keep parallelism modest.
    maxWorkers: 2,
  },
});
