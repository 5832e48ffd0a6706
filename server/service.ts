/** A long-running part of the server. `run()` resolves when the service has stopped for good. */
export interface Service {
  readonly name: string;
  run(): Promise<void>;
  stop(): Promise<void>;
}
