/**
 * The AWS backend (SSM Parameter Store + Neptune). Implemented in lib/adapters/ssm and lib/adapters/neptune.
 */
import { UsageError } from '../core/errors.ts';
import type { Config } from '../core/model.ts';
import type { Backend, BackendOptions } from './backend.ts';

export async function openAwsBackend(_config: Config | undefined, _options: BackendOptions): Promise<Backend> {
  throw new UsageError('the aws backend is not part of this build yet; use --backend local');
}
