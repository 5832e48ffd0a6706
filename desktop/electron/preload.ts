// Runs sandboxed with contextIsolation: only `electron` may be required, so build.ts bundles this file.
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import type { EntityType } from '../../shared/entities.ts';
import { IPC_CALL, IPC_EVENT, type BridgeEvent, type BridgeMethod, type DeskBridge } from '../bridge.ts';
import type { ResolutionChoice } from '../store/index.ts';

function call<T>(method: BridgeMethod, ...args: unknown[]): Promise<T> {
  return ipcRenderer.invoke(IPC_CALL, method, args) as Promise<T>;
}

const deskBridge: DeskBridge = {
  list: (query) => call('list', query),
  query: (query) => call('query', query),
  refusals: (type) => call('refusals', type),
  dismissRefusal: (outboxEventId: string) => call('dismissRefusal', outboxEventId),
  get: (type: EntityType, id: string) => call('get', type, id),
  create: (type, fields) => call('create', type, fields),
  update: (type, id, patch) => call('update', type, id, patch),
  remove: (type, id) => call('remove', type, id),
  pendingCount: () => call('pendingCount'),
  conflicts: () => call('conflicts'),
  resolve: (outboxEventId: string, choice: ResolutionChoice) => call('resolve', outboxEventId, choice),
  status: () => call('status'),
  history: (type: EntityType, id: string) => call('history', type, id),
  subscribe(listener) {
    const handler = (_event: IpcRendererEvent, payload: BridgeEvent): void => listener(payload);
    ipcRenderer.on(IPC_EVENT, handler);
    return () => {
      ipcRenderer.removeListener(IPC_EVENT, handler);
    };
  },
};

contextBridge.exposeInMainWorld('deskBridge', deskBridge);
contextBridge.exposeInMainWorld('deskSetup', {
  /** First run: resolves with an error message, or null once the settings are stored. */
  save: (serverUrl: string, token: string) =>
    ipcRenderer.invoke('desk:setup', { serverUrl, token }) as Promise<string | null>,
  /** From the desk window: asks for a new server address and token, then restarts the desk with them. */
  reconnect: () => ipcRenderer.invoke('desk:reconnect') as Promise<void>,
});
