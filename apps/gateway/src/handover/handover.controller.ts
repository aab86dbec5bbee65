import { Body, Controller, HttpCode, Post, Req } from '@nestjs/common';
import { ApiBody, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Roles } from '@cvp/platform';
import type { AuditedRequest } from '../audit/audit.middleware';
import { ZodValidationPipe } from '../common/zod-validation.pipe';
import { HandoverDto, type HandoverInput, HandoverResultDto, handoverSchema } from './handover.dto';
import { HandoverService } from './handover.service';

@ApiTags('ownership')
@Roles('admin')
@Controller('ownership')
export class HandoverController {
  constructor(private readonly handovers: HandoverService) {}

  @Post('handover')
  @HttpCode(200)
  @ApiOperation({
    summary:
      "Hand a user's resources (models, data sets, jobs, deployments, packages, benchmarks, API keys) to another user: all of them, or the ones named. Audited with what moved.",
  })
  @ApiBody({ type: HandoverDto })
  @ApiOkResponse({ type: HandoverResultDto })
  @ApiNotFoundResponse({ description: 'the receiving user does not exist' })
  async handover(@Body(new ZodValidationPipe(handoverSchema)) body: HandoverInput, @Req() req: AuditedRequest) {
    const result = await this.handovers.handover(body);
    // The audit row of this call names both users and what moved.
    const moved = Object.entries(result.moved)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${k}=${n}`)
      .join(',');
    req.auditNote = {
      ...req.auditNote,
      target: body.fromUserId,
      detail: `handover to=${result.toUserId} moved ${moved || 'nothing'}${
        body.resources ? ` of ${body.resources.map((r) => `${r.kind}:${r.id}`).join(',')}` : ' (everything)'
      }`,
    };
    return result;
  }
}
