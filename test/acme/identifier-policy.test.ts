/** Identifier policies: exact names, `*.suffix` below a suffix, `*` for any name, and allowed types. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AcmeError } from '../../src/acme/acme-error.js';
import { IdentifierPolicies } from '../../src/acme/identifier-policy.js';

const policies = new IdentifierPolicies(
  {
    open: { identifierTypes: ['dns'], dnsNames: ['*'] },
    gateways: { identifierTypes: ['dns'], dnsNames: ['gw.example.com', '*.gw.example.com', 'Hub.Example.NET'] },
    nothing: { identifierTypes: ['dns'], dnsNames: [] },
  },
  'gateways',
);

const refusal = (type: string) => (error: unknown) => error instanceof AcmeError && error.acmeType === type;

test('patterns: exact, any depth below a suffix but not the suffix alone, case-insensitive config', () => {
  const gateways = policies.forAccount(null);
  assert.equal(gateways.name, 'gateways', 'no policy name means the default');
  for (const value of ['gw.example.com', 'a.gw.example.com', 'b.a.gw.example.com', 'hub.example.net']) gateways.check({ type: 'dns', value });
  for (const value of ['example.com', 'xgw.example.com', 'gw.example.com.evil.test', 'a.hub.example.net']) {
    assert.throws(() => gateways.check({ type: 'dns', value }), refusal('rejectedIdentifier'), value);
  }
  policies.forAccount('open').check({ type: 'dns', value: 'anything.test' });
  assert.throws(() => policies.forAccount('nothing').check({ type: 'dns', value: 'gw.example.com' }), refusal('rejectedIdentifier'));
});

test('identifier types outside the policy are unsupportedIdentifier; a policy gone from the config admits nothing', () => {
  assert.throws(() => policies.forAccount('open').check({ type: 'ip', value: '192.0.2.1' }), refusal('unsupportedIdentifier'));
  // A DNS-only policy refuses device identifiers; a policy that admits them checks no name pattern.
  assert.throws(() => policies.forAccount('open').check({ type: 'permanent-identifier', value: 'urn:dev:ops:Acme-t1-SN-1' }), refusal('unsupportedIdentifier'));
  new IdentifierPolicies({ devices: { identifierTypes: ['permanent-identifier'], dnsNames: [] } }, 'devices')
    .forAccount(null)
    .check({ type: 'permanent-identifier', value: 'urn:dev:ops:Acme-t1-SN-1' });
  assert.throws(
    () => policies.forAccount('removed'),
    (error: unknown) => refusal('unauthorized')(error) && /"removed" is not configured/.test((error as Error).message),
  );
  assert.equal(policies.has('open'), true);
  assert.equal(policies.has('removed'), false);
});
