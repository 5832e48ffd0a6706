import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSyncRules } from '../server/config/rules.ts';
import { buildApp } from '../server/http/app.ts';
import type { OpenApiDocument } from '../server/docs/openapi.ts';
import { roleSchema, type Role } from '../shared/protocol.ts';
import { createTestDatabase, silentLog, waitFor, type TestDatabase } from './support/db.ts';
import { createTenant, TEST_JWT_SECRET } from './support/http.ts';
import { TestDesk } from './support/ws-desk.ts';
import { appendEvents } from './support/ws-log.ts';
import { startPushServer, toleratePoolEndRace, type PushServer } from './support/ws-server.ts';

/**
 * The routes the app really serves, read from Fastify's own route tree (not from the docs' recorder), as
 * `METHOD /open/api/{path}`. HEAD twins of GET routes are left out. `printRoutes({ commonPrefix: false })`
 * prints one line per node: `├── /api/sync/up (POST)`, a child indented 4 characters per level and holding
 * only the rest of its path.
 */
function servedRoutes(app: FastifyInstance): string[] {
  const routes: string[] = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^((?:│ {3}| {4})*)[├└]── (.+?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (match === null) continue;
    const depth = match[1]!.length / 4;
    const path = `${stack.slice(0, depth).join('')}${match[2]!}`;
    stack[depth] = path;
    stack.length = depth + 1;
    for (const method of (match[3] ?? '').split(', ').filter((m) => m !== '' && m !== 'HEAD')) {
      routes.push(`${method} ${path.replace(/:(\w+)/g, '{$1}')}`);
    }
  }
  return routes.sort();
}

