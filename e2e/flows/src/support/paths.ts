import path from 'node:path';

/** The repository root (artifacts/ and python/ live there). */
export const REPO_ROOT = path.resolve(__dirname, '../../../..');
