import { ERROR_CODES, type ErrorCode } from '../../shared/errors.ts';
import type { Role } from '../../shared/protocol.ts';
import { ROUTE_DOCS, type Answer, type RouteDoc } from './routes.ts';
import { componentRef, componentSchemas, type JsonSchema } from './schemas.ts';

/** A route as the server registered it: Fastify's method and URL pattern (`:param`). */
export interface RegisteredRoute {
  method: string;
  url: string;
  /** The roles its requireRole hook lets through. */
  roles?: readonly Role[];
}

export interface OpenApiParameter {
  name: string;
  in: 'path' | 'query';
  required: boolean;
  description: string;
  schema: JsonSchema;
}

export interface OpenApiOperation {
  operationId: string;
  summary: string;
  description: string;
  tags: string[];
  security: Record<string, string[]>[];
  parameters?: OpenApiParameter[];
  requestBody?: { required: boolean; content: Record<string, { schema: JsonSchema }> };
  responses: Record<string, { description: string; content?: Record<string, { schema: JsonSchema }> }>;
  [extension: `x-${string}`]: unknown;
}

/** The subset of OpenAPI 3.1 this server's document uses. */
export interface OpenApiDocument {
  openapi: '3.1.0';
  jsonSchemaDialect: string;
  info: { title: string; version: string; description: string };
  tags: { name: string; description: string }[];
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: {
    schemas: Record<string, JsonSchema>;
    securitySchemes: Record<string, JsonSchema>;
  };
}

export interface BuiltDocument {
  document: OpenApiDocument;
  /** Registered routes the catalogue does not describe: they are missing from the document. */
  undocumented: RegisteredRoute[];
}

const BEARER = 'bearerAuth';
const JSON_MEDIA = 'application/json';

/** `/api/sync/conflicts/:outboxEventId/resolve` → `/api/sync/conflicts/{outboxEventId}/resolve`. */
export function openApiPath(fastifyUrl: string): string {
  return fastifyUrl.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

const routeKey = (method: string, url: string): string => `${method.toUpperCase()} ${url}`;

/**
 * The OpenAPI 3.1 document of the routes the app registered (HEAD twins of GET routes left out), each from
 * its catalogue entry; schemas come from the shared zod schemas through z.toJSONSchema.
 */
export function buildOpenApiDocument(
  registered: readonly RegisteredRoute[],
  info: { version: string },
): BuiltDocument {
  const catalogue = new Map(ROUTE_DOCS.map((doc) => [routeKey(doc.method, doc.path), doc]));
  const paths: OpenApiDocument['paths'] = {};
  const undocumented: RegisteredRoute[] = [];
  const seen = new Set<string>();
  for (const route of registered) {
    const key = routeKey(route.method, route.url);
    if (route.method.toUpperCase() === 'HEAD' || seen.has(key)) continue;
    seen.add(key);
    const doc = catalogue.get(key);
    if (doc === undefined) {
      undocumented.push(route);
      continue;
    }
    const path = openApiPath(doc.path);
    paths[path] = { ...paths[path], [doc.method.toLowerCase()]: operation(doc, route.roles ?? doc.roles) };
  }
  const document: OpenApiDocument = {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'School sync API',
      version: info.version,
      description:
        'Offline-first sync between school desks and the server. Every /api route takes ' +
        '`Authorization: Bearer <JWT>` (HS256; claims sub, tenantId, role, exp); the tenant is always the ' +
        "token's. Errors are `{ statusCode, code, message, details? }` with a stable UPPER_SNAKE `code`. " +
        'Versions are integers, as JSON numbers or decimal strings.',
    },
    tags: [
      { name: 'sync', description: 'What desks call: upload, catch-up, snapshot, checksum, push.' },
      { name: 'admin', description: 'For DBAs and administrators.' },
      { name: 'operations', description: 'Without a token: bind or firewall them like any such endpoint.' },
    ],
    paths,
    components: {
      schemas: componentSchemas(),
      securitySchemes: {
        [BEARER]: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'HS256 token with claims sub, tenantId, role (desk | admin | dba), exp.',
        },
      },
    },
  };
  return { document, undocumented };
}

function operation(doc: RouteDoc, roles: readonly Role[] | undefined): OpenApiOperation {
  const op: OpenApiOperation = {
    operationId: doc.operationId,
    summary: doc.summary,
    description: roles === undefined ? doc.description : `${doc.description}\n\nRoles: ${roles.join(', ')}.`,
    tags: [doc.tag],
    security: doc.auth === 'none' ? [] : [{ [BEARER]: [] }],
    responses: {},
  };
  if (roles !== undefined) op['x-roles'] = [...roles];
  const parameters = (doc.params ?? []).map((param): OpenApiParameter => ({
    name: param.name,
    in: 'path',
    required: true,
    description: param.description,
    schema: { type: 'string', format: 'uuid' },
  }));
  if (doc.auth === 'socket') {
    parameters.push({
      name: 'access_token',
      in: 'query',
      required: false,
      description: 'The bearer token, for clients that cannot set headers (redacted from logs).',
      schema: { type: 'string' },
    });
  }
  if (parameters.length > 0) op.parameters = parameters;
  if (doc.request !== undefined) {
    op.requestBody = { required: true, content: { [JSON_MEDIA]: { schema: componentRef(doc.request) } } };
  }
  for (const answer of [doc.success, ...(doc.alternatives ?? [])]) {
    op.responses[String(answer.status)] = response(answer);
  }
  for (const [status, codes] of errorsByStatus(doc.errors)) {
    op.responses[String(status)] = {
      description: `Error codes: ${codes.join(', ')}.`,
      content: {
        [JSON_MEDIA]: {
          schema: { allOf: [componentRef('ErrorBody')], properties: { code: { enum: codes } } },
        },
      },
    };
  }
  return { ...op, ...doc.extensions };
}

function response(answer: Answer): OpenApiOperation['responses'][string] {
  if (answer.schema !== undefined) {
    return {
      description: answer.description,
      content: { [JSON_MEDIA]: { schema: componentRef(answer.schema) } },
    };
  }
  if (answer.mediaType !== undefined) {
    const schema = { type: answer.mediaType === JSON_MEDIA ? 'object' : 'string' };
    return { description: answer.description, content: { [answer.mediaType]: { schema } } };
  }
  return { description: answer.description };
}

/** The route's error codes grouped by HTTP status, statuses ascending, codes in the order given. */
function errorsByStatus(codes: readonly ErrorCode[]): [number, ErrorCode[]][] {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of new Set(codes)) {
    const status = ERROR_CODES[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return [...byStatus.entries()].sort(([a], [b]) => a - b);
}
