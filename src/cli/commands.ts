import type { Command } from './command.js';
import { bootstrapCommand } from './bootstrap-command.js';
import { edgesCommand } from './edges-command.js';
import { injectCommand } from './inject-command.js';
import { authzCheckCommand } from './authz-command.js';
import { plaintextCommand } from './plaintext-command.js';
import { tokenCreateCommand } from './token-command.js';
import { agentCommand } from './agent-command.js';
import { caRotateRootCommand, caStatusCommand } from './ca-command.js';

/** Every meshctl subcommand, in help order. */
export const commands: readonly Command[] = [
  bootstrapCommand,
  injectCommand,
  edgesCommand,
  authzCheckCommand,
  plaintextCommand,
  tokenCreateCommand,
  agentCommand,
  caStatusCommand, caRotateRootCommand,
];
