import { Module } from '@nestjs/common';
import { CpuProfileResponder } from './cpu-profile.responder';
import { CpuProfiler } from './cpu-profiler';

/** On-demand CPU profiles of this process, asked for over NATS (bench's load steps). */
@Module({ providers: [CpuProfiler, CpuProfileResponder] })
export class ProfilingModule {}
