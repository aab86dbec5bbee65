import type { INestApplication } from '@nestjs/common';
import { ModulesContainer } from '@nestjs/core';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { ACCESS_KEY, type AccessDeclaration } from '@cvp/platform';
import { PROBLEM_CONTENT_TYPE, ROLES } from '@cvp/contracts';

type Operation = NonNullable<OpenAPIObject['paths'][string]['get']>;
type Responses = Operation['responses'];

/** Operation ids name the feature and the handler: `Models_upload`. */
const operationId = (controllerKey: string, methodKey: string) =>
  `${controllerKey.replace(/Controller$/, '')}_${methodKey}`;

const PROBLEM_SCHEMA = {
  type: 'object',
  description: 'RFC 9457 problem details; every error of the API has this shape',
  required: ['type', 'title', 'status'],
  properties: {
    type: { type: 'string', description: 'stable URN to switch on', example: 'urn:cvp:problem:not-found' },
    title: { type: 'string', example: 'Not Found' },
    status: { type: 'integer', example: 404 },
    detail: { type: 'string', description: 'what went wrong, for a person' },
    instance: { type: 'string', description: 'the request path' },
    correlationId: { type: 'string', description: 'finds the request in every service log' },
    errors: {
      type: 'array',
      description: 'one entry per invalid field (validation failures)',
      items: {
        type: 'object',
        required: ['path', 'message'],
        properties: { path: { type: 'string' }, message: { type: 'string' } },
      },
    },
  },
  additionalProperties: true,
} as const;

const RETRY_AFTER = {
  'Retry-After': { description: 'seconds to wait before retrying, when the server knows', schema: { type: 'integer' } },
};

/** What each generic status means when a route does not say more. */
const GENERIC: Record<number, string> = {
  400: 'invalid input (malformed id, query or body); `errors` names each field',
  401: 'missing, expired or invalid credentials',
  403: 'the role of the caller may not do this',
  404: 'no such resource',
  413: 'request body over its size limit',
  500: 'unexpected error; the correlation id finds it in the logs',
};

/**
 * The gateway's OpenAPI document, built in this one place: Nest's scan of the controllers and DTOs,
 * then the responses every route shares, derived from what the route declares, so that the
 * document lists every status a client can get:
 * - security and 401 on every route that is not @Public(), 403 where its roles exclude some principal;
 * - 400 where a path parameter, query or body is parsed; 404 where the path names a resource;
 *   413 where a body is read (JSON bodies are capped too); 500 everywhere;
 * - every 4xx/5xx answer is application/problem+json, 429 and 503 carry Retry-After.
 * Route-specific statuses (409, 415, 422, 429, 503...) come from the controllers' decorators.
 */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const doc = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('cvp gateway')
      .setDescription(
        'CV model optimization and deployment platform. Errors are RFC 9457 application/problem+json. ' +
          'The `cvp` command and the typed SDK (libs/sdk) are generated from this document.',
      )
      .setVersion('1')
      .addBearerAuth({
        type: 'http',
        scheme: 'bearer',
        description: 'JWT access token, or an API key (cvp_...) for inference',
      })
      .build(),
    { operationIdFactory: operationId },
  );
  return withSharedResponses(doc, accessByOperation(app));
}

/** operationId -> access declaration of its handler (or its controller), read from the route metadata. */
function accessByOperation(app: INestApplication): Map<string, AccessDeclaration | undefined> {
  const out = new Map<string, AccessDeclaration | undefined>();
  for (const mod of app.get(ModulesContainer).values()) {
    for (const wrapper of mod.controllers.values()) {
      const ctrl = wrapper.metatype as (new (...a: unknown[]) => unknown) | undefined;
      if (!ctrl?.prototype) continue;
      const proto = ctrl.prototype as Record<string, unknown>;
      for (const name of Object.getOwnPropertyNames(proto)) {
        const fn = proto[name];
        if (name === 'constructor' || typeof fn !== 'function') continue;
        const access = (Reflect.getMetadata(ACCESS_KEY, fn) ?? Reflect.getMetadata(ACCESS_KEY, ctrl)) as
          AccessDeclaration | undefined;
        out.set(operationId(ctrl.name, name), access);
      }
    }
  }
  return out;
}

const EVERY_PRINCIPAL = [...ROLES, 'infer'];

function withSharedResponses(doc: OpenAPIObject, access: Map<string, AccessDeclaration | undefined>): OpenAPIObject {
  doc.components ??= {};
  doc.components.schemas = { ...doc.components.schemas, Problem: PROBLEM_SCHEMA as never };
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of ['get', 'put', 'post', 'delete', 'patch'] as const) {
      const op = item[method];
      if (!op) continue;
      const decl = access.get(op.operationId ?? '');
      const secured = !!decl && !('public' in decl);
      const add = (status: number) => {
        op.responses[status] ??= { description: GENERIC[status] };
      };
      if (secured) {
        op.security = [{ bearer: [] }];
        add(401);
        if (!EVERY_PRINCIPAL.every((p) => (decl as { roles: string[] }).roles.includes(p))) add(403);
      } else {
        delete op.security;
      }
      const params = op.parameters ?? [];
      if (params.length || op.requestBody) add(400);
      if (path.includes('{')) add(404);
      if (op.requestBody) add(413);
      add(500);
      problemBodies(op.responses);
    }
  }
  return doc;
}

/** Every error answer is problem+json; 429 and 503 say when to retry. */
function problemBodies(responses: Responses): void {
  for (const [code, r] of Object.entries(responses)) {
    const status = Number(code);
    if (!(status >= 400) || !r || '$ref' in r) continue;
    r.content = { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: '#/components/schemas/Problem' } } };
    if (status === 429 || status === 503) r.headers = { ...r.headers, ...RETRY_AFTER };
  }
}
