import type { Command } from './command.js';
import { bootstrapCommand } from './bootstrap-command.js';
import { edgesCommand } from './edges-command.js';
import { injectCommand } from './inject-command.js';
import { authzCheckCommand } from './authz-command.js';
import { routeCheckCommand } from './route-check-command.js';
import { plaintextCommand } from './plaintext-command.js';
import { tokenCreateCommand } from './token-command.js';
import { agentCommand } from './agent-command.js';
import { caRotateRootCommand, caStatusCommand } from './ca-command.js';
import { proxyStatusCommand } from './proxy-status-command.js';
import { proxyConfigCommand } from './proxy-config-command.js';
import { describeCommand } from './describe-command.js';
import { identityCommand } from './identity-command.js';
import { checkCommand } from './check-command.js';
import { analyzeCommand } from './analyze-command.js';
import { versionCommand } from './version-command.js';

/** Every meshctl subcommand, in help order. */
export const commands: readonly Command[] = [
  proxyStatusCommand,
  proxyConfigCommand,
  describeCommand,
  identityCommand,
  checkCommand,
  analyzeCommand,
  bootstrapCommand,
  injectCommand,
  edgesCommand,
  authzCheckCommand,
  routeCheckCommand,
  plaintextCommand,
  tokenCreateCommand,
  agentCommand,
  caStatusCommand, caRotateRootCommand,
  versionCommand,
];
