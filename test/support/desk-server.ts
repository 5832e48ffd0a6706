import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { EntityChecksum } from '../../shared/checksum.ts';
import type { EntityType } from '../../shared/entities.ts';
import type { Role } from '../../shared/protocol.ts';
import { signToken } from '../../server/auth/tokens.ts';
import { Capture } from '../../server/capture/capture.ts';
import type { SyncRules } from '../../server/config/rules.ts';
import { createPool, type Pool } from '../../server/db/pool.ts';
import { TenantHub } from '../../server/fanout/tenant-hub.ts';
import { buildApp } from '../../server/http/app.ts';
import { readChecksums, waitForCapture } from '../../server/log/checksum.ts';
import { captureRules, setUpCapture } from './capture-env.ts';
import { createTestDatabase, silentLog, waitFor, type TestDatabase } from './db.ts';
import { deskDir } from './desk-client.ts';
import { createTenant, listenOnLoopback, TEST_JWT_SECRET } from './http.ts';

/**
 * The whole server for desk tests, in this process: capture (WAL → sync_events), fan-out hub, HTTP with
 * live push. It can be stopped and started again on the same port over the same database, like a server
 * that went down for a while.
 */
export class DeskTestServer {
  readonly rules: SyncRules;
  private pool: Pool | null = null;
  private capture: Capture | null = null;
  private captureDone: Promise<void> | null = null;
  private hub: TenantHub | null = null;
  private hubDone: Promise<void> | null = null;
  private app: FastifyInstance | null = null;
  port = 0;

  constructor(
    readonly db: TestDatabase,
    private readonly log: Logger = silentLog,
    rulesOverrides: Record<string, unknown> = {},
  ) {
    this.rules = captureRules(db, rulesOverrides);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.app !== null;
  }

  async start(): Promise<void> {
    if (this.app !== null) return;
    await setUpCapture(this.db, this.rules);
    const pool = createPool(this.db.url, { max: 10, application: 'desk-test-server' });
    pool.on('error', () => undefined);
    this.pool = pool;
    const hub = new TenantHub(this.log, { connectionString: this.db.url, pool, rules: this.rules });
    const capture = new Capture(this.log, {
      connectionString: this.db.url,
      pool,
      rules: this.rules,
      onStored: (stored) => hub.handOff(stored),
    });
    this.capture = capture;
    this.captureDone = capture.run();
    await waitFor(() => capture.status.leader, { timeoutMs: 20_000, message: 'capture leads' });
    this.hub = hub;
    this.hubDone = hub.run();
    await hub.listening;
    const app = await buildApp(this.log, {
      pool,
      rules: this.rules,
      jwtSecret: TEST_JWT_SECRET,
      push: { hub },
      captureStatus: () => capture.status,
    });
    this.port = await listenOnLoopback(app, this.port);
    this.app = app;
  }

  /** Everything down, the database kept. */
  async stop(): Promise<void> {
    const { app, hub, capture, pool } = this;
    this.app = null;
    this.hub = null;
    this.capture = null;
    this.pool = null;
    await app?.close();
    await hub?.stop();
    await this.hubDone;
    await capture?.stop();
    await this.captureDone;
    await pool?.end();
  }

  token(tenantId: string, role: Role = 'desk', ttlSeconds = 3600): Promise<string> {
    return signToken(TEST_JWT_SECRET, { sub: `user-${role}`, tenantId, role }, ttlSeconds);
  }

  /** The server's figures, read straight from the tables (no wait for capture). */
  async checksums(
    tenantId: string,
    types: readonly EntityType[],
  ): Promise<Partial<Record<EntityType, EntityChecksum>>> {
    return (await readChecksums(this.db.pool, tenantId, types)).checksums;
  }

  /** Waits until capture has stored every change committed so far. */
  async captured(timeoutMs = 30_000): Promise<void> {
    await waitForCapture(this.db.pool, { slotName: this.rules.capture.slotName, timeoutMs, pollMs: 20 });
  }
}

/** What `startDeskServer` sets up for a file of desk tests. */
export interface DeskServerSetup {
  db: TestDatabase;
  server: DeskTestServer;
  tenant: string;
  /** A temp dir for the desks' SQLite files. */
  dir: ReturnType<typeof deskDir>;
}

/**
 * A test database, a DeskTestServer started on it, one tenant and a temp dir for desk files. Errors of the
 * database's pool are ignored: a server stopped or the database dropped ends its connections under it.
 */
export async function startDeskServer(): Promise<DeskServerSetup> {
  const db = await createTestDatabase();
  db.pool.on('error', () => undefined);
  const server = new DeskTestServer(db);
  try {
    await server.start();
    const tenant = await createTenant(db.pool);
    return { db, server, tenant, dir: deskDir() };
  } catch (error) {
    await stopDeskServer({ db, server });
    throw error;
  }
}

/** Undoes `startDeskServer`, as far as it got: the server stopped, the database dropped, the dir removed. */
export async function stopDeskServer(setup: Partial<Omit<DeskServerSetup, 'tenant'>>): Promise<void> {
  await setup.server?.stop();
  await setup.db?.drop();
  setup.dir?.remove();
}
