import { promises as fs } from 'node:fs';
import path from 'node:path';
import { type BenchReport, benchReportSchema } from '@cvp/contracts';
import { simpleHtml, technicalHtml } from './report-html';

async function writeAtomic(file: string, content: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, content);
  await fs.rename(tmp, file);
}

/** report.json (validated against the contract), decision.json, technical.html, simple.html. */
export async function writeReport(dir: string, report: BenchReport): Promise<{ files: string[] }> {
  const valid = benchReportSchema.parse(report);
  await fs.mkdir(dir, { recursive: true });
  const files = {
    'report.json': JSON.stringify(valid, null, 1),
    'decision.json': JSON.stringify(valid.decision, null, 1),
    'technical.html': technicalHtml(valid),
    'simple.html': simpleHtml(valid),
  };
  for (const [name, content] of Object.entries(files)) await writeAtomic(path.join(dir, name), content);
  return { files: Object.keys(files).map((f) => path.join(dir, f)) };
}
