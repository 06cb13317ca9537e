import { HearthError } from '../../core/errors.js';

/**
 * A factory command was given something it cannot use (a bad name, count or serial, a directory
 * that already holds a factory or a batch, an unreadable factory). Raised before anything is
 * written, so the message is all the operator needs to fix the command line.
 */
export class FactoryError extends HearthError {
  constructor(detail: string, slug = 'factory-input') {
    super(slug, 400, 'Unusable factory input', detail);
  }
}
