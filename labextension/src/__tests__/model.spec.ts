import {
  changedTables,
  formatCount,
  groupTables,
  jobSummary,
  mayLoadExtension,
  parseModel,
  schemaTotals,
  showCode,
  sortByTier,
  statusMessage,
  tierOfTableName
} from '../model';

const REPLY = {
  reply: 'model',
  id: 'r1',
  connected: true,
  target: 'sqlite:///tmp/pipeline.sqlite3',
  message: null,
  schemas: [
    {
      name: 'demo',
      tables: [
        { name: '#species', class_name: 'Species', tier: 'lookup', rows: 2, jobs: null, master: null },
        { name: 'subject', class_name: 'Subject', tier: 'manual', rows: 3, jobs: null, master: null },
        {
          name: '__segmentation',
          class_name: 'Segmentation',
          tier: 'computed',
          rows: 1,
          jobs: { pending: 1, reserved: 0, error: 1, success: 1, ignore: 0 },
          master: null
        },
        {
          name: '__segmentation__roi',
          class_name: 'Segmentation.Roi',
          tier: 'part',
          rows: 12,
          jobs: null,
          master: '__segmentation'
        },
        { name: 'orphan__part', class_name: 'Orphan.Part', tier: 'part', rows: 0, jobs: null, master: 'orphan' }
      ]
    },
    { name: 'broken', tables: [], error: 'permission denied' },
    { tables: [] },
    'junk'
  ]
};

describe('parseModel', () => {
  const model = parseModel(REPLY);

  it('keeps well-formed schemas and tables and drops junk', () => {
    expect(model.connected).toBe(true);
    expect(model.target).toBe('sqlite:///tmp/pipeline.sqlite3');
    expect(model.schemas.map(s => s.name)).toEqual(['demo', 'broken']);
    expect(model.schemas[1].error).toBe('permission denied');
    const seg = model.schemas[0].tables[2];
    expect(seg).toEqual({
      name: '__segmentation',
      className: 'Segmentation',
      tier: 'computed',
      rows: 1,
      jobs: { pending: 1, reserved: 0, error: 1, success: 1, ignore: 0 },
      master: null
    });
  });

  it('never throws on garbage', () => {
    expect(parseModel(null)).toEqual({ connected: false, target: null, message: null, schemas: [] });
    expect(parseModel({ schemas: 'x' }).schemas).toEqual([]);
  });

  it('fills in a missing tier from the table name and bad counts with null', () => {
    const m = parseModel({ schemas: [{ name: 's', tables: [{ name: '_rec', rows: 'many' }] }] });
    expect(m.schemas[0].tables[0].tier).toBe('imported');
    expect(m.schemas[0].tables[0].rows).toBeNull();
    expect(m.schemas[0].tables[0].className).toBe('_rec');
  });
});

describe('tables', () => {
  const schema = parseModel(REPLY).schemas[0];

  it('decodes tiers from DataJoint table-name prefixes', () => {
    expect(tierOfTableName('#species')).toBe('lookup');
    expect(tierOfTableName('subject')).toBe('manual');
    expect(tierOfTableName('_recording')).toBe('imported');
    expect(tierOfTableName('__segmentation')).toBe('computed');
    expect(tierOfTableName('__segmentation__roi')).toBe('part');
    expect(tierOfTableName('session__trial')).toBe('part');
  });

  it('groups parts under their masters, orphans last', () => {
    const groups = groupTables(schema);
    expect(groups.map(g => [g.table.name, g.parts.map(p => p.name)])).toEqual([
      ['#species', []],
      ['subject', []],
      ['__segmentation', ['__segmentation__roi']],
      ['orphan__part', []]
    ]);
  });

  it('sorts by tier', () => {
    expect(sortByTier(schema.tables).map(t => t.tier)).toEqual(['lookup', 'manual', 'computed', 'part', 'part']);
  });

  it('totals rows and errors', () => {
    expect(schemaTotals(schema)).toEqual({ tables: 5, rows: 18, errors: 1 });
  });
});

describe('display helpers', () => {
  it('formats counts compactly', () => {
    expect(formatCount(null)).toBe('?');
    expect(formatCount(0)).toBe('0');
    expect(formatCount(999)).toBe('999');
    expect(formatCount(1000)).toBe('1k');
    expect(formatCount(1234)).toBe('1.2k');
    expect(formatCount(35_000)).toBe('35k');
    expect(formatCount(10_000_000)).toBe('10M');
    expect(formatCount(3_400_000_000)).toBe('3.4B');
  });

  it('puts the worst job status first', () => {
    expect(jobSummary(null).level).toBe('none');
    expect(jobSummary({ pending: 4, reserved: 2, error: 3, success: 1, ignore: 0 })).toMatchObject({
      level: 'error',
      text: '3 err'
    });
    expect(jobSummary({ pending: 4, reserved: 2, error: 0, success: 1, ignore: 0 }).level).toBe('reserved');
    expect(jobSummary({ pending: 4, reserved: 0, error: 0, success: 1, ignore: 0 }).text).toBe('4 todo');
    expect(jobSummary({ pending: 0, reserved: 0, error: 0, success: 5, ignore: 0 }).level).toBe('done');
  });

  it('reports which tables changed between refreshes', () => {
    const before = parseModel(REPLY);
    const raw = JSON.parse(JSON.stringify(REPLY));
    raw.schemas[0].tables[1].rows = 4;
    raw.schemas[0].tables[2].jobs.error = 0;
    raw.schemas[0].tables.push({ name: 'new_table', tier: 'manual', rows: 0 });
    const after = parseModel(raw);
    expect([...changedTables(before, after)].sort()).toEqual([
      'demo.__segmentation',
      'demo.new_table',
      'demo.subject'
    ]);
    expect(changedTables(null, after).size).toBe(0);
  });

  it('says why nothing is listed', () => {
    expect(statusMessage({ kind: 'not-loaded' })).toMatch(/not loaded/);
    expect(statusMessage({ kind: 'ready', model: parseModel({ connected: false }) })).toMatch(/no database connection/);
    expect(statusMessage({ kind: 'ready', model: parseModel({ connected: true, schemas: [] }) })).toMatch(/No schema/);
    expect(statusMessage({ kind: 'ready', model: parseModel(REPLY) })).toBeNull();
  });

  it('asks a kernel without dj_jupyter again only after cells that may load it', () => {
    expect(mayLoadExtension('%load_ext dj_jupyter')).toBe(true);
    expect(mayLoadExtension('import dj_jupyter as dj')).toBe(true);
    expect(mayLoadExtension('x = 1\nprint(x)')).toBe(false);
  });

  it('writes the kernel code that shows a view, quoting names safely', () => {
    expect(showCode('browse', 'demo.__segmentation')).toBe(
      '__import__("dj_jupyter.jupyter.sidebar", fromlist=["show"]).show("browse", "demo.__segmentation")'
    );
    expect(showCode('diagram', null)).toContain('.show("diagram", None)');
    expect(showCode('browse', 'a"); import os; ("')).toContain('"a\\"); import os; (\\""');
  });
});
