import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBody,
  ApiConflictResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiQuery,
  ApiTags,
} from '@nestjs/swagger';
import { Roles } from '@cvp/platform';
import { ZodValidationPipe } from '../common/zod-validation.pipe';
import { ownerFilter } from '../auth/ownership';
import { type AuthenticatedPrincipal, CurrentPrincipal } from '../auth/principal';
import {
  type CreateDeployment,
  CreateDeploymentDto,
  createDeploymentSchema,
  DeploymentDto,
  listDeploymentsQuery,
  type ListDeploymentsQuery,
} from './deployments.dto';
import { DeploymentsService } from './deployments.service';

@ApiTags('deployments')
@Controller('deployments')
export class DeploymentsController {
  constructor(private readonly deployments: DeploymentsService) {}

  @Post()
  @HttpCode(202)
  @Roles('admin', 'engineer')
  @ApiOperation({
    summary:
      "Deploy a model on the data plane with an engine, or bench's selection (\"selected\"); loads asynchronously (state loading -> ready | failed). The model's owner or an admin: a deployment decides what the model's name serves.",
  })
  @ApiBody({ type: CreateDeploymentDto })
  @ApiAcceptedResponse({ type: DeploymentDto, description: 'state loading; poll GET /deployments/{id} until ready' })
  @ApiNotFoundResponse({ description: 'the model does not exist' })
  @ApiConflictResponse({ description: 'the model has no ONNX yet, or no benchmark selected an engine ("selected")' })
  create(
    @Body(new ZodValidationPipe(createDeploymentSchema)) body: CreateDeployment,
    @CurrentPrincipal() who: AuthenticatedPrincipal,
  ) {
    return this.deployments.create(body, who);
  }

  @Get()
  @Roles('admin', 'engineer', 'viewer')
  @ApiOperation({
    summary: 'Deployments, newest first (active ones unless all=true), optionally of one model or owner (?owner=me)',
  })
  @ApiOkResponse({ type: [DeploymentDto] })
  @ApiQuery({ name: 'modelId', required: false, type: String })
  @ApiQuery({ name: 'owner', required: false, type: String, description: '"me" or a user id' })
  @ApiQuery({ name: 'all', required: false, enum: ['true', 'false'], description: 'include removed, replaced, failed' })
  @ApiQuery({ name: 'limit', required: false, type: Number, description: '1-500, default 100' })
  list(
    @Query(new ZodValidationPipe(listDeploymentsQuery)) q: ListDeploymentsQuery,
    @CurrentPrincipal() who: AuthenticatedPrincipal,
  ) {
    return this.deployments.list(q, ownerFilter(q.owner, who));
  }

  @Get(':id')
  @Roles('admin', 'engineer', 'viewer')
  @ApiOperation({ summary: 'One deployment: engine, options, state and error' })
  @ApiOkResponse({ type: DeploymentDto })
  get(@Param('id') id: string) {
    return this.deployments.get(id);
  }

  @Delete(':id')
  @HttpCode(202)
  @Roles('admin', 'engineer')
  @ApiOperation({
    summary: 'Undeploy (idempotent; its owner or an admin): the data plane unloads after in-flight requests drain',
  })
  @ApiAcceptedResponse({ type: DeploymentDto })
  remove(@Param('id') id: string, @CurrentPrincipal() who: AuthenticatedPrincipal) {
    return this.deployments.remove(id, who);
  }
}
