/**
 * Errors shared by the adapters, so every RuntimeStore (SQLite, SSM) fails the same way for the same cause.
 */
import { KarmaError, StoreError } from '../core/errors.ts';

/** put(name, value, { overwrite: false }) on a name that already exists (SSM's ParameterAlreadyExists). */
export class ParameterExistsError extends StoreError {
  override readonly name: string = 'ParameterExistsError';
}

/** A notification (SNS Publish) could not be sent. */
export class NotifyError extends KarmaError {
  override readonly name: string = 'NotifyError';
}

/** The config repo could not be fetched: the server unreachable, authentication or access (401/403), or credentials missing. Exit 1. */
export class GitAccessError extends KarmaError {
  override readonly name: string = 'GitAccessError';
}