function documentedRoutes(document: OpenApiDocument): string[] {
  return Object.entries(document.paths)
    .flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`))
    .sort();
}

async function documentOf(url: string): Promise<OpenApiDocument> {
  const response = await fetch(`${url}/docs/json`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  return (await response.json()) as OpenApiDocument;
}

/** Every `$ref` anywhere in `value`. */
function refsIn(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(refsIn);
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, inner]) =>
    key === '$ref' && typeof inner === 'string' ? [inner] : refsIn(inner),
  );
}

describe('GET /docs/json and GET /docs', () => {
  let db: TestDatabase;
  let server: PushServer;
  let document: OpenApiDocument;

  beforeAll(async () => {
    db = toleratePoolEndRace(await createTestDatabase());
    // With live push, so that /api/sync/ws is registered too: the document covers every route there is.
    server = await startPushServer(db);
    document = await documentOf(server.url);
  });
  afterAll(async () => {
    await server.close();
    await db.drop();
  });

  it('/docs/json lists exactly the routes the server registers, every /api route included', () => {
    const served = servedRoutes(server.app);
    expect(served).toEqual(
      expect.arrayContaining([
        'POST /api/sync/up',
        'POST /api/sync/down',
        'POST /api/sync/snapshot',
        'POST /api/sync/conflicts/{outboxEventId}/resolve',
        'GET /api/sync/ws',
        'GET /api/admin/replication',
        'GET /healthz',
        'GET /metrics',
        'GET /docs/json',
        'GET /docs',
      ]),
    );
    expect(documentedRoutes(document)).toEqual(served);
  });

  it('a route registered without a description is missing from the document, so the route-list test catches it', async () => {
    const app = await buildApp(
      silentLog,
      { pool: db.pool, rules: parseSyncRules({}), jwtSecret: TEST_JWT_SECRET },
      [(api) => api.get('/sync/undocumented', () => Promise.resolve({}))],
    );
    try {
      await app.ready();
      const response = await app.inject({ method: 'GET', url: '/docs/json' });
      const documented = documentedRoutes(response.json<OpenApiDocument>());
      expect(servedRoutes(app)).toContain('GET /api/sync/undocumented');
      expect(documented).not.toContain('GET /api/sync/undocumented');
      expect(documented).not.toEqual(servedRoutes(app));
    } finally {
      await app.close();
    }
  });

  it('every /api route documents exactly the roles it lets through: any other role gets 403 FORBIDDEN', async () => {
    const tenant = await createTenant(db.pool);
    // One change in the log, so that a socket the server accepts answers its hello with a backlog.
    await appendEvents(db.pool, [{ tenantId: tenant, count: 1 }]);
    const forbidden = async (method: string, path: string, role: Role): Promise<boolean> => {
      const token = await server.token(tenant, { role });
      if (path === '/api/sync/ws') {
        const desk = TestDesk.open(server.wsUrl, { token });
        const first = await waitFor(() => desk.messages[0], {
          message: `the socket's first message as ${role}`,
        });
        await desk.close();
        return first.type === 'error' && first.code === 'FORBIDDEN';
      }
      const url = `${server.url}${path.replace(/\{\w+\}/g, '00000000-0000-4000-8000-000000000000')}`;
      const response = await fetch(url, {
        method: method.toUpperCase(),
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        ...(method === 'get' ? {} : { body: '{}' }),
      });
      const body = (await response.json()) as { code?: string };
      return response.status === 403 && body.code === 'FORBIDDEN';
    };
    const checked: string[] = [];
    for (const [path, methods] of Object.entries(document.paths)) {
      if (!path.startsWith('/api/')) continue;
      for (const [method, op] of Object.entries(methods)) {
        const where = `${method.toUpperCase()} ${path}`;
        const roles = op['x-roles'] as Role[] | undefined;
        expect(roles, where).toBeDefined();
        expect(op.description, where).toContain(`Roles: ${roles?.join(', ')}.`);
        for (const role of roleSchema.options) {
          expect(await forbidden(method, path, role), `${where} as ${role}`).toBe(!roles?.includes(role));
        }
        checked.push(where);
      }
    }
    expect(checked).toEqual(
      expect.arrayContaining(['POST /api/sync/up', 'GET /api/sync/ws', 'GET /api/admin/desks']),
    );
  });

  it('the document is OpenAPI 3.1 whose every $ref, security scheme and path parameter resolves', () => {
    expect(document.openapi).toBe('3.1.0');
    expect(document.info.title).toEqual(expect.any(String));
    expect(document.info.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(document.components.securitySchemes.bearerAuth).toMatchObject({
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
    });
    const schemas = document.components.schemas;
    for (const ref of refsIn(document)) {
      expect(ref).toMatch(/^#\/components\/schemas\//);
      expect(schemas[ref.slice('#/components/schemas/'.length)], ref).toBeDefined();
    }
    const operationIds = new Set<string>();
    for (const [path, methods] of Object.entries(document.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        const where = `${method} ${path}`;
        expect(['get', 'post']).toContain(method);
        expect(operationIds.has(op.operationId), where).toBe(false);
        operationIds.add(op.operationId);
        expect(Object.keys(op.responses).length, where).toBeGreaterThan(0);
        for (const status of Object.keys(op.responses)) expect(status, where).toMatch(/^[1-5]\d\d$/);
        for (const requirement of op.security) {
          for (const scheme of Object.keys(requirement)) {
            expect(document.components.securitySchemes[scheme], where).toBeDefined();
          }
        }
        const declared = (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
        const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
        expect(declared, where).toEqual(inPath);
        // Every /api route takes the bearer token; the operations routes take none.
        expect(op.security.length > 0, where).toBe(path.startsWith('/api/'));
      }
    }
  });

  it('each route lists the error statuses the protocol gives it, each as an ErrorBody', () => {
    const statuses = (method: string, path: string) =>
      Object.keys(document.paths[path]?.[method]?.responses ?? {}).sort();
    expect(statuses('post', '/api/sync/up')).toEqual([
      '200',
      '400',
      '401',
      '403',
      '413',
      '415',
      '429',
      '503',
    ]);
    expect(statuses('post', '/api/sync/down')).toEqual([
      '200',
      '400',
      '401',
      '403',
      '410',
      '413',
      '415',
      '429',
      '503',
    ]);
    expect(statuses('post', '/api/sync/snapshot')).toEqual(
      expect.arrayContaining(['200', '400', '401', '403', '410', '413', '415']),
    );
    expect(statuses('post', '/api/sync/conflicts/{outboxEventId}/resolve')).toEqual(
      expect.arrayContaining(['200', '400', '401', '403', '404', '413', '415']),
    );
    expect(statuses('get', '/api/admin/replication')).toEqual(['200', '401', '403', '429', '503']);
    expect(statuses('get', '/api/sync/ws')).toEqual(['101', '400']);
    const gone = document.paths['/api/sync/down']?.post?.responses['410']?.content?.['application/json'];
    expect(gone?.schema).toEqual({
      allOf: [{ $ref: '#/components/schemas/ErrorBody' }],
      properties: { code: { enum: ['RESYNC_REQUIRED'] } },
    });
  });

  it('request and answer schemas come from the shared zod schemas; the socket names its messages', () => {
    const up = document.paths['/api/sync/up']?.post;
    expect(up?.requestBody?.content['application/json']?.schema).toEqual({
      $ref: '#/components/schemas/SyncUpRequest',
    });
    const change = document.components.schemas.Change as { required: string[]; properties: object };
    expect(change.required).toEqual(
      expect.arrayContaining([
        'id',
        'entityType',
        'entityId',
        'operation',
        'payload',
        'serverVersion',
        'modifiedAt',
      ]),
    );
    // A version is accepted as a number or a decimal string, as the protocol says.
    expect(JSON.stringify(change.properties)).toContain('"pattern":"^\\\\d{1,19}$"');
    expect(document.paths['/api/sync/ws']?.get?.['x-websocket']).toMatchObject({
      clientMessages: { $ref: '#/components/schemas/WsClientMessage' },
      serverMessages: { $ref: '#/components/schemas/WsServerMessage' },
      closeCodes: { 4400: expect.any(String), 4401: expect.any(String), 4410: expect.any(String) },
    });
    expect(document.paths['/api/admin/replication']?.get?.responses['200']?.content).toEqual({
      'application/json': { schema: { $ref: '#/components/schemas/ReplicationStatus' } },
    });
  });

  it('/docs is one self-contained HTML page naming every documented path, with nothing to download', async () => {
    const response = await fetch(`${server.url}/docs`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await response.text();
    for (const path of Object.keys(document.paths)) expect(html).toContain(`<code>${path}</code>`);
    for (const name of Object.keys(document.components.schemas))
      expect(html).toContain(`id="schema-${name}"`);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|\bsrc=|@import|url\(/i);
    for (const [, href] of html.matchAll(/href="([^"]*)"/g)) expect(href).toMatch(/^(#|\/docs\/json$)/);
  });

  it('the docs need no token', async () => {
    for (const path of ['/docs/json', '/docs']) {
      const response = await fetch(`${server.url}${path}`);
      expect(response.status, path).toBe(200);
    }
  });
});
