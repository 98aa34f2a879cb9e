/**
 * The pipeline sidebar: schemas and tables of the active notebook's kernel, with tier
 * icons, row counts and job status.
 */

import { ISessionContext } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { Kernel } from '@jupyterlab/services';
import { refreshIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { diagramIcon, jobsIcon, pipelineIcon } from './icons';
import { NotLoadedError, PipelineClient, runQuietly } from './kernel';
import {
  changedTables,
  formatCount,
  fullName,
  groupTables,
  IPipelineModel,
  ITableInfo,
  jobSummary,
  mayLoadExtension,
  parseModel,
  schemaTotals,
  SidebarStatus,
  statusMessage
} from './model';

export const LOAD_CODE = '%load_ext dj_jupyter';

export interface ISidebarOptions {
  tracker: INotebookTracker;
  /** Open the table browser of `schema.table` for `notebook`. */
  openTable: (notebook: NotebookPanel, name: string) => void;
  /** Open the diagram of a schema. */
  openDiagram: (notebook: NotebookPanel, schema: string) => void;
  /** Open the jobs view of a schema or table. */
  openJobs: (notebook: NotebookPanel, target: string) => void;
}

export class PipelineSidebar extends Widget {
  constructor(private _options: ISidebarOptions) {
    super();
    this.id = 'dj-jupyter-pipeline-sidebar';
    this.addClass('jp-dj-Sidebar');
    this.title.icon = pipelineIcon;
    this.title.caption = 'DataJoint pipeline';

    const header = document.createElement('div');
    header.className = 'jp-dj-Sidebar-header';
    const title = document.createElement('span');
    title.className = 'jp-dj-Sidebar-title';
    title.textContent = 'DataJoint pipeline';
    this._refreshButton = document.createElement('button');
    this._refreshButton.className = 'jp-dj-Sidebar-refresh jp-Button jp-mod-minimal';
    this._refreshButton.title = 'Refresh';
    refreshIcon.element({ container: this._refreshButton, elementPosition: 'center' });
    this._refreshButton.addEventListener('click', () => void this.refresh());
    header.append(title, this._refreshButton);

    this._subtitle = document.createElement('div');
    this._subtitle.className = 'jp-dj-Sidebar-subtitle';
    this._body = document.createElement('div');
    this._body.className = 'jp-dj-Sidebar-body';
    this._footer = document.createElement('div');
    this._footer.className = 'jp-dj-Sidebar-footer';
    this.node.append(header, this._subtitle, this._body, this._footer);

    _options.tracker.currentChanged.connect(this._onNotebookChanged, this);
    NotebookActions.executed.connect(this._onExecuted, this);
    this._onNotebookChanged();
  }

  /** Seconds between automatic refreshes while the panel is visible; 0 turns them off. */
  set refreshSeconds(seconds: number) {
    this._refreshSeconds = seconds;
    if (this._timer !== null) {
      clearInterval(this._timer);
      this._timer = null;
    }
    if (seconds > 0) {
      this._timer = setInterval(() => this._tick(), seconds * 1000);
    }
  }

  get refreshSeconds(): number {
    return this._refreshSeconds;
  }

  get status(): SidebarStatus {
    return this._status;
  }

  get notebook(): NotebookPanel | null {
    return this._notebook;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    if (this._timer !== null) {
      clearInterval(this._timer);
    }
    this._client?.dispose();
    NotebookActions.executed.disconnect(this._onExecuted, this);
    super.dispose();
  }

  /** Ask the kernel for the model now. */
  async refresh(): Promise<void> {
    if (this._inFlight) {
      this._again = true;
      return this._inFlight;
    }
    this._inFlight = this._refresh().finally(() => {
      this._inFlight = null;
      if (this._again) {
        this._again = false;
        void this.refresh();
      }
    });
    return this._inFlight;
  }

  /** Run `%load_ext dj_jupyter` in the kernel, then refresh. */
  async loadExtension(): Promise<void> {
    const kernel = this._kernel();
    if (!kernel) {
      return;
    }
    this._setStatus({ kind: 'loading' });
    const result = await runQuietly(kernel, LOAD_CODE);
    this._client?.dispose();
    this._client = null;
    if (!result.ok) {
      this._setStatus({ kind: 'not-loaded', error: result.error ?? 'loading failed' });
      // the comm target may still be registered even when part of the extension failed
    }
    await this.refresh();
    if (!result.ok && this._status.kind === 'not-loaded') {
      this._setStatus({ kind: 'not-loaded', error: result.error ?? 'loading failed' });
    }
  }

  protected onAfterShow(): void {
    void this.refresh();
  }

  private async _refresh(): Promise<void> {
    const notebook = this._notebook;
    if (!notebook) {
      this._setStatus({ kind: 'no-notebook' });
      return;
    }
    await notebook.sessionContext.ready.catch(() => undefined);
    const kernel = this._kernel();
    if (!kernel) {
      this._setStatus({ kind: 'no-kernel' });
      return;
    }
    if (!this._client || this._client.kernel !== kernel || this._client.isDisposed) {
      this._client?.dispose();
      this._client = new PipelineClient(kernel);
    }
    if (this._status.kind !== 'ready') {
      this._setStatus({ kind: 'loading' });
    }
    this._refreshButton.classList.add('jp-mod-running');
    try {
      const reply = await this._client.request({ request: 'model' });
      if (this._notebook !== notebook) {
        return;
      }
      const model = parseModel(reply);
      const previous = this._status.kind === 'ready' ? this._status.model : null;
      this._changed = changedTables(previous, model);
      this._updated = new Date();
      this._setStatus({ kind: 'ready', model });
    } catch (error) {
      if (this._notebook !== notebook) {
        return;
      }
      if (error instanceof NotLoadedError) {
        this._setStatus({ kind: 'not-loaded' });
      } else {
        this._setStatus({ kind: 'error', error: (error as Error).message });
      }
    } finally {
      this._refreshButton.classList.remove('jp-mod-running');
    }
  }

  private _kernel(): Kernel.IKernelConnection | null {
    return this._notebook?.sessionContext.session?.kernel ?? null;
  }

  private _tick(): void {
    if (!this.isVisible || !this._notebook) {
      return;
    }
    // a busy kernel answers only after its cell: do not queue requests behind it
    if (this._kernel()?.status !== 'idle') {
      return;
    }
    // without dj_jupyter every attempt logs "No such comm target" in the kernel: wait for a sign
    if (this._status.kind === 'not-loaded') {
      return;
    }
    void this.refresh();
  }

  private _onNotebookChanged(): void {
    const notebook = this._options.tracker.currentWidget;
    if (notebook === this._notebook) {
      return;
    }
    if (this._notebook) {
      this._notebook.sessionContext.kernelChanged.disconnect(this._onKernelChanged, this);
      this._notebook.sessionContext.statusChanged.disconnect(this._onKernelStatus, this);
    }
    this._notebook = notebook;
    this._client?.dispose();
    this._client = null;
    this._status = { kind: 'loading' };
    if (notebook) {
      notebook.sessionContext.kernelChanged.connect(this._onKernelChanged, this);
      notebook.sessionContext.statusChanged.connect(this._onKernelStatus, this);
      this._subtitle.textContent = notebook.title.label;
    } else {
      this._subtitle.textContent = '';
    }
    if (this.isVisible) {
      void this.refresh();
    } else {
      this._render();
    }
  }

  private _onKernelChanged(): void {
    this._client?.dispose();
    this._client = null;
    if (this.isVisible) {
      void this.refresh();
    }
  }

  private _onKernelStatus(_: ISessionContext, status: Kernel.Status): void {
    if (status === 'restarting' || status === 'autorestarting' || status === 'dead') {
      this._client?.dispose();
      this._client = null;
      this._setStatus({ kind: status === 'dead' ? 'no-kernel' : 'loading' });
    }
  }

  private _onExecuted(
    _: unknown,
    args: { notebook: { parent: Widget | null }; cell: { model: { sharedModel: { getSource(): string } } } }
  ): void {
    if (!this.isVisible || args.notebook.parent !== this._notebook) {
      return;
    }
    if (this._status.kind === 'not-loaded' && !mayLoadExtension(args.cell.model.sharedModel.getSource())) {
      return;
    }
    if (this._debounce !== null) {
      clearTimeout(this._debounce);
    }
    this._debounce = setTimeout(() => {
      this._debounce = null;
      void this.refresh();
    }, 300);
  }

  private _setStatus(status: SidebarStatus): void {
    this._status = status;
    this._render();
  }

  private _render(): void {
    const body = this._body;
    body.replaceChildren();
    const status = this._status;
    this.node.dataset.status = status.kind;
    const message = statusMessage(status);
    if (message !== null) {
      const note = document.createElement('div');
      note.className = 'jp-dj-Sidebar-message';
      note.textContent = message;
      body.append(note);
    }
    if (status.kind === 'not-loaded') {
      if (status.error) {
        const error = document.createElement('pre');
        error.className = 'jp-dj-Sidebar-error';
        error.textContent = status.error;
        body.append(error);
      }
      const button = document.createElement('button');
      button.className = 'jp-dj-Sidebar-load jp-Button jp-mod-styled jp-mod-accept';
      button.textContent = 'Load dj_jupyter';
      button.title = `Run ${LOAD_CODE} in the kernel`;
      button.addEventListener('click', () => void this.loadExtension());
      body.append(button);
    }
    if (status.kind === 'ready') {
      this._renderModel(status.model);
      const time = this._updated ? this._updated.toLocaleTimeString() : '';
      this._footer.textContent = [status.model.target, time && `updated ${time}`]
        .filter(Boolean)
        .join(' · ');
    } else {
      this._footer.textContent = '';
    }
  }

  private _renderModel(model: IPipelineModel): void {
    const notebook = this._notebook;
    for (const schema of model.schemas) {
      const section = document.createElement('section');
      section.className = 'jp-dj-Schema';
      section.dataset.schema = schema.name;
      const header = document.createElement('div');
      header.className = 'jp-dj-Schema-header';
      const name = document.createElement('span');
      name.className = 'jp-dj-Schema-name';
      name.textContent = schema.name;
      const totals = schemaTotals(schema);
      const count = document.createElement('span');
      count.className = 'jp-dj-Schema-count';
      count.textContent = `${totals.tables} tables`;
      const diagram = this._iconButton(diagramIcon, 'jp-dj-Schema-diagram', `Diagram of ${schema.name}`, () => {
        if (notebook) {
          this._options.openDiagram(notebook, schema.name);
        }
      });
      const jobs = this._iconButton(jobsIcon, 'jp-dj-Schema-jobs', `Jobs of ${schema.name}`, () => {
        if (notebook) {
          this._options.openJobs(notebook, schema.name);
        }
      });
      header.append(name, count, jobs, diagram);
      section.append(header);
      if (schema.error) {
        const error = document.createElement('div');
        error.className = 'jp-dj-Sidebar-error';
        error.textContent = schema.error;
        section.append(error);
      }
      const list = document.createElement('ul');
      list.className = 'jp-dj-TableList';
      for (const group of groupTables(schema)) {
        list.append(this._tableItem(schema.name, group.table, false));
        for (const part of group.parts) {
          list.append(this._tableItem(schema.name, part, true));
        }
      }
      section.append(list);
      this._body.append(section);
    }
  }

  private _tableItem(schema: string, table: ITableInfo, isPart: boolean): HTMLLIElement {
    const item = document.createElement('li');
    const key = fullName(schema, table.name);
    item.className = 'jp-dj-Table' + (isPart ? ' jp-dj-Table-part' : '');
    if (this._changed.has(key)) {
      item.classList.add('jp-mod-changed');
    }
    item.dataset.table = key;
    item.dataset.tier = table.tier;
    item.tabIndex = 0;
    item.setAttribute('role', 'button');
    const icon = document.createElement('span');
    icon.className = `jp-dj-TierIcon jp-dj-tier-${table.tier}`;
    icon.title = table.tier;
    const name = document.createElement('span');
    name.className = 'jp-dj-Table-name';
    name.textContent = isPart ? table.className.split('.').pop() ?? table.className : table.className;
    const summary = jobSummary(table.jobs);
    const jobs = document.createElement('span');
    jobs.className = `jp-dj-Table-jobs jp-dj-jobs-${summary.level}`;
    jobs.textContent = summary.text;
    if (summary.title) {
      jobs.title = `jobs: ${summary.title}`;
    }
    const rows = document.createElement('span');
    rows.className = 'jp-dj-Table-rows';
    rows.textContent = formatCount(table.rows);
    rows.title = table.rows === null ? 'row count unavailable' : `${table.rows} rows`;
    item.title = `${table.className} (${table.tier}) — ${key}\nClick to browse`;
    item.append(icon, name, jobs, rows);
    const open = (): void => {
      if (this._notebook) {
        this._options.openTable(this._notebook, key);
      }
    };
    item.addEventListener('click', open);
    item.addEventListener('keydown', event => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        open();
      }
    });
    return item;
  }

  private _iconButton(
    icon: typeof diagramIcon,
    className: string,
    title: string,
    onClick: () => void
  ): HTMLButtonElement {
    const button = document.createElement('button');
    button.className = `${className} jp-Button jp-mod-minimal`;
    button.title = title;
    icon.element({ container: button, elementPosition: 'center' });
    button.addEventListener('click', event => {
      event.stopPropagation();
      onClick();
    });
    return button;
  }

  private _notebook: NotebookPanel | null = null;
  private _client: PipelineClient | null = null;
  private _status: SidebarStatus = { kind: 'no-notebook' };
  private _inFlight: Promise<void> | null = null;
  private _again = false;
  private _timer: ReturnType<typeof setInterval> | null = null;
  private _debounce: ReturnType<typeof setTimeout> | null = null;
  private _refreshSeconds = 0;
  private _changed = new Set<string>();
  private _updated: Date | null = null;
  private _refreshButton: HTMLButtonElement;
  private _subtitle: HTMLDivElement;
  private _body: HTMLDivElement;
  private _footer: HTMLDivElement;
}
