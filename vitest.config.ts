import { defineConfig } from 'vitest/config';

// Three tiers (STYLE.md §11). Integration and e2e run against real services on loopback; the
// global setup brings the lab up when it is not already running and takes down what it started.
export default defineConfig({
  test: {
    reporters: ['default'],
    projects: [
      {
        test: {
          name: 'unit',
          sequence: { groupOrder: 0 },
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          sequence: { groupOrder: 0 },
          globalSetup: ['test/support/lab-global-setup.ts'],
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 120_000,
          // One file at a time: many of them change the shared lab for real (restarts, faults, a
          // failover, maintenance mode, flushes), and two at once make each other's assertions lie.
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
        },
      },
      {
        test: {
          name: 'e2e',
          // After unit and integration: e2e tests inject faults into the shared lab.
          sequence: { groupOrder: 1 },
          globalSetup: ['test/support/lab-global-setup.ts'],
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // e2e tests share the lab's faults; one file at a time.
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
});
