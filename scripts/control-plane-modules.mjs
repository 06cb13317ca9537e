// The compiled control-plane modules the scripts start a control plane with, imported here and
// nowhere else in scripts/: when the composition root moves, this is the one path to change.
export { startControlPlane } from '../dist/src/control-plane/control-plane.js';
export { setUpInstallation } from '../dist/src/authority/installation-setup.js';
export { loadConfig } from '../dist/src/core/config.js';
export { createLogger } from '../dist/src/core/logger.js';
export { ROLES, PERMISSIONS, authorize } from '../dist/src/access/principal.js';
