import type { OpenApiDocument, OpenApiOperation } from './openapi.ts';
import { COMPONENT_PREFIX, type JsonSchema } from './schemas.ts';

// Inline and small on purpose: the page must render on a server with no internet, so nothing is fetched.
const STYLE = `
body { font: 15px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 72rem; padding: 1rem 2rem; color: #1d2330; }
h1 small { font-weight: normal; color: #667; font-size: 60%; }
h2 { border-bottom: 1px solid #ccd; padding-bottom: .2rem; margin-top: 2.5rem; }
article { border: 1px solid #dde; border-radius: 6px; padding: .5rem 1rem; margin: 1rem 0; }
h3 code, nav code { font-size: 100%; }
.method { display: inline-block; min-width: 3.5rem; text-align: center; border-radius: 4px; color: #fff;
  font: bold 13px monospace; padding: 2px 6px; margin-right: .4rem; }
.get { background: #2f6fb0; } .post { background: #2c8a4b; }
pre { background: #f5f6f8; border: 1px solid #e2e4e8; border-radius: 4px; padding: .6rem; overflow: auto;
  max-height: 28rem; font-size: 13px; }
table { border-collapse: collapse; margin: .5rem 0; } td, th { border: 1px solid #dde; padding: .25rem .6rem;
  text-align: left; vertical-align: top; }
dt { font-weight: 600; float: left; clear: left; width: 7rem; } dd { margin-left: 7.5rem; }
`;

/**
 * The document as one self-contained HTML page: every route with its parameters, request body and
 * answers, schemas as pretty JSON whose $refs link to the schema list at the end. No script, no style or
 * font from elsewhere.
 */
export function renderDocsPage(document: OpenApiDocument): string {
  const operations = Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({ path, method, op })),
  );
  const nav = operations
    .map(
      ({ path, method, op }) =>
        `<li><a href="#op-${escape(op.operationId)}"><code>${method.toUpperCase()} ${escape(path)}</code></a> — ${escape(op.summary)}</li>`,
    )
    .join('\n');
  const sections = document.tags
    .map((tag) => {
      const ops = operations.filter(({ op }) => op.tags.includes(tag.name));
      if (ops.length === 0) return '';
      return `<section><h2>${escape(tag.name)}</h2><p>${prose(tag.description)}</p>
${ops.map(({ path, method, op }) => renderOperation(path, method, op, document)).join('\n')}</section>`;
    })
    .join('\n');
  const schemas = Object.entries(document.components.schemas)
    .map(([name, schema]) => `<h3 id="schema-${escape(name)}">${escape(name)}</h3>${jsonBlock(schema)}`)
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(document.info.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>${escape(document.info.title)} <small>${escape(document.info.version)} · OpenAPI ${document.openapi}</small></h1>
<p>${prose(document.info.description)}</p>
<p>The machine-readable document: <a href="/docs/json"><code>/docs/json</code></a>.</p>
</header>
<nav><h2>Routes</h2><ul>
${nav}
</ul></nav>
<main>
${sections}
<section id="schemas"><h2>Schemas</h2>
${schemas}
</section>
</main>
</body>
</html>
`;
}

function renderOperation(
  path: string,
  method: string,
  op: OpenApiOperation,
  document: OpenApiDocument,
): string {
  const auth = op.security.length === 0 ? 'none' : 'Bearer JWT';
  const parts: string[] = [
    `<article id="op-${escape(op.operationId)}">`,
    `<h3><span class="method ${method}">${method.toUpperCase()}</span><code>${escape(path)}</code></h3>`,
    `<p><strong>${escape(op.summary)}</strong></p>`,
    ...op.description.split('\n\n').map((paragraph) => `<p>${prose(paragraph)}</p>`),
    `<dl><dt>Auth</dt><dd>${auth}</dd></dl>`,
  ];
  if (op.parameters !== undefined) {
    parts.push(
      '<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>required</th><th>description</th></tr>',
      ...op.parameters.map(
        (p) =>
          `<tr><td><code>${escape(p.name)}</code></td><td>${p.in}</td>` +
          `<td>${p.required ? 'yes' : 'no'}</td><td>${prose(p.description)}</td></tr>`,
      ),
      '</table>',
    );
  }
  const body = op.requestBody?.content['application/json']?.schema;
  if (body !== undefined)
    parts.push(`<h4>Request body ${schemaLabel(body)}</h4>`, schemaBlock(body, document));
  parts.push('<h4>Responses</h4>');
  for (const [status, answer] of Object.entries(op.responses)) {
    const [mediaType, content] = Object.entries(answer.content ?? {})[0] ?? [];
    const label =
      content === undefined
        ? ''
        : ` — <code>${escape(mediaType ?? '')}</code> ${schemaLabel(content.schema)}`;
    parts.push(`<p><strong>${escape(status)}</strong> ${prose(answer.description)}${label}</p>`);
    if (content !== undefined && status.startsWith('2')) parts.push(schemaBlock(content.schema, document));
  }
  for (const [key, value] of Object.entries(op)) {
    if (key.startsWith('x-') && key !== 'x-roles')
      parts.push(`<h4><code>${escape(key)}</code></h4>`, jsonBlock(value));
  }
  parts.push('</article>');
  return parts.join('\n');
}

function refName(schema: JsonSchema): string | null {
  const ref = schema.$ref;
  return typeof ref === 'string' && ref.startsWith(COMPONENT_PREFIX)
    ? ref.slice(COMPONENT_PREFIX.length)
    : null;
}

function schemaLabel(schema: JsonSchema): string {
  const name = refName(schema);
  return name === null ? '' : `<a href="#schema-${escape(name)}">${escape(name)}</a>`;
}

/** A referenced component is shown expanded one level, so the route reads without scrolling away. */
function schemaBlock(schema: JsonSchema, document: OpenApiDocument): string {
  const name = refName(schema);
  const resolved = name === null ? undefined : document.components.schemas[name];
  return jsonBlock(resolved ?? schema);
}

function jsonBlock(value: unknown): string {
  const text = escape(JSON.stringify(value, null, 2));
  const linked = text.replace(
    /&quot;#\/components\/schemas\/([A-Za-z0-9_]+)&quot;/g,
    (_match, name: string) => `<a href="#schema-${name}">&quot;#/components/schemas/${name}&quot;</a>`,
  );
  return `<pre>${linked}</pre>`;
}

/** Escaped text with `code` spans. */
function prose(text: string): string {
  return escape(text).replace(/`([^`]+)`/g, '<code>$1</code>');
}

function escape(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}
