#!/usr/bin/env node
/** `hearth`: the command line of the Hearth trust platform. */
import { registerIntegrationCommands } from './commands/integrations.js';
import { registerTokenCommands } from './commands/tokens.js';
import { registerHomeCommands } from './commands/homes.js';
import { Command, CommanderError } from '@commander-js/extra-typings';
import { HearthError } from '../core/errors.js';
import { ApiError } from './api-client.js';
import { registerAcmeCommands } from './commands/acme.js';
import { registerAuditCommands } from './commands/audit.js';
import { registerCaCommands } from './commands/ca.js';
import { registerCertCommands } from './commands/cert.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerFactoryCommands } from './commands/factory.js';
import { registerGatewayCommand } from './commands/gateway.js';
import { registerGatewaysCommands } from './commands/gateways.js';
import { registerInitCommand } from './commands/init.js';
import { registerProvisioningCommands } from './commands/provisioning.js';
import { registerSensorCommands } from './commands/sensor.js';
import { registerServeCommand } from './commands/serve.js';

const program = new Command();
program.name('hearth').description('Hearth: identities, revocation and audit for smart-home device fleets').version('0.1.0');
program.exitOverride();
registerInitCommand(program);
registerServeCommand(program);
registerGatewayCommand(program);
registerGatewaysCommands(program);
registerSensorCommands(program);
registerCaCommands(program);
registerCertCommands(program);
registerAuditCommands(program);
registerAcmeCommands(program);
registerDemoCommand(program);
registerFactoryCommands(program);
registerProvisioningCommands(program);
registerTokenCommands(program);
registerHomeCommands(program);
registerIntegrationCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  const message = err instanceof HearthError || err instanceof ApiError || err instanceof Error ? err.message : String(err);
  console.error(`hearth: ${message}`);
  process.exit(err instanceof ApiError ? 2 : 1);
}
