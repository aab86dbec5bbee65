import type { components } from './generated/openapi';

/** The gateway's schemas under short names (generated from its OpenAPI document). */
type S = components['schemas'];
export type Problem = S['Problem'];
export type TokenPair = S['TokenPairDto'];
export type Principal = S['PrincipalDto'];
export type User = S['UserDto'];
export type UserPage = S['UserPageDto'];
export type CreateUser = S['CreateUserDto'];
export type UpdateUser = S['UpdateUserDto'];
export type ApiKey = S['ApiKeyDto'];
export type CreatedApiKey = S['CreatedApiKeyDto'];
export type ApiKeyPage = S['ApiKeyPageDto'];
export type AuditPage = S['AuditPageDto'];
export type Model = S['ModelDto'];
export type ModelPage = S['ModelPageDto'];
export type AcceptedModel = S['AcceptedModelDto'];
export type Dataset = S['DatasetDto'];
export type DatasetSummary = S['DatasetSummaryDto'];
export type DatasetPage = S['DatasetPageDto'];
export type DatasetReport = S['DatasetReportDto'];
export type Job = S['JobView'];
export type JobPage = S['JobPageDto'];
export type StreamToken = S['StreamTokenView'];
export type Benchmark = S['BenchmarkDto'];
export type SimpleReport = S['SimpleReportDto'];
export type GpuLeases = S['GpuLeasesDto'];
export type Deployment = S['DeploymentDto'];
export type CreateDeployment = S['CreateDeploymentDto'];
export type Package = S['PackageDto'];
export type InferResult = S['InferResultDto'];
export type BenchConstraints = S['BenchConstraintsDto'];

/** Inputs of each job type (POST /jobs/{type}). */
export interface JobInputs {
  convert: S['ConvertJobInputDto'];
  train: S['TrainJobInputDto'];
  tune: S['TuneJobInputDto'];
  bench: S['BenchJobInputDto'];
  package: S['PackageJobInputDto'];
}
export type JobType = keyof JobInputs;
export type JobState = Job['state'];
