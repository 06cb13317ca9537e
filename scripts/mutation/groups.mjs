/**
 * The security-critical module groups `npm run mutate -- <group>` mutates, and the tests that
 * exercise them (integration tests included: a mutant is switched on by an environment variable,
 * so it is live in the servers those tests start as well).
 *
 * A group's tests are the ones that reach its checks, fast enough to run once per mutant (on two
 * cores a mutant costs one run of them): the attacker tests at unit level, and an integration test
 * where a check is only reachable through a running server.
 *
 * `equivalent` lists mutants that no test can kill because they do not change behaviour, each
 * with why; they are left out of the score. An entry names the file, the line, and the mutator
 * (Stryker's name for it, as the report shows it).
 */
export const GROUPS = {
  acl: {
    summary: "the gateway's topic ACL and topic-filter matching",
    mutate: ['src/gateway/topic-acl.ts', 'src/gateway/topic-filter.ts'],
    tests: ['test/gateway/topic-acl.test', 'test/gateway/topic-filter.test', 'test/gateway/broker-enforcement.test'],
    equivalent: [],
  },
  access: {
    summary: 'API tokens, roles, gateway certificates, gateway-device attachment, EAB key derivation',
    mutate: ['src/access/*.ts'],
    tests: ['test/access/', 'test/integration/gateway-authentication.test'],
    equivalent: [],
  },
  attestation: {
    summary: 'device-attest-01: the factory chain and the attestation identity checks',
    mutate: ['src/provisioning/attestation/*.ts'],
    tests: ['test/provisioning/attestation-', 'test/provisioning/factory-chain', 'test/provisioning/factory-certificate-requirements', 'test/provisioning/webauthn-attestation', 'test/provisioning/packed-attestation'],
    equivalent: [],
  },
  jws: {
    summary: "ACME's JWS request parsing and signature verification",
    mutate: ['src/acme/jws-request.ts', 'src/acme/jws-signature.ts'],
    tests: ['test/acme/jws-request.test', 'test/acme/jws-signature.test', 'test/acme/jws-key-cache.test', 'test/fuzz/acme-jws', 'test/integration/acme-edges.test'],
    equivalent: [],
  },
  csr: {
    summary: 'strict CSR parsing and checking',
    mutate: ['src/pki/csr.ts'],
    tests: ['test/pki/csr', 'test/fuzz/der'],
    equivalent: [],
  },
};

/** The goal: every group at or above it (string literals and log messages left out). */
export const GOAL = 90;
