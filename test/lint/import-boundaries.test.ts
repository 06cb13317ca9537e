/**
 * The dependency direction is a lint rule (eslint.boundaries.js): these run ESLint on code placed
 * in a folder of src/ and check that a wrong import fails with a message naming both sides, and a
 * right one passes.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';

let eslint: ESLint;

before(() => {
  // The code linted here is in no file the TypeScript project knows, so the type-aware rules are
  // off for it: the boundary rules need only the import paths.
  eslint = new ESLint({ cwd: process.cwd(), overrideConfig: [tseslint.configs.disableTypeChecked] });
});

async function problems(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).map((message) => `${message.ruleId}: ${message.message}`);
}

const REFUSED: [string, string, RegExp][] = [
  ['src/gateway/uplink/wrong.ts', "import type { Store } from '../../store/store.js';\nexport type X = Store;\n", /gateway\/ may not import store\//],
  ['src/gateway/wrong.ts', "import type { Authority } from '../authority/authority.js';\nexport type X = Authority;\n", /gateway\/ may not import authority\//],
  ['src/device/wrong.ts', "import type { KeyProvider } from '../keys/key-provider.js';\nexport type X = KeyProvider;\n", /device\/ may not import keys\//],
  ['src/pki/wrong.ts', "import type { Store } from '../store/store.js';\nexport type X = Store;\n", /pki\/ may not import store\//],
  [
    'src/api/wrong.ts',
    "import { registerAcmeServer } from '../acme/http/acme-server.js';\nexport const x = registerAcmeServer;\n",
    /api\/ may not import acme\//,
  ],
  [
    'src/authority/wrong.ts',
    "import { HttpsTransport } from '../device/https-transport.js';\nexport const x = HttpsTransport;\n",
    /authority\/ may not import device\//,
  ],
  [
    'src/gateway/downlink/wrong.ts',
    "import { DeviceCommands } from '../../commands/device-commands.js';\nexport const x = DeviceCommands;\n",
    /gateway\/ may not import commands\//,
  ],
  ['src/commands/wrong.ts', "import { serverApp } from '../api/server-app.js';\nexport const x = serverApp;\n", /commands\/ may not import api\//],
  ['src/pki/wrong.ts', "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n", /domain code does no I\/O/],
  ['src/ledger/wrong.ts', "import { Kysely } from 'kysely';\nexport const x = Kysely;\n", /domain code does no I\/O/],
];

for (const [file, code, expected] of REFUSED) {
  test(`refused: ${file} ${code.split('\n')[0]}`, async () => {
    const found = await problems(file, code);
    assert.ok(
      found.some((line) => expected.test(line)),
      `expected ${expected} among: ${JSON.stringify(found)}`,
    );
  });
}

const ALLOWED: [string, string][] = [
  ['src/control-plane/right.ts', "import { registerAcmeServer } from '../acme/http/acme-server.js';\nexport const x = registerAcmeServer;\n"],
  ['src/gateway/right.ts', "import { HttpsTransport } from '../device/https-transport.js';\nexport const x = HttpsTransport;\n"],
  ['src/pki/right.ts', "import { isIP } from 'node:net';\nimport { createHash } from 'node:crypto';\nexport const x = [isIP, createHash];\n"],
  ['src/authority/right.ts', "import type { Store } from '../store/store.js';\nexport type X = Store;\n"],
  ['src/commands/right.ts', "import type { Store } from '../store/store.js';\nexport type X = Store;\n"],
  ['src/api/routes/right.ts', "import { DeviceCommands } from '../../commands/device-commands.js';\nexport const x = DeviceCommands;\n"],
];

for (const [file, code] of ALLOWED) {
  test(`allowed: ${file} ${code.split('\n')[0]}`, async () => {
    assert.deepEqual(await problems(file, code), []);
  });
}
