/** Real-stack tests: the global setup brings up Postgres, Temporal and Kafka (see stack/). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.(ts|js|mjs)$': ['@swc/jest'] },
  // @platformatic/kafka, uuid and @kubernetes/client-node (with its ESM dependencies) ship ESM only; compile them to CommonJS like our sources.
  transformIgnorePatterns: ['/node_modules/(?!(@platformatic|hwp|mnemonist|scule|fastq|uuid|@kubernetes|openid-client|jose|oauth4webapi|jsonpath-plus|rfc4648|socks-proxy-agent|agent-base)/)'],
  // The generated Prisma client imports its siblings as `./x.js`.
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 60_000,
  reporters: ['default', '<rootDir>/test/reporters/closing-line.js'],
  // A service whose stop outlasted its afterAll bound (see test/support/harness.ts) keeps polling in the background;
  // the run must still end, and say so ("Force exiting Jest"), rather than hold CI until its own timeout.
  forceExit: true,
};
