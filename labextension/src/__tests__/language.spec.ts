import { ensureSyntaxTree } from '@codemirror/language';
import { EditorState } from '@codemirror/state';
import { highlightTree } from '@lezer/highlight';

import { djClassHighlighter, djLanguage, IToken, tokenClass, tokenize } from '../language';

const DEFINITION = `%%dj computed Segmentation --schema lab --make segment
# regions of interest found in each recording
-> Recording
-> [nullable, unique] Lab.proj(lab_id='id')
seg_id : int16          # segmentation number
---
method = "watershed" : varchar(32)   # the algorithm
threshold = 0.5 : float64
created = CURRENT_TIMESTAMP : datetime(3)
price : decimal(8,2)
kind : enum('a', 'b')
mask : <blob@lab_store>
traces : <blob>
meta = null : json
legacy : longblob
index(method, threshold)
unique index(kind)
part Roi
-> master
roi_id : uint16
---
area : float32
`;

/** The (text, token) pairs of one line. */
function pairs(tokens: IToken[]): [string, string | null][] {
  return tokens.map(t => [t.text, t.token]);
}

describe('definition cells', () => {
  const lines = tokenize(DEFINITION);

  it('marks the header: magic, tier, table name and options', () => {
    expect(pairs(lines[0])).toEqual([
      ['%%dj', 'magic'],
      ['computed', 'keyword'],
      ['Segmentation', 'table'],
      ['--schema', 'option'],
      ['lab', 'variable'],
      ['--make', 'option'],
      ['segment', 'variable']
    ]);
  });

  it('marks the table comment', () => {
    expect(pairs(lines[1])).toEqual([['# regions of interest found in each recording', 'comment']]);
  });

  it('marks references, their options and projections', () => {
    expect(pairs(lines[2])).toEqual([
      ['->', 'reference'],
      ['Recording', 'table']
    ]);
    expect(pairs(lines[3])).toEqual([
      ['->', 'reference'],
      ['[', 'punctuation'],
      ['nullable', 'option'],
      [',', 'punctuation'],
      ['unique', 'option'],
      [']', 'punctuation'],
      ['Lab', 'table'],
      ['.', 'punctuation'],
      ['proj', 'method'],
      ['(', 'punctuation'],
      ['lab_id', 'attribute'],
      ['=', 'operator'],
      ["'id'", 'string'],
      [')', 'punctuation']
    ]);
  });

  it('marks attribute names, core types and comments', () => {
    expect(pairs(lines[4])).toEqual([
      ['seg_id', 'attribute'],
      [':', 'punctuation'],
      ['int16', 'type'],
      ['# segmentation number', 'comment']
    ]);
  });

  it('marks the primary-key separator', () => {
    expect(pairs(lines[5])).toEqual([['---', 'separator']]);
  });

  it('marks defaults: strings, numbers and constants', () => {
    expect(pairs(lines[6])).toEqual([
      ['method', 'attribute'],
      ['=', 'operator'],
      ['"watershed"', 'string'],
      [':', 'punctuation'],
      ['varchar', 'type'],
      ['(', 'punctuation'],
      ['32', 'number'],
      [')', 'punctuation'],
      ['# the algorithm', 'comment']
    ]);
    expect(pairs(lines[7]).slice(2, 3)).toEqual([['0.5', 'number']]);
    expect(pairs(lines[8])).toEqual([
      ['created', 'attribute'],
      ['=', 'operator'],
      ['CURRENT_TIMESTAMP', 'constant'],
      [':', 'punctuation'],
      ['datetime', 'type'],
      ['(', 'punctuation'],
      ['3', 'number'],
      [')', 'punctuation']
    ]);
    expect(pairs(lines[13]).slice(0, 5)).toEqual([
      ['meta', 'attribute'],
      ['=', 'operator'],
      ['null', 'constant'],
      [':', 'punctuation'],
      ['json', 'type']
    ]);
  });

  it('marks decimal and enum arguments', () => {
    expect(pairs(lines[9])).toEqual([
      ['price', 'attribute'],
      [':', 'punctuation'],
      ['decimal', 'type'],
      ['(', 'punctuation'],
      ['8', 'number'],
      [',', 'punctuation'],
      ['2', 'number'],
      [')', 'punctuation']
    ]);
    expect(pairs(lines[10]).filter(([, kind]) => kind === 'string')).toEqual([
      ["'a'", 'string'],
      ["'b'", 'string']
    ]);
  });

  it('marks codec types with and without a store', () => {
    expect(pairs(lines[11])).toEqual([
      ['mask', 'attribute'],
      [':', 'punctuation'],
      ['<', 'codec'],
      ['blob', 'codec'],
      ['@lab_store', 'store'],
      ['>', 'codec']
    ]);
    expect(pairs(lines[12]).slice(2)).toEqual([
      ['<', 'codec'],
      ['blob', 'codec'],
      ['>', 'codec']
    ]);
  });

  it('tells native types from core types', () => {
    expect(pairs(lines[14])).toEqual([
      ['legacy', 'attribute'],
      [':', 'punctuation'],
      ['longblob', 'nativeType']
    ]);
  });

  it('marks index lines', () => {
    expect(pairs(lines[15])).toEqual([
      ['index', 'keyword'],
      ['(', 'punctuation'],
      ['method', 'attribute'],
      [',', 'punctuation'],
      ['threshold', 'attribute'],
      [')', 'punctuation']
    ]);
    expect(pairs(lines[16])[0]).toEqual(['unique index', 'keyword']);
  });

  it('marks part blocks and their definitions', () => {
    expect(pairs(lines[17])).toEqual([
      ['part', 'keyword'],
      ['Roi', 'table']
    ]);
    expect(pairs(lines[18])).toEqual([
      ['->', 'reference'],
      ['master', 'table']
    ]);
    expect(pairs(lines[19])).toEqual([
      ['roi_id', 'attribute'],
      [':', 'punctuation'],
      ['uint16', 'type']
    ]);
    expect(pairs(lines[20])).toEqual([['---', 'separator']]);
    expect(pairs(lines[21]).slice(-1)).toEqual([['float32', 'type']]);
  });

  it('knows every core type of the definition language', () => {
    const types = [
      'int8', 'int16', 'int32', 'int64', 'float32', 'float64', 'bool', 'date', 'uuid', 'json', 'bytes'
    ];
    const text = '%%dj manual T\n' + types.map((type, i) => `a${i} : ${type}`).join('\n');
    const found = tokenize(text)
      .slice(1)
      .map(line => line[2]);
    expect(found).toEqual(types.map(type => ({ text: type, token: 'type' })));
  });
});

