import { describe, expect, it } from 'vitest';
import { loadSyncRules, parseSyncRules } from '../server/config/rules.ts';
import { problemsOf } from './support/rules.ts';

describe('sync rules: bounded cost per client', () => {
  it('defaults: 4 MiB pages, 12 000 requests a minute per token, 1000 sockets per tenant', () => {
    const { limits } = loadSyncRules(undefined);
    expect(limits).toMatchObject({
      pageMaxBytes: 4 * 1024 * 1024,
      requestsPerMinute: 12_000,
      socketsPerTenant: 1000,
    });
    expect(parseSyncRules({}).limits).toEqual(limits);
  });

  it('configured values are taken', () => {
    const rules = parseSyncRules({
      limits: { pageMaxBytes: 65_536, requestsPerMinute: 60, socketsPerTenant: 5 },
    });
    expect(rules.limits).toMatchObject({ pageMaxBytes: 65_536, requestsPerMinute: 60, socketsPerTenant: 5 });
  });

  it.each([
    [{ pageMaxBytes: 100 }, 'limits.pageMaxBytes'],
    [{ pageMaxBytes: 1024 ** 3 }, 'limits.pageMaxBytes'],
    [{ pageMaxBytes: 4096.5 }, 'limits.pageMaxBytes'],
    [{ requestsPerMinute: 0 }, 'limits.requestsPerMinute'],
    [{ requestsPerMinute: '100' }, 'limits.requestsPerMinute'],
    [{ socketsPerTenant: 0 }, 'limits.socketsPerTenant'],
    [{ socketsPerTenant: -3 }, 'limits.socketsPerTenant'],
  ])('a bad value %j is refused naming its key', (limits, key) => {
    const problems = problemsOf({ limits });
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.join('\n')).toContain(key);
  });
});
