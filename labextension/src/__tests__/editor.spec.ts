import { language, StreamLanguage } from '@codemirror/language';
import { EditorState } from '@codemirror/state';

import { djCellExtension, isDjField, plainLanguage, setHighlighting, shouldTriggerCompletion } from '../editor';
import { djLanguage } from '../language';

const hooks = { autoComplete: () => true };

describe('the %%dj cell extension', () => {
  it('gives %%dj cells the DataJoint language and leaves other cells to the host', () => {
    const dj = EditorState.create({ doc: '%%dj manual Subject\nid : int32', extensions: djCellExtension(hooks) });
    expect(dj.field(isDjField)).toBe(true);
    expect(dj.facet(language)).toBe(djLanguage);

    const python = EditorState.create({ doc: 'x = 1', extensions: djCellExtension(hooks) });
    expect(python.field(isDjField)).toBe(false);
    expect(python.facet(language)).toBe(plainLanguage);
  });

  it('follows edits of the first line', () => {
    let state = EditorState.create({ doc: 'Subject()', extensions: djCellExtension(hooks) });
    state = state.update({ changes: { from: 0, insert: '%%dj\n' } }).state;
    expect(state.facet(language)).toBe(djLanguage);
    state = state.update({ changes: { from: 0, to: 2 } }).state; // "dj\nSubject()"
    expect(state.field(isDjField)).toBe(false);
    expect(state.facet(language)).toBe(plainLanguage);
  });

  it('can be turned off', () => {
    setHighlighting(false);
    try {
      const state = EditorState.create({ doc: '%%dj manual T', extensions: djCellExtension(hooks) });
      expect(state.field(isDjField)).toBe(true);
      expect(state.facet(language)).toBeNull();
    } finally {
      setHighlighting(true);
    }
  });
});

describe('shouldTriggerCompletion', () => {
  it.each([
    ['-> ', true, '->', ' '],
    ['after a reference with options', true, '-> [nullable]', ' '],
    ['after a table name and a dot', true, 'Session', '.'],
    ['after an attribute name and colon', true, 'subject_id :', ' '],
    ['after a default and colon', true, 'note = "x" :', ' '],
    ['after a lowercase name and dot', false, 'dj', '.'],
    ['a letter', false, '-> S', 'u'],
    ['a paste', false, '', '-> Subject'],
    ['a plain space', false, 'Session *', ' ']
  ])('%s', (_name, expected, before, inserted) => {
    expect(shouldTriggerCompletion(before as string, inserted as string)).toBe(expected);
  });
});

describe('next to the host language', () => {
  const python = StreamLanguage.define<null>({ name: 'python-ish', startState: () => null, token: s => (s.skipToEnd(), null) });

  it('wins in %%dj cells and steps back elsewhere', () => {
    const extensions = [python, djCellExtension(hooks)];
    let state = EditorState.create({ doc: 'x = 1', extensions });
    expect(state.facet(language)).toBe(python);
    state = state.update({ changes: { from: 0, insert: '%%dj\n' } }).state;
    expect(state.facet(language)).toBe(djLanguage);
  });
});
