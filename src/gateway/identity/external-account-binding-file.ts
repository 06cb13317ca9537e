/** The EAB key an operator made with `hearth acme eab-key`, read from a file so it never sits in gateway.yaml. */
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../../core/errors.js';
import type { ExternalAccountBinding } from '../../device/acme-client.js';

export const ExternalAccountBindingFile = {
  async read(kid: string, path: string): Promise<ExternalAccountBinding> {
    const text = (await readFile(path, 'utf8')).trim();
    if (!/^[A-Za-z0-9_-]{16,}$/.test(text)) throw new ConfigError(`${path} does not hold a base64url MAC key`);
    return { kid, hmacKey: Buffer.from(text, 'base64url') };
  },
};
