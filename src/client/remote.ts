// RemoteLogClient: the LogClient interface over a collector's HTTP API.
import { ElmahError } from '../model/errors.js';
import type { LogClient } from './types.js';

/** Speaks to a collector. */
export const RemoteLogClient = class {
  constructor(_url: string, _key: string | undefined, _options: { timeoutMs?: number | undefined } = {}) {
    throw new ElmahError('ERR_ELMAH_STORE_URL', 'Collector clients are not built yet.');
  }
} as unknown as new (url: string, key: string | undefined, options?: { timeoutMs?: number | undefined }) => LogClient;
