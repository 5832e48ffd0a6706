/**
 * The page decoder's worker thread (page-decoder.ts): decodes each page of text it is sent and answers
 * with the page's head as soon as it is parsed, then with the page, or with why it is not one.
 */
import { parentPort } from 'node:worker_threads';
import { must } from '../../shared/asserts.ts';
import { decodeParsed, headOf, type PageAnswer, type PageRequest } from './page-decoder.ts';

const port = must(parentPort, 'page-worker runs on a worker thread');
const answer = (message: PageAnswer): void => port.postMessage(message);
port.on('message', ({ id, kind, text }: PageRequest) => {
  try {
    const json: unknown = JSON.parse(text);
    answer({ id, head: headOf(json) });
    answer({ id, ok: true, page: decodeParsed(kind, json) });
  } catch (err) {
    answer({ id, ok: false, message: err instanceof Error ? err.message : String(err) });
  }
});
