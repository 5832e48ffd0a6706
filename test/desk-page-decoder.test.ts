import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodeCursor } from '../server/log/cursor.ts';
import type { Change, SyncDownResponse } from '../shared/protocol.ts';
import { CatchUp } from '../desktop/sync/catch-up.ts';
import { decodePage, PageDecoder } from '../desktop/sync/page-decoder.ts';
import { SyncHttp, SyncHttpError } from '../desktop/sync/sync-http.ts';
import { SyncStatusBoard } from '../desktop/sync/sync-status.ts';
import { silentLog } from './support/db.ts';
import { studentChange, tempDesk, uuid } from './desk-store.fixtures.ts';

const cursorAt = (eventId: number): string => encodeCursor({ epoch: 0, eventId });

/** A /down page of `changes` ending at log id `end`. */
function downPage(changes: Change[], end: number, hasMore: boolean): SyncDownResponse {
  return { changes, cursor: cursorAt(end), hasMore, syncTimestamp: '2024-09-02T08:00:00.000Z' };
}

const students = (n: number): Change[] =>
  Array.from({ length: n }, (_, i) =>
    studentChange(uuid(), i + 1, { firstName: `Émile ${i}`, lastName: "N'Diaye-Dupont", notes: 'tab\there' }),
  );

describe('page decoder', () => {
  const decoders: PageDecoder[] = [];
  const dir = tempDesk();
  afterEach(async () => {
    for (const decoder of decoders.splice(0)) await decoder.close();
  });
  afterAll(() => dir.cleanup());
  const decoderWith = (script?: ConstructorParameters<typeof PageDecoder>[1]): PageDecoder => {
    const decoder = new PageDecoder(silentLog, script);
    decoders.push(decoder);
    return decoder;
  };

  it('decodes on its worker exactly what the sync thread decodes, page after page', async () => {
    const decoder = decoderWith();
    for (const size of [0, 1, 500]) {
      const text = JSON.stringify(downPage(students(size), size, true));
      const decoding = decoder.decode('down', text);
      expect(await decoding.head).toEqual({ cursor: cursorAt(size), hasMore: true });
      const onWorker = await decoding.page;
      expect(onWorker).toEqual(decodePage('down', text));
      expect(onWorker.changes.length).toBe(size);
    }
    const snapshot = JSON.stringify({
      changes: students(3),
      hasMore: true,
      cursor: cursorAt(3),
      pageToken: 'next',
    });
    const decoding = decoder.decode('snapshot', snapshot);
    expect(await decoding.head).toEqual({ cursor: cursorAt(3), hasMore: true, pageToken: 'next' });
    expect(await decoding.page).toEqual(decodePage('snapshot', snapshot));
    expect(decoder.decodedOnWorker).toBe(4);
  });

  it("refuses a page that breaks the protocol with the schema's reason, and goes on decoding", async () => {
    const decoder = decoderWith();
    const bad = downPage(students(2), 2, false) as unknown as { changes: Record<string, unknown>[] };
    bad.changes[1]!.serverVersion = 'twelve';
    // Its head is read before the check (so the next page may be asked for), the page itself refused.
    const refused = decoder.decode('down', JSON.stringify(bad));
    expect(await refused.head).toEqual({ cursor: cursorAt(2), hasMore: false });
    await expect(refused.page).rejects.toThrow(/serverVersion/);
    const notJson = decoder.decode('down', '{"changes": [');
    expect(await notJson.head).toBeNull();
    await expect(notJson.page).rejects.toThrow(/JSON/);
    const wrongHead = decoder.decode('down', JSON.stringify({ ...downPage([], 0, false), hasMore: 'yes' }));
    expect(await wrongHead.head).toBeNull();
    await expect(wrongHead.page).rejects.toThrow(/hasMore/);
    const good = JSON.stringify(downPage(students(2), 2, false));
    expect((await decoder.decode('down', good).page).changes.length).toBe(2);
  });

  it('decodes on the sync thread when its worker cannot start', async () => {
    const decoder = decoderWith({ file: pathToFileURL(dir.path('no-such-worker.mjs')) });
    const text = JSON.stringify(downPage(students(3), 3, false));
    expect(await decoder.decode('down', text).page).toEqual(decodePage('down', text));
    const again = decoder.decode('down', text);
    expect(await again.head).toEqual({ cursor: cursorAt(3), hasMore: false });
    expect(await again.page).toEqual(decodePage('down', text));
    expect(decoder.decodedOnWorker).toBe(0);
  });

  it('decodes on the sync thread the pages a worker that dies had in hand', async () => {
    // A worker that ends as soon as it is asked anything, with a page in hand.
    const dying = dir.path('dying-worker.mjs');
    writeFileSync(
      dying,
      "import { parentPort } from 'node:worker_threads'; parentPort.on('message', () => process.exit(3));",
    );
    const decoder = decoderWith({ file: pathToFileURL(dying) });
    const texts = [1, 2, 3].map((n) => JSON.stringify(downPage(students(n), n, true)));
    const pages = await Promise.all(texts.map((text) => decoder.decode('down', text).page));
    expect(pages).toEqual(texts.map((text) => decodePage('down', text)));
    expect((await decoder.decode('down', texts[0]!).page).changes.length).toBe(1);
    expect(decoder.decodedOnWorker).toBe(0);
  });
});

