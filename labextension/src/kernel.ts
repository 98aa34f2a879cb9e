/**
 * Talking to the notebook's kernel: the `dj_jupyter.pipeline` comm, and running code
 * that shows a view.
 */

import { Kernel, KernelMessage } from '@jupyterlab/services';
import { JSONObject } from '@lumino/coreutils';

import { COMM_TARGET } from './model';

/** The kernel answered that nothing listens on the comm target: dj_jupyter is not loaded. */
export class NotLoadedError extends Error {
  constructor() {
    super('dj_jupyter is not loaded in this kernel.');
  }
}

interface IPending {
  resolve: (data: JSONObject) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * One comm per kernel to the kernel-side sidebar handler.
 *
 * A kernel without the target closes the comm at once (ipykernel does that for unknown
 * targets); requests then fail with NotLoadedError, and the next request tries again,
 * so loading dj_jupyter later is picked up.
 */
export class PipelineClient {
  constructor(readonly kernel: Kernel.IKernelConnection) {}

  get isDisposed(): boolean {
    return this._disposed;
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._failAll(new Error('closed'));
    if (this._comm && !this._comm.isDisposed) {
      try {
        this._comm.close();
      } catch {
        // the kernel may be gone already
      }
    }
    this._comm = null;
  }

  /** Send a request and wait for the reply with the same id. */
  async request(request: JSONObject, timeoutMs = 30000): Promise<JSONObject> {
    if (this._disposed) {
      throw new Error('closed');
    }
    const comm = await this._ensureComm(timeoutMs);
    const id = `r${++this._counter}`;
    return new Promise<JSONObject>((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new Error('The kernel did not answer in time (it may be busy).'));
      }, timeoutMs);
      this._pending.set(id, { resolve, reject, timer });
      comm.send({ ...request, id });
    });
  }

  private async _ensureComm(timeoutMs: number): Promise<Kernel.IComm> {
    if (this._comm && !this._comm.isDisposed && this._open) {
      return this._comm;
    }
    if (!this._opening) {
      this._opening = this._openComm(timeoutMs).finally(() => {
        this._opening = null;
      });
    }
    return this._opening;
  }

  private _openComm(timeoutMs: number): Promise<Kernel.IComm> {
    return new Promise<Kernel.IComm>((resolve, reject) => {
      let settled = false;
      const comm = this.kernel.createComm(COMM_TARGET);
      const timer = setTimeout(() => {
        if (!settled) {
          settled = true;
          reject(new Error('The kernel did not answer in time (it may be busy).'));
        }
      }, timeoutMs);
      comm.onMsg = msg => {
        const data = (msg.content.data ?? {}) as JSONObject;
        if (!settled && data.reply === 'hello') {
          settled = true;
          clearTimeout(timer);
          this._comm = comm;
          this._open = true;
          this.version = typeof data.version === 'string' ? data.version : null;
          resolve(comm);
          return;
        }
        this._onReply(data);
      };
      comm.onClose = () => {
        this._open = false;
        if (this._comm === comm) {
          this._comm = null;
        }
        this._failAll(new NotLoadedError());
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          reject(new NotLoadedError());
        }
      };
      comm.open({ request: 'hello', id: 'hello' });
    });
  }

  private _onReply(data: JSONObject): void {
    const id = typeof data.id === 'string' ? data.id : null;
    const pending = id ? this._pending.get(id) : undefined;
    if (!pending || !id) {
      return;
    }
    this._pending.delete(id);
    clearTimeout(pending.timer);
    if (data.reply === 'error') {
      pending.reject(new Error(String(data.error ?? 'error in the kernel')));
    } else {
      pending.resolve(data);
    }
  }

  private _failAll(error: Error): void {
    for (const pending of this._pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this._pending.clear();
  }

  /** The kernel-side sidebar's version, once it answered. */
  version: string | null = null;

  private _comm: Kernel.IComm | null = null;
  private _open = false;
  private _opening: Promise<Kernel.IComm> | null = null;
  private _pending = new Map<string, IPending>();
  private _counter = 0;
  private _disposed = false;
}

/**
 * Run `code` in the kernel without adding to its history, and collect an error if it
 * raised one. Output goes nowhere (use an OutputArea's `future` to show it).
 */
export async function runQuietly(
  kernel: Kernel.IKernelConnection,
  code: string
): Promise<{ ok: boolean; error: string | null }> {
  const future = kernel.requestExecute({
    code,
    silent: false,
    store_history: false,
    allow_stdin: false,
    stop_on_error: false
  });
  let error: string | null = null;
  future.onIOPub = (msg: KernelMessage.IIOPubMessage) => {
    if (KernelMessage.isErrorMsg(msg)) {
      error = `${msg.content.ename}: ${msg.content.evalue}`;
    }
  };
  const reply = await future.done;
  const ok = reply.content.status === 'ok' && error === null;
  if (!ok && error === null && reply.content.status === 'error') {
    const content = reply.content as KernelMessage.IReplyErrorContent;
    error = `${content.ename}: ${content.evalue}`;
  }
  return { ok, error };
}
