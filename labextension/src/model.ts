/**
 * The pipeline sidebar's model: what the kernel's `dj_jupyter.pipeline` comm target
 * answers, checked and shaped for display.
 *
 * Protocol (JSON over one comm per kernel):
 *   front end -> kernel   {request: 'hello' | 'model', id}
 *   kernel -> front end   {reply: 'hello', id, version}
 *                         {reply: 'model', id, connected, target, message,
 *                          schemas: [{name, error?, tables: [{name, class_name, tier,
 *                                     rows, master, jobs: {pending, reserved, error,
 *                                     success, ignore} | null}]}]}
 *                         {reply: 'error', id, error}
 *
 * Pure functions only, so jest tests them without a kernel.
 */

export const COMM_TARGET = 'dj_jupyter.pipeline';

export type TableTier = 'manual' | 'lookup' | 'imported' | 'computed' | 'part' | 'unknown';

export interface IJobCounts {
  pending: number;
  reserved: number;
  error: number;
  success: number;
  ignore: number;
}

export interface ITableInfo {
  /** Table name in the database (`__segmentation`, `session__trial`). */
  name: string;
  /** Python class name (`Segmentation`, `Session.Trial`). */
  className: string;
  tier: TableTier;
  /** Row count, or null when it could not be read. */
  rows: number | null;
  /** Job counts by status for auto-populated tables that have a job table. */
  jobs: IJobCounts | null;
  /** Database name of the master table, for part tables. */
  master: string | null;
}

export interface ISchemaInfo {
  name: string;
  tables: ITableInfo[];
  /** Why the schema could not be read, if it could not. */
  error: string | null;
}

export interface IPipelineModel {
  connected: boolean;
  /** Where the kernel is connected (`sqlite:///...`, `postgresql://host:port`), never a password. */
  target: string | null;
  /** A note from the kernel, e.g. why nothing is listed. */
  message: string | null;
  schemas: ISchemaInfo[];
}

const TIER_VALUES: TableTier[] = ['manual', 'lookup', 'imported', 'computed', 'part'];

function asNumber(value: unknown): number | null {
  if (typeof value === 'number' && Number.isFinite(value)) {
    return value;
  }
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) {
    return Number(value);
  }
  return null;
}

