import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    // Socket-heavy files would fight over 2 cores; keep parallelism modest.
    maxWorkers: 2,
  },
});
