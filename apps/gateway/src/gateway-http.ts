import { type INestApplication, RequestMethod } from '@nestjs/common';
import { SwaggerModule } from '@nestjs/swagger';
import { buildOpenApiDocument } from './openapi/openapi-document';

export const API_PREFIX = 'api/v1';
export const API_DOCS_PATH = 'api/docs';

/**
 * HTTP set-up shared by main.ts and the in-process test app: REST under /api/v1 (health probes
 * and /metrics stay at the root for the supervisor and Prometheus), OpenAPI UI at /api/docs, the
 * web UI at /ui.
 */
export function configureGatewayHttp(app: INestApplication): void {
  app.setGlobalPrefix(API_PREFIX, {
    exclude: [
      { path: 'health/live', method: RequestMethod.GET },
      { path: 'health/ready', method: RequestMethod.GET },
      { path: 'metrics', method: RequestMethod.GET },
      // The web UI lives at /ui (pages, their actions and assets).
      { path: 'ui', method: RequestMethod.ALL },
      { path: 'ui/{*path}', method: RequestMethod.ALL },
    ],
  });
  const doc = buildOpenApiDocument(app);
  SwaggerModule.setup(API_DOCS_PATH, app, doc, { jsonDocumentUrl: `${API_DOCS_PATH}/openapi.json` });
}
