import { identifierAt, isDjCell, parseHeader, splitWords, tableAtCursor } from '../detect';

describe('isDjCell', () => {
  it.each([
    ['%%dj manual Subject\nsubject_id : int32', true],
    ['%%dj\nSubject & "x=1"', true],
    ['%%dj', true],
    ['\n\n  %%dj lookup Species', true],
    ['%%djx manual', false],
    ['%%sql\nselect 1', false],
    ['# %%dj manual Subject', false],
    ['x = 1\n%%dj manual Subject', false],
    ['%dj populate Segmentation', false],
    ['', false],
    ['   \n  ', false]
  ])('%j -> %s', (text, expected) => {
    expect(isDjCell(text)).toBe(expected);
  });

  it('only reads the head of a long cell', () => {
    expect(isDjCell('\n'.repeat(10000) + '%%dj manual T')).toBe(false);
    expect(isDjCell('%%dj manual T\n' + 'a : int32\n'.repeat(10000))).toBe(true);
  });
});

describe('parseHeader', () => {
  it('reads a definition header', () => {
    expect(parseHeader('%%dj computed Segmentation --schema lab --make segment\n-> Recording')).toEqual({
      kind: 'definition',
      tier: 'computed',
      name: 'Segmentation',
      command: null,
      options: { schema: 'lab', make: 'segment' },
      line: 0
    });
  });

  it('reads a query header with options and flags', () => {
    const header = parseHeader('%%dj -o df --limit=10 --all\nSubject');
    expect(header?.kind).toBe('query');
    expect(header?.tier).toBeNull();
    expect(header?.options).toEqual({ o: 'df', limit: '10', all: true });
  });

  it('reads a command header', () => {
    expect(parseHeader('%%dj delete\nSubject & key')?.command).toBe('delete');
  });

  it('is case-insensitive for tiers and null for other cells', () => {
    expect(parseHeader('%%dj Manual Subject')?.tier).toBe('manual');
    expect(parseHeader('print(1)')).toBeNull();
  });

  it('counts blank lines before the header', () => {
    expect(parseHeader('\n\n%%dj lookup L')?.line).toBe(2);
  });
});

describe('splitWords', () => {
  it('keeps quoted words together', () => {
    expect(splitWords(`a "b c" 'd e' f`)).toEqual(['a', 'b c', 'd e', 'f']);
  });
});

describe('tableAtCursor', () => {
  const cell = '%%dj computed Segmentation\n-> Recording\nn_rois : int32';

  it('finds a referenced table under the cursor', () => {
    const offset = cell.indexOf('Recording') + 3;
    expect(tableAtCursor(cell, offset)).toBe('Recording');
  });

  it('falls back to the declared table of a definition cell', () => {
    const offset = cell.indexOf('n_rois') + 2;
    expect(tableAtCursor(cell, offset)).toBe('Segmentation');
  });

  it('finds tables in Python code and drops method names', () => {
    const code = 'Segmentation.populate(display_progress=True)';
    expect(tableAtCursor(code, 3)).toBe('Segmentation');
    expect(tableAtCursor(code, code.indexOf('populate') + 2)).toBe('Segmentation');
    expect(tableAtCursor('lab.Session.Trial & key', 6)).toBe('lab.Session.Trial');
  });

  it('is null away from tables outside %%dj cells', () => {
    expect(tableAtCursor('x = compute(1)', 1)).toBeNull();
  });

  it('counts a cursor right after the word', () => {
    expect(identifierAt('Subject ', 7)).toBe('Subject');
    expect(identifierAt('  ', 1)).toBeNull();
  });
});
