// `express-elmah deploy`: records that a version went out, for CI pipelines. It writes through a LogClient
// with a key from ELMAH_DEPLOY_KEY (one that carries only deployments_write), to a store or a collector.
import type { Command } from 'commander';
import { connect } from '../client/connect.js';
import { deploymentToWire } from '../model/deployment.js';
import { ElmahError } from '../model/errors.js';
import { addCommonOptions, outputFor, storeUrlFor, type CommonOptions } from './context.js';
import type { CliIo } from './output.js';

interface DeployOptions extends CommonOptions {
  version: string;
  description?: string;
  log?: string;
  userName?: string;
  userEmail?: string;
  created?: string;
}

/** Adds the `deploy` command to the program. */
export function registerDeploy(program: Command, io: CliIo): void {
  addCommonOptions(
    program
      .command('deploy')
      .description('record a deployment (a version that went out) with the key in ELMAH_DEPLOY_KEY; --store may be a collector URL')
      .requiredOption('--version <version>', 'the version that went out, e.g. 1.4.2 or a commit hash')
      .option('--description <text>', 'what changed')
      .option('--log <name>', 'the log it belongs to (default: every log)')
      .option('--user-name <name>', 'who deployed')
      .option('--user-email <address>', "the deployer's e-mail address")
      .option('--created <iso-time>', 'when it went out (default: now)'),
  ).action(async function deploy(options: DeployOptions) {
    const out = outputFor(io, options);
    const key = io.env.ELMAH_DEPLOY_KEY?.trim();
    if (!key) {
      throw new ElmahError('ERR_ELMAH_KEY_MISSING', 'express-elmah deploy needs a key in ELMAH_DEPLOY_KEY.', {
        help: 'Create one that can only record deployments: express-elmah keys create --name ci --permissions deployments_write',
      });
    }
    const client = await connect({ store: storeUrlFor(options.store, io), key });
    try {
      const { status, deployment } = await client.deploy({
        version: options.version,
        description: options.description,
        logId: options.log,
        userName: options.userName,
        userEmail: options.userEmail,
        created: options.created,
      });
      out.data({ status, deployment: deploymentToWire(deployment), store: client.describe().location });
      const scope = deployment.log === undefined ? 'every log' : `log "${deployment.log}"`;
      out.line(
        `${status === 'created' ? 'Recorded' : 'Already recorded:'} deployment ${deployment.version} of ${scope} at ${deployment.created} in ${client.describe().location}.`,
      );
    } finally {
      await client.close();
    }
  });
}
