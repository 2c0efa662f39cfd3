/**
 * LockStore on SSM Parameter Store. A lock is the parameter `<lockPrefix>/<name>` (outside the runtime prefix,
 * so Karma's EventBridge rule never sees lock traffic) created with Overwrite=false: SSM refuses a second
 * create, which makes acquisition atomic. Its value is {owner, expiresAt}; an expired lock is deleted and
 * re-created (a racer that re-creates it first wins, the other sees ParameterAlreadyExists). Release deletes
 * only the owner's own locks.
 */
import {
  DeleteParameterCommand,
  GetParameterCommand,
  ParameterAlreadyExists,
  ParameterNotFound,
  PutParameterCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { StoreError } from '../../core/errors.ts';
import type { Clock, LockStore } from '../../ports.ts';
import { systemClock } from '../../ports.ts';

interface LockValue {
  owner: string;
  expiresAt: number;
}

export class SsmLockStore implements LockStore {
  private readonly client: SSMClient;
  private readonly prefix: string;
  private readonly clock: Clock;
  constructor(client: SSMClient, lockPrefix: string, clock: Clock = systemClock) {
    this.client = client;
    this.prefix = lockPrefix;
    this.clock = clock;
  }

  private path(name: string): string {
    return `${this.prefix}/${name}`;
  }

  private async read(name: string): Promise<LockValue | undefined> {
    try {
      const out = await this.client.send(new GetParameterCommand({ Name: this.path(name) }));
      return JSON.parse(out.Parameter?.Value ?? '{}') as LockValue;
    } catch (error) {
      if (error instanceof ParameterNotFound) return undefined;
      throw new StoreError(`reading lock ${this.path(name)}: ${(error as Error).message}`, { cause: error });
    }
  }

  private async create(name: string, value: LockValue): Promise<boolean> {
    try {
      await this.client.send(new PutParameterCommand({ Name: this.path(name), Value: JSON.stringify(value), Type: 'String', Overwrite: false }));
      return true;
    } catch (error) {
      if (error instanceof ParameterAlreadyExists) return false;
      throw new StoreError(`creating lock ${this.path(name)}: ${(error as Error).message}`, { cause: error });
    }
  }

  private async remove(name: string): Promise<void> {
    try {
      await this.client.send(new DeleteParameterCommand({ Name: this.path(name) }));
    } catch (error) {
      if (!(error instanceof ParameterNotFound)) throw new StoreError(`deleting lock ${this.path(name)}: ${(error as Error).message}`, { cause: error });
    }
  }

  async acquire(names: readonly string[], owner: string, ttlSeconds: number): Promise<{ acquired: boolean; heldBy?: string }> {
    const taken: string[] = [];
    const now = this.clock.now().getTime();
    for (const name of [...names].sort()) {
      const value = { owner, expiresAt: now + ttlSeconds * 1000 };
      let ok = await this.create(name, value);
      if (!ok) {
        const holder = await this.read(name);
        if (holder?.owner === owner) ok = true;
        else if (holder && holder.expiresAt <= now) {
          await this.remove(name);
          ok = await this.create(name, value);
        }
        if (!ok) {
          await this.release(taken, owner);
          return { acquired: false, heldBy: (await this.read(name))?.owner ?? 'another execution' };
        }
      }
      taken.push(name);
    }
    return { acquired: true };
  }

  async release(names: readonly string[], owner: string): Promise<void> {
    for (const name of names) {
      const holder = await this.read(name);
      if (holder?.owner === owner) await this.remove(name);
    }
  }
}
