import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openStore } from '../../src/store/open-store.js';
import { dropPostgresSchemas, needsPostgres, POSTGRES_URL } from '../support/environment.js';
import { pendingCertificate, registerStoreContract } from './store-contract.js';
import { registerProvisioningStoreContract } from './provisioning-store-contract.js';
import { registerTelemetryStoreContract } from './telemetry-store-contract.js';
import { registerGatewayStoreContract } from './gateway-store-contract.js';
import { registerHomeStoreContract } from './home-store-contract.js';
import { registerOauthStoreContract } from './oauth-store-contract.js';
import { registerCommandStoreContract } from './command-store-contract.js';
import { registerAccountStoreContract } from './account-store-contract.js';

const skip = await needsPostgres();
const schema = `hearth_test_${randomBytes(6).toString('hex')}`;

if (skip === undefined) {
  registerStoreContract('PostgreSQL', { open: () => openStore({ url: POSTGRES_URL, schema }) });
  registerProvisioningStoreContract('PostgreSQL', { open: () => openStore({ url: POSTGRES_URL, schema }) });
  registerTelemetryStoreContract('PostgreSQL', { open: () => openStore({ url: POSTGRES_URL, schema }) });
  registerGatewayStoreContract('PostgreSQL', { open: () => openStore({ url: POSTGRES_URL, schema }) });
  registerHomeStoreContract('PostgreSQL', { open: () => openStore({ url: POSTGRES_URL, schema }) });
  registerOauthStoreContract('PostgreSQL', { open: () => openStore({ url: POSTGRES_URL, schema }) });
  registerCommandStoreContract('PostgreSQL', { open: () => openStore({ url: POSTGRES_URL, schema }) });
  registerAccountStoreContract('PostgreSQL', { open: () => openStore({ url: POSTGRES_URL, schema }) });

  after(async () => {
    await dropPostgresSchemas([schema]);
  });
} else {
  test('Store contract: PostgreSQL', { skip }, () => {});
}

test('stores in different schemas do not see each other', { skip }, async () => {
  const otherSchema = `hearth_test_${randomBytes(6).toString('hex')}`;
  const mine = await openStore({ url: POSTGRES_URL, schema });
  const other = await openStore({ url: POSTGRES_URL, schema: otherSchema });
  try {
    const cert = pendingCertificate();
    await mine.certificates.insertPendingCertificate(cert);
    assert.equal(await other.certificates.getCertificate(cert.serial), undefined);
    await other.certificates.insertPendingCertificate(cert);
    assert.equal(mine.dialect, 'postgres');
  } finally {
    await mine.close();
    await other.close();
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    await client.query(`drop schema if exists "${otherSchema}" cascade`).finally(() => client.end());
  }
});

test('opening a store survives other schemas being dropped meanwhile', { skip }, async () => {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  let churning = true;
  // Another tenant's schemas appear and vanish while this store's migrations look for their table.
  const churn = (async () => {
    while (churning) {
      const other = `hearth_churn_${randomBytes(6).toString('hex')}`;
      await client.query(`create schema "${other}"`);
      await client.query(`create table "${other}".t1 (id int primary key, v text)`);
      await client.query(`create table "${other}".t2 (id int primary key, v text)`);
      await client.query(`drop schema "${other}" cascade`);
    }
  })();
  const opened: string[] = [];
  try {
    for (let n = 0; n < 12; n++) {
      const mine = `hearth_test_${randomBytes(6).toString('hex')}`;
      opened.push(mine);
      const store = await openStore({ url: POSTGRES_URL, schema: mine });
      await store.close();
    }
  } finally {
    churning = false;
    await churn;
    await client.end();
    await dropPostgresSchemas(opened);
  }
});