/**
 * CatchUp against a real HTTP server that answers /api/sync/down with the pages given, in turn: every page
 * after the first is decoded on the page worker.
 */
describe('catch-up with its pages decoded on the worker', () => {
  let server: Server;
  let url = '';
  let answers: string[] = [];
  const dir = tempDesk();
  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(answers.shift() ?? '{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    dir.cleanup();
    await new Promise((resolve) => server.close(resolve));
  });

  const catchUpInto = (name: string) => {
    const store = dir.open(name);
    store.beginSnapshot();
    store.finishSnapshot(cursorAt(0));
    const catchUp = new CatchUp(silentLog, {
      store,
      http: new SyncHttp(silentLog, { serverUrl: url, token: 'any', timeoutMs: 10_000 }),
      status: new SyncStatusBoard(),
      options: { downLimit: 100, snapshotLimit: 100, entityTypes: null },
    });
    return { store, run: () => catchUp.catchUp(new AbortController().signal) };
  };

  it('applies every page in order, each with its cursor', async () => {
    const pages = [students(100), students(100), students(40)];
    answers = pages.map((changes, i) =>
      JSON.stringify(downPage(changes, (i + 1) * 100, i < pages.length - 1)),
    );
    const { store, run } = catchUpInto('all.db');
    expect(await run()).toEqual({ applied: 240, pages: 3 });
    expect(store.count('STUDENT')).toBe(240);
    expect(store.syncState().cursor).toBe(cursorAt(300));
    const last = pages[2]![39]!;
    expect(store.get('STUDENT', last.entityId)).toMatchObject({
      firstName: 'Émile 39',
      lastName: "N'Diaye-Dupont",
      notes: 'tab\there',
      serverVersion: last.serverVersion,
    });
  });

  it('a later page that breaks the protocol fails the catch-up with BAD_RESPONSE; the pages before it stay', async () => {
    const bad = downPage(students(100), 200, false) as unknown as { changes: Record<string, unknown>[] };
    bad.changes[50]!.entityId = 'not-a-uuid';
    answers = [JSON.stringify(downPage(students(100), 100, true)), JSON.stringify(bad)];
    const { store, run } = catchUpInto('bad.db');
    const failure = await run().catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(SyncHttpError);
    expect(failure).toMatchObject({ kind: 'protocol', code: 'BAD_RESPONSE' });
    expect(store.count('STUDENT')).toBe(100);
    expect(store.syncState().cursor).toBe(cursorAt(100));
  });
});
