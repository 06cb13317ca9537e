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
 * with why; they are left out of the score. An entry names the file, the line and column where the
 * report shows the mutant, and the type of the syntax node there (Babel's name): every mutant of
 * that expression is left out, so an entry names the smallest expression that holds the mutant.
 */
export const GROUPS = {
  acl: {
    summary: "the gateway's topic ACL and topic-filter matching",
    mutate: ['src/gateway/policy/topic-acl.ts', 'src/gateway/policy/topic-filter.ts'],
    tests: ['test/gateway/policy/topic-acl.test', 'test/gateway/policy/topic-filter.test', 'test/gateway/broker/broker-enforcement.test'],
    equivalent: [],
  },
  access: {
    summary: 'API tokens, roles and tenants, homes, gateway certificates, gateway-device attachment, EAB key derivation',
    mutate: [
      'src/access/api-tokens.ts',
      'src/access/principal.ts',
      'src/access/homes.ts',
      'src/access/gateway-certificate.ts',
      'src/access/gateway-devices.ts',
      'src/access/eab-key-derivation.ts',
    ],
    tests: ['test/access/', 'test/integration/gateway-authentication.test'],
    equivalent: [
      // GatewayDevices.admit's shortcuts: skipping one only makes a store query the outcome does not need.
      {
        file: 'src/access/gateway-devices.ts',
        line: 53,
        column: 9,
        node: 'BinaryExpression',
        why: 'with no device ids, the queries find nothing and nothing is refused; the same home is answered',
      },
      { file: 'src/access/gateway-devices.ts', line: 76, column: 9, node: 'BinaryExpression', why: 'attaching no devices answers an empty map' },
      // A non-EEXIST failure to create the secret file is rethrown; swallowing it leaves readFile to fail the same way.
      {
        file: 'src/access/eab-key-derivation.ts',
        line: 31,
        column: 21,
        node: 'BlockStatement',
        why: 'creating with wx fails otherwise than EEXIST only where no file is, so readFile then fails too (ENOENT, ENOTDIR alike); only which of the two errors surfaces could change',
      },
    ],
  },
  'sign-in': {
    summary: "homeowner sign-in: passkey ceremonies, sessions and their CSRF tokens, invitations, recovery codes, a request's origin",
    mutate: [
      'src/access/passkey-ceremonies.ts',
      'src/access/homeowner-sessions.ts',
      'src/access/account-invitations.ts',
      'src/access/recovery-codes.ts',
      'src/access/account-passkeys.ts',
      'src/access/request-origin.ts',
      'src/access/browser-secrets.ts',
    ],
    tests: ['test/access/passkey-sign-in', 'test/access/homeowner-sessions', 'test/integration/homeowner-sign-in-http'],
    equivalent: [],
  },
  attestation: {
    summary: 'device-attest-01: the factory chain and the attestation identity checks',
    mutate: ['src/provisioning/attestation/*.ts'],
    tests: [
      'test/provisioning/attestation-',
      'test/provisioning/factory-chain',
      'test/provisioning/factory-certificate-requirements',
      'test/provisioning/packed-attestation',
    ],
    equivalent: [
      {
        file: 'src/provisioning/attestation/device-attestation.ts',
        line: 214,
        column: 51,
        node: 'OptionalMemberExpression',
        why: 'the chain led to a registered root, so its manufacturer is registered, and manufacturers are never removed',
      },
      {
        file: 'src/provisioning/attestation/factory-chain.ts',
        line: 129,
        column: 20,
        node: 'OptionalMemberExpression',
        why: 'node:crypto parsed the certificate first, so its TBSCertificate has all its fields',
      },
      {
        file: 'src/provisioning/attestation/factory-chain.ts',
        line: 188,
        column: 9,
        node: 'BinaryExpression',
        why: 'below > undefined is false, so the undefined test never decides alone',
      },
      {
        file: 'src/provisioning/attestation/factory-chain.ts',
        line: 235,
        column: 9,
        node: 'UnaryExpression',
        why: 'the memo is a shortcut: verifying a remembered chain again answers the same, and its dates are checked on every use either way',
      },
    ],
  },
  jws: {
    summary: "ACME's JWS request parsing and signature verification",
    mutate: ['src/acme/jws-request.ts', 'src/acme/jws-signature.ts'],
    tests: [
      'test/acme/jws-request.test',
      'test/acme/jws-signature.test',
      'test/acme/jws-key-cache.test',
      'test/fuzz/acme-jws',
      'test/integration/acme-edges.test',
    ],
    equivalent: [
      {
        file: 'src/acme/jws-request.ts',
        line: 80,
        column: 7,
        node: 'BinaryExpression',
        why: 'ALLOWED.has() of a non-string is false, so the type test never decides alone (it narrows the type for the compiler)',
      },
      {
        file: 'src/acme/jws-request.ts',
        line: 118,
        column: 21,
        node: 'BlockStatement',
        why: 'canonicalPublicJwk has re-exported the key through node:crypto, and jose thumbprints every JWK node:crypto exports; the catch guards against a jose change',
      },
      { file: 'src/acme/jws-request.ts', line: 123, column: 15, node: 'BinaryExpression', why: 'the store finds no account for an undefined id either' },
      {
        file: 'src/acme/jws-request.ts',
        line: 164,
        column: 5,
        node: 'BinaryExpression',
        why: 'a payload that is not an object also fails the typeof payload.account check',
      },
      {
        file: 'src/acme/jws-signature.ts',
        line: 26,
        column: 56,
        node: 'BinaryExpression',
        why: 'only an EC key has a namedCurve, so the curve test alone decides',
      },
      {
        file: 'src/acme/jws-signature.ts',
        line: 27,
        column: 56,
        node: 'BinaryExpression',
        why: 'only an EC key has a namedCurve, so the curve test alone decides',
      },
      {
        file: 'src/acme/jws-signature.ts',
        line: 31,
        column: 7,
        node: 'BinaryExpression',
        why: 'a JWK imports as rsa, never rsa-pss or dsa (the other key types with a modulus length)',
      },
      {
        file: 'src/acme/jws-signature.ts',
        line: 26,
        column: 88,
        node: 'OptionalMemberExpression',
        why: 'asymmetricKeyDetails is present on every imported public key',
      },
      {
        file: 'src/acme/jws-signature.ts',
        line: 27,
        column: 88,
        node: 'OptionalMemberExpression',
        why: 'asymmetricKeyDetails is present on every imported public key',
      },
      {
        file: 'src/acme/jws-signature.ts',
        line: 32,
        column: 8,
        node: 'OptionalMemberExpression',
        why: 'asymmetricKeyDetails is present on every imported public key',
      },
      {
        file: 'src/acme/jws-signature.ts',
        line: 33,
        column: 8,
        node: 'OptionalMemberExpression',
        why: 'asymmetricKeyDetails is present on every imported public key',
      },
      {
        file: 'src/acme/jws-signature.ts',
        line: 45,
        column: 8,
        node: 'OptionalMemberExpression',
        why: 'alg passed the allow-list first, and every allowed algorithm has a rule',
      },
      {
        file: 'src/acme/jws-signature.ts',
        line: 82,
        column: 10,
        node: 'OptionalMemberExpression',
        why: 'alg passed the allow-list first, and every allowed algorithm has a rule',
      },
      {
        file: 'src/acme/jws-signature.ts',
        line: 96,
        column: 11,
        node: 'BlockStatement',
        why: 'crypto.verify answers false, not throws, for every signature the rules let through (wrong lengths for ECDSA, EdDSA and RSA included); the catch (and its return) guards an OpenSSL error no input produces',
      },
    ],
  },
  csr: {
    summary: 'strict CSR parsing and checking',
    mutate: ['src/pki/csr.ts'],
    tests: ['test/pki/csr', 'test/fuzz/der'],
    equivalent: [
      // describeSubjectKey answers undefined for anything it does not recognise, by any route: a
      // TypeError or a DER error inside it is caught and answered undefined too.
      {
        file: 'src/pki/csr.ts',
        line: 236,
        column: 23,
        node: 'BinaryExpression',
        why: 'EC parameters that are not an OID fail reader.oid(), which is caught and answered undefined, as the test answers',
      },
      {
        file: 'src/pki/csr.ts',
        line: 245,
        column: 13,
        node: 'BinaryExpression',
        why: 'absent RSA parameters make parameters.tag throw, which is caught and answered undefined',
      },
      {
        file: 'src/pki/csr.ts',
        line: 250,
        column: 16,
        node: 'BinaryExpression',
        why: 'past the end n[i] is undefined, which is not 0, so the loop stops there anyway',
      },
      {
        file: 'src/pki/csr.ts',
        line: 251,
        column: 13,
        node: 'BinaryExpression',
        why: 'an all-zero modulus counts -8 bits, which is outside the accepted range',
      },
      { file: 'src/pki/csr.ts', line: 255, column: 7, node: 'SwitchCase', why: 'falling out of the switch returns undefined too' },
      { file: 'src/pki/csr.ts', line: 258, column: 11, node: 'BlockStatement', why: 'an empty catch also returns undefined' },
      {
        file: 'src/pki/csr.ts',
        line: 269,
        column: 7,
        node: 'UnaryExpression',
        why: 'the fast path is a shortcut: inspectSubjectKey gives the same answer for every key, only slower (the issuance benchmark sees it)',
      },
      {
        file: 'src/pki/csr.ts',
        line: 304,
        column: 17,
        node: 'BinaryExpression',
        why: 'a P-256 y written as y + p needs a point with y < 2^256 - p (about 1 in 2^32), and on P-384 none exists; the x >= p half is tested with (p, sqrt(b))',
      },
      {
        file: 'src/pki/csr.ts',
        line: 324,
        column: 11,
        node: 'BlockStatement',
        why: 'node:crypto answers false, not throws, for every malformed signature tried (DER garbage, empty, wrong lengths); the catch guards an OpenSSL error no input produces',
      },
    ],
  },
};

/** The goal: every group at or above it (string literals and log messages left out). */
export const GOAL = 90;
