import { z } from 'zod';

export const ROLES = ['admin', 'engineer', 'viewer'] as const;
export type Role = (typeof ROLES)[number];
/** The pseudo-role of an inference-only API key: the data plane and POST /models/:id/infer, nothing else. */
export const API_KEY_SCOPE = 'infer' as const;
export type Principal = Role | typeof API_KEY_SCOPE;
/** Roles an API key can act with, least to most: never more than its owner's role at the time of use. */
export const API_KEY_ROLES = [API_KEY_SCOPE, 'viewer', 'engineer', 'admin'] as const;
export type ApiKeyRole = (typeof API_KEY_ROLES)[number];
/** The lower of two principals' rights (an API key acts with the lower of its role and its owner's). */
export function lesserRole(a: ApiKeyRole, b: ApiKeyRole): ApiKeyRole {
  return API_KEY_ROLES.indexOf(a) <= API_KEY_ROLES.indexOf(b) ? a : b;
}

export const JOB_TYPES = ['convert', 'train', 'tune', 'bench', 'package'] as const;
export type JobType = (typeof JOB_TYPES)[number];
export const jobTypeSchema = z.enum(JOB_TYPES);

export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];
export const jobStateSchema = z.enum(JOB_STATES);
export const TERMINAL_JOB_STATES: readonly JobState[] = ['succeeded', 'failed', 'cancelled'];

export const ENGINE_IDS = ['native', 'ort-node'] as const;
export type EngineId = (typeof ENGINE_IDS)[number];
export const engineIdSchema = z.enum(ENGINE_IDS);

export const PROVIDERS = ['cpu', 'cuda', 'tensorrt'] as const;
export type Provider = (typeof PROVIDERS)[number];
export const PRECISIONS = ['fp32', 'fp16', 'int8'] as const;
export type Precision = (typeof PRECISIONS)[number];
export const GRAPH_OPT_LEVELS = ['disabled', 'basic', 'extended', 'all'] as const;
export type GraphOptLevel = (typeof GRAPH_OPT_LEVELS)[number];

export const MODEL_FORMATS = ['onnx', 'torchscript', 'ultralytics', 'tensorflow-savedmodel'] as const;
export type ModelFormat = (typeof MODEL_FORMATS)[number];
export const MODEL_TASKS = ['detect', 'classify'] as const;
export type ModelTask = (typeof MODEL_TASKS)[number];

export const DATASET_FORMATS = ['yolo', 'imagefolder'] as const;
export type DatasetFormat = (typeof DATASET_FORMATS)[number];

export const TUNE_STRATEGIES = ['ga', 'nsga2', 'tpe', 'cmaes', 'random'] as const;
export type TuneStrategy = (typeof TUNE_STRATEGIES)[number];

/** Lease priorities, highest first: inference > bench > train. */
export const LEASE_PRIORITIES = ['inference', 'bench', 'train'] as const;
export type LeasePriority = (typeof LEASE_PRIORITIES)[number];
