/**
 * LockStore on SSM Parameter Store. A lock is the parameter `<lockPrefix>/<name>` (outside the runtime prefix,
 * so Karma's EventBridge rule never sees lock traffic) created with Overwrite=false: SSM refuses a second
 * create, which makes acquisition atomic. Its value is {owner, host?, pid?, acquiredAt, expiresAt} (times in
 * epoch milliseconds); an expired lock, or one whose holder the caller declares gone, is deleted and re-created
 * (a racer that re-creates it first wins, the other sees ParameterAlreadyExists). Release deletes only the
 * owner's own locks. SSM has no conditional delete: between reading a holder and deleting its lock another
 * writer could replace it; the window is one round trip, and only expired or dead holders are ever deleted.
 */
import {
  DeleteParameterCommand,
  GetParameterCommand,
  GetParametersByPathCommand,
  ParameterAlreadyExists,
  ParameterNotFound,
  PutParameterCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { StoreError } from '../../core/errors.ts';
import type { AcquireOptions, AcquireResult, Clock, LockHolder, LockInfo, LockStore } from '../../ports.ts';
import { systemClock } from '../../ports.ts';

interface LockValue {
  owner: string;
  host?: string;
  pid?: number;
  /** Absent in locks written before it was recorded: the parameter's LastModifiedDate stands in. */
  acquiredAt?: number;
  expiresAt: number;
}

function toInfo(name: string, value: LockValue, modified?: Date): LockInfo {
  const acquired = value.acquiredAt ?? modified?.getTime() ?? value.expiresAt;
  return {
    name,
    owner: value.owner,
    ...(value.host !== undefined ? { host: value.host } : {}),
    ...(value.pid !== undefined ? { pid: value.pid } : {}),
    acquiredAt: new Date(acquired).toISOString(),
    expiresAt: new Date(value.expiresAt).toISOString(),
  };
}

function parseValue(path: string, text: string | undefined): LockValue {
  try {
    const v = JSON.parse(text ?? '') as Partial<LockValue>;
    if (typeof v.owner === 'string' && typeof v.expiresAt === 'number') return v as LockValue;
  } catch {
    // reported below
  }
  throw new StoreError(`lock ${path} holds ${JSON.stringify(text)}, not {owner, expiresAt}; delete it with \`karma lock release ENV --force\``);
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

  private async read(name: string): Promise<LockInfo | undefined> {
    let out;
    try {
      out = await this.client.send(new GetParameterCommand({ Name: this.path(name) }));
    } catch (error) {
      if (error instanceof ParameterNotFound) return undefined;
      throw new StoreError(`reading lock ${this.path(name)}: ${(error as Error).message}`, { cause: error });
    }
    return toInfo(name, parseValue(this.path(name), out.Parameter?.Value), out.Parameter?.LastModifiedDate);
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

  async acquire(names: readonly string[], holder: LockHolder, ttlSeconds: number, options: AcquireOptions = {}): Promise<AcquireResult> {
    const taken: string[] = [];
    const tookOver: LockInfo[] = [];
    const now = this.clock.now().getTime();
    const value: LockValue = {
      owner: holder.owner,
      ...(holder.host !== undefined ? { host: holder.host } : {}),
      ...(holder.pid !== undefined ? { pid: holder.pid } : {}),
      acquiredAt: now,
      expiresAt: now + ttlSeconds * 1000,
    };
    for (const name of [...names].sort()) {
      let ok = await this.create(name, value);
      if (!ok) {
        const current = await this.read(name);
        if (current?.owner === holder.owner) ok = true;
        else if (current) {
          const expired = Date.parse(current.expiresAt) <= now;
          const gone = !expired && options.canTakeOver?.(current) === true;
          if (expired || gone) {
            await this.remove(name);
            ok = await this.create(name, value);
            if (ok && gone) tookOver.push(current);
          }
        } else {
          ok = await this.create(name, value); // released between our create and read
        }
        if (!ok) {
          await this.release(taken, holder.owner);
          const heldBy = (await this.read(name)) ?? { name, owner: 'another execution', acquiredAt: new Date(now).toISOString(), expiresAt: new Date(now).toISOString() };
          return { acquired: false, heldBy, tookOver: [] };
        }
      }
      taken.push(name);
    }
    return { acquired: true, tookOver };
  }

  async release(names: readonly string[], owner: string): Promise<void> {
    for (const name of names) {
      const holder = await this.read(name);
      if (holder?.owner === owner) await this.remove(name);
    }
  }

  async list(): Promise<LockInfo[]> {
    const out: LockInfo[] = [];
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(new GetParametersByPathCommand({ Path: this.prefix, Recursive: false, MaxResults: 10, ...(token ? { NextToken: token } : {}) }));
      } catch (error) {
        throw new StoreError(`listing locks under ${this.prefix}: ${(error as Error).message}`, { cause: error });
      }
      for (const p of page.Parameters ?? []) {
        const name = p.Name!.slice(this.prefix.length + 1);
        out.push(toInfo(name, parseValue(p.Name!, p.Value), p.LastModifiedDate));
      }
      token = page.NextToken;
    } while (token);
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  async forceRelease(name: string, owner?: string): Promise<LockInfo | undefined> {
    let current: LockInfo | undefined;
    try {
      current = await this.read(name);
    } catch (error) {
      // An unreadable value is exactly what --force is for: delete it.
      if (owner !== undefined || !(error instanceof StoreError)) throw error;
      await this.remove(name);
      const now = new Date(this.clock.now().getTime()).toISOString();
      return { name, owner: '(unreadable)', acquiredAt: now, expiresAt: now };
    }
    if (!current || (owner !== undefined && current.owner !== owner)) return undefined;
    await this.remove(name);
    return current;
  }
}
