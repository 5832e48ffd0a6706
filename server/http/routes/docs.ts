import type { FastifyInstance } from 'fastify';
import packageJson from '../../../package.json' with { type: 'json' };
import { buildOpenApiDocument, type RegisteredRoute } from '../../docs/openapi.ts';
import { renderDocsPage } from '../../docs/page.ts';
import { SyncError } from '../../errors.ts';
import { checkedRoles } from '../auth.ts';

interface BuiltDocs {
  json: string;
  html: string;
}

/**
 * GET /docs/json (the OpenAPI 3.1 document) and GET /docs (its page), without a token. Must be called
 * before any other route is added: it records every route the app registers, and once the app is ready
 * builds the document of those routes, once, with the roles each route's requireRole checks. A registered route the catalogue (server/docs/routes.ts)
 * does not describe is logged as a warning and left out.
 */
export function registerDocsRoutes(app: FastifyInstance): void {
  const registered: RegisteredRoute[] = [];
  app.addHook('onRoute', (route) => {
    const roles = checkedRoles(route.preHandler);
    for (const method of [route.method].flat()) {
      registered.push({ method, url: route.url, ...(roles === undefined ? {} : { roles }) });
    }
  });

  let built: BuiltDocs | null = null;
  app.addHook('onReady', (done) => {
    try {
      const { document, undocumented } = buildOpenApiDocument(registered, { version: packageJson.version });
      if (undocumented.length > 0) {
        app.log.warn(
          { routes: undocumented },
          'routes without API documentation: describe them in server/docs/routes.ts',
        );
      }
      built = { json: JSON.stringify(document), html: renderDocsPage(document) };
      done();
    } catch (error) {
      done(new Error('the OpenAPI document could not be built', { cause: error }));
    }
  });
  const docs = (): BuiltDocs => {
    if (built === null)
      throw new SyncError('NOT_READY', 'the API document is built once the server is ready');
    return built;
  };

  app.get('/docs/json', async (_request, reply) =>
    reply.type('application/json; charset=utf-8').send(docs().json),
  );
  app.get('/docs', async (_request, reply) => reply.type('text/html; charset=utf-8').send(docs().html));
}
