import { Injectable } from '@nestjs/common';
import { InjectConfig, MessageBus } from '@cvp/platform';
import { type KV, StorageType } from 'nats';
import { gpuLeaseConfig } from './gpu-leases.config';
import { emptyLeaseState, type LeaseState, upgradeLeaseState } from './lease-state';

const KEY = 'table';
const MISSING_TABLE_READS = 20;
const enc = new TextEncoder();
const dec = new TextDecoder();

export class LeaseContentionError extends Error {
  constructor() {
    super('lease table changed under every retry; try again');
    this.name = 'LeaseContentionError';
  }
}

const isCasConflict = (e: unknown) => /wrong last sequence|key exists|10071/i.test((e as Error)?.message ?? '');

/**
 * The lease table in a JetStream KV bucket (file storage: survives gateway and broker restarts).
 * Every change is a compare-and-set write on the revision it was computed from, so two writers
 * (say, an old and a new gateway during a restart) can never both decide on the same state.
 */
@Injectable()
export class LeaseStore {
  private kv?: KV;
  private readonly bucket: string;
  /** Writes refused because another writer (another gateway) got there first; each was decided again. */
  casConflicts = 0;

  constructor(
    private readonly bus: MessageBus,
    @InjectConfig() config: Record<string, unknown>,
  ) {
    this.bucket = gpuLeaseConfig(config).CVP_GPU_LEASE_BUCKET;
  }

  async open(): Promise<void> {
    // Only the newest table is read; a short history lets a monitor follow every decision (bounded).
    this.kv = await this.bus.jetstream().views.kv(this.bucket, { history: 64, storage: StorageType.File });
    try {
      await this.kv.create(KEY, enc.encode(JSON.stringify(emptyLeaseState())));
    } catch (e) {
      if (!isCasConflict(e)) throw e; // it exists: keep what is there
    }
  }

  async read(): Promise<{ state: LeaseState; revision: number }> {
    // A replicated bucket answers gets from any replica (direct get), and one that has not yet
    // applied the table's creation answers "no such key" for a moment: ask again, bounded (~1 s).
    // A stale table otherwise only costs a refused CAS write and a fresh decision.
    for (let attempt = 1; ; attempt++) {
      const e = await this.kv!.get(KEY);
      if (e && e.operation === 'PUT')
        return { state: upgradeLeaseState(JSON.parse(dec.decode(e.value)) as LeaseState), revision: e.revision };
      if (attempt >= MISSING_TABLE_READS) throw new Error(`lease table missing from bucket ${this.bucket}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Reads the table, lets `decide` change it, and writes it back only if nobody wrote in between;
   * on a conflict the decision is made again on the fresh table (bounded).
   */
  async transact<R>(
    decide: (s: LeaseState) => { changed: boolean; result: R },
  ): Promise<{ result: R; state: LeaseState; revision: number }> {
    for (let i = 0; i < 20; i++) {
      const { state, revision } = await this.read();
      const out = decide(state);
      if (!out.changed) return { result: out.result, state, revision };
      try {
        const rev = await this.kv!.update(KEY, enc.encode(JSON.stringify(state)), revision);
        return { result: out.result, state, revision: rev };
      } catch (e) {
        if (!isCasConflict(e)) throw e;
        this.casConflicts++;
      }
    }
    throw new LeaseContentionError();
  }
}
