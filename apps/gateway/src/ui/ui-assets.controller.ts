import { Controller, Get, NotFoundException, Param, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { Public } from '@cvp/platform';
import type { Response } from 'express';
import { UiAssets } from './ui-assets';

@Controller('ui/assets')
@ApiExcludeController()
export class UiAssetsController {
  constructor(private readonly assets: UiAssets) {}

  /** Public (the sign-in page needs them); the hash in the path makes a year of caching safe. */
  @Get(':hash/:name')
  @Public()
  get(@Param('hash') hash: string, @Param('name') name: string, @Res() res: Response) {
    const a = this.assets.get(name);
    if (!a) throw new NotFoundException(`no asset ${name}`);
    res.setHeader('Content-Type', a.contentType);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('ETag', `"${a.hash}"`);
    // An old hash still gets today's file, but must not be cached as if it were that version.
    res.setHeader('Cache-Control', hash === a.hash ? 'public, max-age=31536000, immutable' : 'no-cache');
    res.send(a.body);
  }
}
