import { BadRequestException, Injectable, type PipeTransform } from '@nestjs/common';

/** Containers deeper than this are refused rather than walked (the walk itself stays bounded). */
const MAX_DEPTH = 64;

/** The first path at which a string holds U+0000, or 'too deep'; null when there is none. */
export function findNulCharacter(value: unknown): string | null {
  const stack: [unknown, string, number][] = [[value, '', 0]];
  while (stack.length) {
    const [v, at, depth] = stack.pop()!;
    if (typeof v === 'string') {
      if (v.includes('\u0000')) return at || '(value)';
      continue;
    }
    if (v === null || typeof v !== 'object' || ArrayBuffer.isView(v) || v instanceof ArrayBuffer) continue;
    if (depth >= MAX_DEPTH) return 'too deep';
    for (const [k, child] of Object.entries(v)) {
      if (k.includes('\u0000')) return at ? `${at}.${k}` : k;
      stack.push([child, at ? `${at}.${k}` : k, depth + 1]);
    }
  }
  return null;
}

/**
 * Global pipe: refuses NUL characters in every route parameter, query and body value with 400.
 * PostgreSQL's text cannot hold them (SQLite's can), so without this the same request would be
 * stored on one engine and fail with 500 on the other; no name, id or label needs one.
 */
@Injectable()
export class NoNulCharactersPipe implements PipeTransform {
  transform(value: unknown): unknown {
    const at = findNulCharacter(value);
    if (at === 'too deep') throw new BadRequestException(`input nested deeper than ${MAX_DEPTH} levels`);
    if (at !== null) throw new BadRequestException(`${at}: text may not contain NUL (U+0000) characters`);
    return value;
  }
}
