import { createReadStream } from 'node:fs';
import { BadRequestException, Controller, Delete, Get, HttpCode, Param, Query, Res } from '@nestjs/common';
import { ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { Roles } from '@cvp/platform';
import type { Response } from 'express';
import { ownerFilter } from '../auth/ownership';
import { type AuthenticatedPrincipal, CurrentPrincipal } from '../auth/principal';
import { listPackagesQuery, PackageDto } from './packages.dto';
import { PackagesService } from './packages.service';

@ApiTags('packages')
@Controller('packages')
export class PackagesController {
  constructor(private readonly packages: PackagesService) {}

  @Get()
  @Roles('admin', 'engineer', 'viewer')
  @ApiOperation({
    summary: 'Deployable bundles made by package jobs, newest first, optionally of one model or owner (?owner=me)',
  })
  @ApiOkResponse({ type: [PackageDto] })
  @ApiQuery({ name: 'modelId', required: false, type: String })
  @ApiQuery({ name: 'owner', required: false, type: String, description: '"me" or a user id' })
  @ApiQuery({ name: 'limit', required: false, type: Number, description: '1-500, default 100' })
  list(@Query() query: Record<string, unknown>, @CurrentPrincipal() who: AuthenticatedPrincipal) {
    const r = listPackagesQuery.safeParse(query);
    if (!r.success)
      throw new BadRequestException(r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    return this.packages.list(r.data.modelId, r.data.limit, ownerFilter(r.data.owner, who));
  }

  @Delete(':id')
  @Roles('admin', 'engineer')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a package and its tarball (its owner or an admin)' })
  @ApiNoContentResponse({ description: 'deleted with its tarball' })
  async remove(@Param('id') id: string, @CurrentPrincipal() who: AuthenticatedPrincipal) {
    await this.packages.remove(id, who);
  }

  @Get(':id')
  @Roles('admin', 'engineer', 'viewer')
  @ApiOperation({ summary: 'One package: model, engine, variant, tarball checksum and size' })
  @ApiOkResponse({ type: PackageDto })
  get(@Param('id') id: string) {
    return this.packages.get(id);
  }

  @Get(':id/download')
  @Roles('admin', 'engineer', 'viewer')
  @ApiOperation({
    summary:
      'The bundle tarball (.tar.gz), streamed with Content-Length and its SHA-256 (X-Checksum-Sha256, Repr-Digest)',
  })
  @ApiOkResponse({
    description: 'the tarball',
    content: { 'application/gzip': { schema: { type: 'string', format: 'binary' } } },
    headers: {
      'X-Checksum-Sha256': { description: 'hex SHA-256 of the body', schema: { type: 'string' } },
      'Repr-Digest': { description: 'RFC 9530 digest of the body', schema: { type: 'string' } },
      'Content-Disposition': { description: 'attachment; filename="<name>.tar.gz"', schema: { type: 'string' } },
    },
  })
  async download(@Param('id') id: string, @Res() res: Response) {
    const d = await this.packages.download(id);
    res.status(200);
    res.setHeader('Content-Type', 'application/gzip');
    res.setHeader('Content-Length', String(d.sizeBytes));
    res.setHeader('Content-Disposition', `attachment; filename="${d.fileName}"`);
    res.setHeader('X-Checksum-Sha256', d.sha256);
    // RFC 9530: the digest of the representation, base64 of the raw hash.
    res.setHeader('Repr-Digest', `sha-256=:${Buffer.from(d.sha256, 'hex').toString('base64')}:`);
    res.setHeader('Cache-Control', 'private, max-age=0, must-revalidate');
    res.setHeader('ETag', `"${d.sha256}"`);
    const stream = createReadStream(d.file);
    stream.on('error', (e) => res.destroy(e));
    stream.on('close', d.release);
    stream.pipe(res);
  }
}
