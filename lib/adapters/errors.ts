/**
 * Errors shared by the adapters, so every RuntimeStore (SQLite, SSM) fails the same way for the same cause.
 */
import { StoreError } from '../core/errors.ts';

/** put(name, value, { overwrite: false }) on a name that already exists (SSM's ParameterAlreadyExists). */
export class ParameterExistsError extends StoreError {}
