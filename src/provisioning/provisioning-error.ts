import { HearthError } from '../core/errors.js';

/** A provisioning request refused for what it asks (an unknown manufacturer, a wrong setup code, ...). */
export class ProvisioningError extends HearthError {
  constructor(slug: string, status: number, title: string, detail: string) {
    super(slug, status, title, detail);
  }
}