function asString(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function parseJobs(raw: unknown): IJobCounts | null {
  if (!raw || typeof raw !== 'object') {
    return null;
  }
  const data = raw as Record<string, unknown>;
  return {
    pending: asNumber(data.pending) ?? 0,
    reserved: asNumber(data.reserved) ?? 0,
    error: asNumber(data.error) ?? 0,
    success: asNumber(data.success) ?? 0,
    ignore: asNumber(data.ignore) ?? 0
  };
}

/** The tier a stored table name encodes (DataJoint's prefixes and `master__part`). */
export function tierOfTableName(name: string): TableTier {
  for (const [prefix, tier] of [
    ['__', 'computed'],
    ['_', 'imported'],
    ['#', 'lookup'],
    ['', 'manual']
  ] as [string, TableTier][]) {
    if (name.startsWith(prefix)) {
      return name.slice(prefix.length).includes('__') ? 'part' : tier;
    }
  }
  return 'manual';
}

function parseTable(raw: unknown): ITableInfo | null {
  if (!raw || typeof raw !== 'object') {
    return null;
  }
  const data = raw as Record<string, unknown>;
  const name = asString(data.name);
  if (!name) {
    return null;
  }
  const tier = asString(data.tier) as TableTier | null;
  return {
    name,
    className: asString(data.class_name) ?? name,
    tier: tier && TIER_VALUES.includes(tier) ? tier : tierOfTableName(name),
    rows: asNumber(data.rows),
    jobs: parseJobs(data.jobs),
    master: asString(data.master)
  };
}

/** Check and normalise a `model` reply; anything malformed is dropped, never thrown. */
export function parseModel(raw: unknown): IPipelineModel {
  const data = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  const schemas: ISchemaInfo[] = [];
  if (Array.isArray(data.schemas)) {
    for (const item of data.schemas) {
      if (!item || typeof item !== 'object') {
        continue;
      }
      const schema = item as Record<string, unknown>;
      const name = asString(schema.name);
      if (!name) {
        continue;
      }
      const tables = Array.isArray(schema.tables)
        ? (schema.tables.map(parseTable).filter(t => t !== null) as ITableInfo[])
        : [];
      schemas.push({ name, tables, error: asString(schema.error) });
    }
  }
  return {
    connected: data.connected === true,
    target: asString(data.target),
    message: asString(data.message),
    schemas
  };
}

/** A master table with its part tables, in display order. */
export interface ITableGroup {
  table: ITableInfo;
  parts: ITableInfo[];
}

const TIER_ORDER: Record<TableTier, number> = {
  lookup: 0,
  manual: 1,
  imported: 2,
  computed: 3,
  part: 4,
  unknown: 5
};

/**
 * Tables of a schema grouped for display: masters in the kernel's order (dependency
 * order when it sends one), each followed by its parts; parts whose master is missing
 * are listed on their own at the end.
 */
export function groupTables(schema: ISchemaInfo): ITableGroup[] {
  const groups: ITableGroup[] = [];
  const byName = new Map<string, ITableGroup>();
  for (const table of schema.tables) {
    if (table.tier !== 'part') {
      const group = { table, parts: [] };
      groups.push(group);
      byName.set(table.name, group);
    }
  }
  const orphans: ITableGroup[] = [];
  for (const table of schema.tables) {
    if (table.tier !== 'part') {
      continue;
    }
    const master = table.master ?? table.name.slice(0, table.name.lastIndexOf('__'));
    const group = byName.get(master);
    if (group) {
      group.parts.push(table);
    } else {
      orphans.push({ table, parts: [] });
    }
  }
  return groups.concat(orphans);
}

/** Sort tables by tier then name (used when the kernel sends no order of its own). */
export function sortByTier(tables: ITableInfo[]): ITableInfo[] {
  return [...tables].sort(
    (a, b) => TIER_ORDER[a.tier] - TIER_ORDER[b.tier] || a.name.localeCompare(b.name)
  );
}

/** `schema.table`, the name the kernel-side `browse()` accepts. */
export function fullName(schema: string, table: string): string {
  return `${schema}.${table}`;
}

/** Compact row counts: 999, 1.2k, 35k, 1.2M, 3.4B. */
export function formatCount(n: number | null): string {
  if (n === null) {
    return '?';
  }
  const abs = Math.abs(n);
  const units: [number, string][] = [
    [1e9, 'B'],
    [1e6, 'M'],
    [1e3, 'k']
  ];
  for (const [size, unit] of units) {
    if (abs >= size) {
      const value = n / size;
      const text = Math.abs(value) < 10 ? value.toFixed(1) : Math.round(value).toString();
      return text.replace(/\.0$/, '') + unit;
    }
  }
  return String(n);
}

export type JobLevel = 'error' | 'reserved' | 'pending' | 'done' | 'none';

/** The headline of a table's jobs: the worst status first, as a badge text and level. */
export function jobSummary(jobs: IJobCounts | null): { level: JobLevel; text: string; title: string } {
  if (!jobs) {
    return { level: 'none', text: '', title: '' };
  }
  const title =
    `pending ${jobs.pending}, reserved ${jobs.reserved}, error ${jobs.error}, ` +
    `success ${jobs.success}` + (jobs.ignore ? `, ignore ${jobs.ignore}` : '');
  if (jobs.error > 0) {
    return { level: 'error', text: `${formatCount(jobs.error)} err`, title };
  }
  if (jobs.reserved > 0) {
    return { level: 'reserved', text: `${formatCount(jobs.reserved)} run`, title };
  }
  if (jobs.pending > 0) {
    return { level: 'pending', text: `${formatCount(jobs.pending)} todo`, title };
  }
  if (jobs.success > 0) {
    return { level: 'done', text: '', title };
  }
  return { level: 'none', text: '', title };
}

/** Totals over a schema, for its header line. */
export function schemaTotals(schema: ISchemaInfo): { tables: number; rows: number; errors: number } {
  let rows = 0;
  let errors = 0;
  for (const table of schema.tables) {
    rows += table.rows ?? 0;
    errors += table.jobs?.error ?? 0;
  }
  return { tables: schema.tables.length, rows, errors };
}

/** Full names of tables whose row count or job counts differ between two models. */
export function changedTables(before: IPipelineModel | null, after: IPipelineModel): Set<string> {
  const changed = new Set<string>();
  const old = new Map<string, ITableInfo>();
  for (const schema of before?.schemas ?? []) {
    for (const table of schema.tables) {
      old.set(fullName(schema.name, table.name), table);
    }
  }
  for (const schema of after.schemas) {
    for (const table of schema.tables) {
      const key = fullName(schema.name, table.name);
      const previous = old.get(key);
      if (!previous) {
        if (before) {
          changed.add(key);
        }
        continue;
      }
      if (previous.rows !== table.rows || JSON.stringify(previous.jobs) !== JSON.stringify(table.jobs)) {
        changed.add(key);
      }
    }
  }
  return changed;
}

/** What the sidebar shows, decided from what it knows about the kernel. */
export type SidebarStatus =
  | { kind: 'no-notebook' }
  | { kind: 'no-kernel' }
  | { kind: 'not-loaded'; error?: string }
  | { kind: 'loading' }
  | { kind: 'error'; error: string }
  | { kind: 'ready'; model: IPipelineModel };

/** The one-line message the sidebar shows for a status (null when it shows the tree). */
export function statusMessage(status: SidebarStatus): string | null {
  switch (status.kind) {
    case 'no-notebook':
      return 'Open a notebook to see its pipeline.';
    case 'no-kernel':
      return 'The notebook has no running kernel.';
    case 'not-loaded':
      return 'dj_jupyter is not loaded in this kernel.';
    case 'loading':
      return 'Asking the kernel…';
    case 'error':
      return status.error;
    case 'ready':
      if (!status.model.connected) {
        return status.model.message ?? 'The kernel has no database connection yet.';
      }
      if (status.model.schemas.length === 0) {
        return status.model.message ?? 'No schema is active in this kernel yet.';
      }
      return null;
  }
}

/** Whether running `source` may have loaded dj_jupyter (then a "not loaded" sidebar asks again). */
export function mayLoadExtension(source: string): boolean {
  return /load_ext|load_extension|dj_jupyter|kernel_magics/.test(source);
}

/** Python source that shows a view in the kernel through `dj_jupyter.jupyter.sidebar.show`. */
export function showCode(view: 'browse' | 'diagram' | 'jobs' | 'populate', target: string | null): string {
  const arg = target === null ? 'None' : JSON.stringify(target);
  return `__import__("dj_jupyter.jupyter.sidebar", fromlist=["show"]).show(${JSON.stringify(view)}, ${arg})`;
}
