import { promises as fs } from 'node:fs';
import { Injectable, NotFoundException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { ArtifactTimeoutError, Artifacts } from '@cvp/artifacts';
import {
  type BenchJobResult,
  benchReportSchema,
  type BenchReport,
  type EngineConfig,
  engineConfigSchema,
} from '@cvp/contracts';
import { OnJobSucceeded, type SucceededJob } from '@cvp/jobs';
import type { Repository } from 'typeorm';
import { BenchmarkEntity } from './benchmark.entity';

export interface BenchmarkView {
  id: string;
  modelId: string;
  modelVersion: number;
  jobId: string;
  status: string;
  selectedId: string | null;
  selected: EngineConfig | null;
  baselineP50Ms: number;
  selectedP50Ms: number | null;
  summary: string;
  reportDir: string;
  createdAt: string;
}

export type ReportView = 'technical' | 'simple';
export type ReportFormat = 'json' | 'html';

/** Files a benchmark folder holds, by view and format (written by apps/bench). */
const REPORT_FILES: Record<ReportView, Record<ReportFormat, string>> = {
  technical: { json: 'report.json', html: 'technical.html' },
  simple: { json: 'report.json', html: 'simple.html' },
};
/** Bound on what the gateway reads back from a report folder. */
const MAX_REPORT_BYTES = 32 * 1024 * 1024;

/** Thrown when a finished bench job's result cannot become a benchmarks row. */
export class InvalidBenchResultError extends Error {
  override name = 'InvalidBenchResultError';
}

/**
 * Benchmarks: rows are created when a bench job succeeds; reads serve the reports apps/bench
 * wrote and the latest selection other modules deploy.
 */
@Injectable()
export class BenchmarksService {
  constructor(
    @InjectRepository(BenchmarkEntity) private readonly repo: Repository<BenchmarkEntity>,
    private readonly artifacts: Artifacts,
  ) {}

  /** The engine bench chose for the model's latest benchmark that selected one; null when none did. */
  async latestSelection(modelId: string): Promise<{ benchmarkId: string; config: EngineConfig } | null> {
    const b = await this.latestSelected(modelId);
    return b?.selected ? { benchmarkId: b.id, config: b.selected } : null;
  }

  /** The newest benchmark of a model that selected an engine. */
  async latestSelected(modelId: string): Promise<BenchmarkView | null> {
    const row = await this.repo.findOne({
      where: { modelId, status: 'selected' },
      order: { createdAt: 'DESC', id: 'DESC' },
    });
    return row ? toView(row) : null;
  }

  /** The latest benchmark of a model, whatever it concluded. */
  async latest(modelId: string): Promise<BenchmarkView | null> {
    const row = await this.repo.findOne({ where: { modelId }, order: { createdAt: 'DESC', id: 'DESC' } });
    return row ? toView(row) : null;
  }

  async list(modelId?: string, limit = 100, ownerId?: string): Promise<BenchmarkView[]> {
    const rows = await this.repo.find({
      where: { ...(modelId ? { modelId } : {}), ...(ownerId ? { ownerId } : {}) },
      order: { createdAt: 'DESC', id: 'DESC' },
      take: limit,
    });
    return rows.map(toView);
  }

  async get(id: string): Promise<BenchmarkView> {
    const row = await this.repo.findOne({ where: { id } });
    if (!row) throw new NotFoundException(`benchmark ${id} not found`);
    return toView(row);
  }

  /** A succeeded bench job becomes a row before the job is stored succeeded; its result gains the report URL. */
  @OnJobSucceeded('bench')
  async onBenchSucceeded(job: SucceededJob<'bench'>): Promise<{ benchmarkId: string; reportUrl: string }> {
    const b = await this.recordFromJob(job, job.result);
    return { benchmarkId: b.id, reportUrl: `/api/v1/benchmarks/${b.id}/report` };
  }

  /**
   * Stores a succeeded bench job as a row (idempotent by job id: a redelivered completion
   * returns the row already stored). Rejects results whose report lies outside the data dir.
   */
  async recordFromJob(job: { id: string; ownerId: string }, r: BenchJobResult): Promise<BenchmarkView> {
    const existing = await this.repo.findOne({ where: { jobId: job.id } });
    if (existing) return toView(existing);
    let reportDir: string;
    try {
      reportDir = this.artifacts.normalizeRef(r.reportDir);
    } catch {
      throw new InvalidBenchResultError(`report folder ${r.reportDir} is outside the data dir`);
    }
    const row = this.repo.create({
      id: r.benchmarkId,
      modelId: r.modelId,
      modelVersion: r.modelVersion,
      jobId: job.id,
      ownerId: job.ownerId,
      status: r.status,
      selectedConfig: r.selected ? JSON.stringify(r.selected) : null,
      selectedId: r.selectedId,
      baselineP50Ms: r.baselineP50Ms,
      selectedP50Ms: r.selectedP50Ms,
      summary: r.summary.slice(0, 4000),
      reportDir,
      createdAt: new Date().toISOString(),
    });
    await this.repo.save(row);
    return toView(row);
  }

  /** The report in the asked view and format: JSON object, or an HTML document as a string. */
  async report(
    id: string,
    view: ReportView,
    format: ReportFormat,
  ): Promise<{ contentType: string; body: string | object }> {
    const b = await this.get(id);
    let key: string;
    try {
      key = this.artifacts.keyOf(this.artifacts.childRef(b.reportDir, REPORT_FILES[view][format]));
    } catch {
      throw new NotFoundException(`report of benchmark ${id} is not available`);
    }
    // Fetched from the store when bench ran on another host (then a cache hit).
    const text = await this.artifacts.withFile(key, readBounded).catch((e: unknown) => {
      if (e instanceof ArtifactTimeoutError) throw e; // the store is unreachable: 503, not 404
      throw new NotFoundException(`report ${view}/${format} of benchmark ${id} is not available`);
    });
    if (format === 'html') return { contentType: 'text/html; charset=utf-8', body: text };
    const report: BenchReport = benchReportSchema.parse(JSON.parse(text));
    if (view === 'simple') {
      return {
        contentType: 'application/json',
        body: {
          id: report.id,
          modelId: report.model.id,
          modelVersion: report.model.version,
          ...report.simple,
          status: report.decision.status,
        },
      };
    }
    return { contentType: 'application/json', body: report };
  }
}

function toView(row: BenchmarkEntity): BenchmarkView {
  return {
    id: row.id,
    modelId: row.modelId,
    modelVersion: row.modelVersion,
    jobId: row.jobId,
    status: row.status,
    selectedId: row.selectedId,
    selected: row.selectedConfig ? engineConfigSchema.parse(JSON.parse(row.selectedConfig)) : null,
    baselineP50Ms: row.baselineP50Ms,
    selectedP50Ms: row.selectedP50Ms,
    summary: row.summary,
    reportDir: row.reportDir,
    createdAt: row.createdAt,
  };
}

async function readBounded(file: string): Promise<string> {
  const st = await fs.lstat(file);
  if (!st.isFile() || st.size > MAX_REPORT_BYTES) throw new Error('not a regular file within the size bound');
  return fs.readFile(file, 'utf8');
}
