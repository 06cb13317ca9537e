/** RFC 9773 certificate identifiers and Hearth's default renewal window. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AcmeError } from '../../src/acme/acme-error.js';
import { certificateIdentifier, defaultRenewalWindow, parseCertificateIdentifier, renewalInfoRetryAfterSeconds } from '../../src/acme/renewal-info.js';

test('the identifier of RFC 9773 section 4.1 example: AKI and a serial whose top bit needs a zero octet', () => {
  const aki = Buffer.from('69885B6B87464041E1B37B847BA0AE2CDE01C8D4', 'hex');
  assert.equal(certificateIdentifier(aki, '87654321'), 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
  const parsed = parseCertificateIdentifier('aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
  assert.equal(Buffer.from(parsed.keyIdentifier).toString('hex').toUpperCase(), '69885B6B87464041E1B37B847BA0AE2CDE01C8D4');
  assert.equal(parsed.serialHex, '87654321');
});

test('identifiers that are not exactly the RFC form are malformed', () => {
  const bad = {
    'no dot': 'aYhba4dGQEHhs3uEe6CuLN4ByNQAIdlQyE',
    'three parts': 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE.AA',
    padding: 'aYhba4dGQEHhs3uEe6CuLN4ByNQ=.AIdlQyE',
    'standard base64': 'aYhba4dGQEHhs3uEe6CuLN4ByNQ+.AIdlQyE',
    'empty key id': '.AIdlQyE',
    'empty serial': 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.',
    'negative serial': 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.h2VDIQ',
    'redundant leading zero': 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AABlQyE',
    'zero serial': 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AA',
    'serial over 20 octets': `aYhba4dGQEHhs3uEe6CuLN4ByNQ.${Buffer.alloc(21, 0x11).toString('base64url')}`,
    'key id over 64 octets': `${Buffer.alloc(65, 1).toString('base64url')}.AIdlQyE`,
  };
  for (const [why, id] of Object.entries(bad)) {
    assert.throws(
      () => parseCertificateIdentifier(id),
      (error: unknown) => error instanceof AcmeError && error.acmeType === 'malformed',
      why,
    );
  }
});

test('the default window is the last third of the lifetime; clients are asked back after a twelfth, between a minute and six hours', () => {
  const notBefore = new Date('2030-01-01T00:00:00Z');
  const notAfter = new Date('2030-01-31T00:00:00Z');
  const window = defaultRenewalWindow(notBefore, notAfter);
  assert.equal(window.start.toISOString(), '2030-01-21T00:00:00.000Z');
  assert.equal(window.end.toISOString(), '2030-01-31T00:00:00.000Z');
  assert.equal(renewalInfoRetryAfterSeconds(notBefore, notAfter), 6 * 3600);
  assert.equal(renewalInfoRetryAfterSeconds(notBefore, new Date('2030-01-02T00:00:00Z')), 2 * 3600, 'a 24-hour certificate');
  assert.equal(renewalInfoRetryAfterSeconds(notBefore, new Date('2030-01-01T00:05:00Z')), 60, 'never below a minute');
});