describe('lookup contents', () => {
  it('marks the contents keyword and rows', () => {
    const lines = tokenize(
      '%%dj lookup Species\nspecies : varchar(32)\n---\ncommon : varchar(64)\ncontents\n"mus musculus", "house mouse"\nrat, 3\n'
    );
    expect(pairs(lines[4])).toEqual([['contents', 'keyword']]);
    expect(pairs(lines[5])).toEqual([
      ['"mus musculus"', 'string'],
      [',', 'punctuation'],
      ['"house mouse"', 'string']
    ]);
    expect(pairs(lines[6])).toEqual([
      ['rat', 'string'],
      [',', 'punctuation'],
      ['3', 'number']
    ]);
  });
});

describe('query cells', () => {
  it('marks tables, operators, restriction strings and methods', () => {
    const lines = tokenize(
      `%%dj -o df --limit 10\nSession * Subject & 'species = "mouse"' - Segmentation.proj(n='n_rois')\ndj.U('species').aggr(Subject, n='count(*)')  # per species`
    );
    expect(pairs(lines[0])).toEqual([
      ['%%dj', 'magic'],
      ['-o', 'option'],
      ['df', 'variable'],
      ['--limit', 'option'],
      ['10', 'number']
    ]);
    expect(pairs(lines[1])).toEqual([
      ['Session', 'table'],
      ['*', 'operator'],
      ['Subject', 'table'],
      ['&', 'operator'],
      [`'species = "mouse"'`, 'string'],
      ['-', 'operator'],
      ['Segmentation', 'table'],
      ['.', 'punctuation'],
      ['proj', 'method'],
      ['(', 'punctuation'],
      ['n', 'attribute'],
      ['=', 'operator'],
      ["'n_rois'", 'string'],
      [')', 'punctuation']
    ]);
    const third = pairs(lines[2]);
    expect(third[0]).toEqual(['dj', 'variable']);
    expect(third[2]).toEqual(['U', 'table']);
    expect(third).toContainEqual(['aggr', 'method']);
    expect(third[third.length - 1]).toEqual(['# per species', 'comment']);
  });

  it('treats a cell after blank lines the same way', () => {
    const lines = tokenize('\n\n%%dj manual Subject\nsubject_id : int32');
    expect(pairs(lines[2])[0]).toEqual(['%%dj', 'magic']);
    expect(pairs(lines[3])[2]).toEqual(['int32', 'type']);
  });
});

describe('the CodeMirror language', () => {
  it('gives highlighted ranges the cm-dj-* classes', () => {
    const doc = '%%dj manual Subject\n# subjects\nsubject_id : int32\n---\n-> Lab\nnote = "" : varchar(255)';
    const state = EditorState.create({ doc, extensions: [djLanguage] });
    const tree = ensureSyntaxTree(state, doc.length, 5000);
    expect(tree).not.toBeNull();
    const spans: [string, string][] = [];
    highlightTree(tree!, djClassHighlighter, (from, to, classes) => {
      spans.push([doc.slice(from, to), classes]);
    });
    expect(spans).toEqual(
      expect.arrayContaining([
        ['%%dj', 'cm-dj-magic'],
        ['manual', 'cm-dj-keyword'],
        ['Subject', 'cm-dj-table'],
        ['# subjects', 'cm-dj-comment'],
        ['subject_id', 'cm-dj-attribute'],
        ['int32', 'cm-dj-type'],
        ['---', 'cm-dj-separator'],
        ['->', 'cm-dj-reference'],
        ['Lab', 'cm-dj-table'],
        ['""', 'cm-dj-string'],
        ['varchar', 'cm-dj-type']
      ])
    );
  });

  it('names classes after token kinds', () => {
    expect(tokenClass('nativeType')).toBe('cm-dj-native-type');
    expect(tokenClass('comment')).toBe('cm-dj-comment');
  });
});
