/**
 * The editor side of `%%dj` cells: the `%%dj` language only in cells whose first line
 * starts with `%%dj`, and an optional nudge to the kernel completer after `->`, `.`
 * and `:` in those cells.
 *
 * How only `%%dj` cells get the language: a state field tracks whether the document's
 * first non-blank line is `%%dj ...`, and the `language` facet is computed from it at the
 * highest precedence. While the field is true our language wins over the IPython language
 * that JupyterLab configures for the cell; when it turns false the facet value disappears
 * and CodeMirror re-parses with IPython again. Nothing else about the cell changes: its
 * model, its mime type and the kernel's handling of it stay as they are.
 */

import { language, StreamLanguage } from '@codemirror/language';
import { Compartment, EditorState, Extension, Prec, StateField, Text } from '@codemirror/state';
import { EditorView, ViewPlugin, ViewUpdate } from '@codemirror/view';
import { syntaxHighlighting } from '@codemirror/language';

import { isDjCell } from './detect';
import { djClassHighlighter, djLanguage } from './language';

/** How much of the document the detection reads: the header is on the first non-blank line. */
const HEAD_CHARS = 2048;

function headOf(doc: Text): string {
  return doc.sliceString(0, Math.min(doc.length, HEAD_CHARS));
}

/** True while the document is a `%%dj` cell. */
export const isDjField = StateField.define<boolean>({
  create: state => isDjCell(headOf(state.doc)),
  update(value, tr) {
    if (!tr.docChanged) {
      return value;
    }
    // only edits that touch the head can change the answer
    let touchesHead = false;
    tr.changes.iterChangedRanges((fromA, _toA, fromB) => {
      if (fromA <= HEAD_CHARS || fromB <= HEAD_CHARS) {
        touchesHead = true;
      }
    });
    return touchesHead ? isDjCell(headOf(tr.state.doc)) : value;
  }
});

/** True when `state` is a `%%dj` cell (false when the extension is not installed). */
export function isDjState(state: EditorState): boolean {
  return state.field(isDjField, false) ?? false;
}

/**
 * A language that highlights nothing, at the lowest precedence: the `language` facet must
 * never be empty while our computed value is part of the configuration (CodeMirror's
 * parser state assumes a language once the facet is in use), and a cell whose mime type
 * has no language in JupyterLab would otherwise leave it empty when it is not `%%dj`.
 */
export const plainLanguage = StreamLanguage.define<null>({
  name: 'text',
  startState: () => null,
  token: stream => {
    stream.skipToEnd();
    return null;
  }
});

/** The `%%dj` language, first in the `language` facet only while the cell is a `%%dj` cell. */
const conditionalLanguage = [
  Prec.highest(language.computeN([isDjField], state => (state.field(isDjField) ? [djLanguage] : []))),
  Prec.lowest(language.of(plainLanguage))
];

/** Hooks the host application gives the editor extension. */
export interface IEditorHooks {
  /** Open the completer on the active cell (JupyterLab's `completer:invoke-notebook`). */
  invokeCompleter?: () => void;
  /** Whether to open the completer by itself after `->`, `.` and `:` in `%%dj` cells. */
  autoComplete: () => boolean;
}

/**
 * Where typing `inserted` at the end of `before` should open the completer in a `%%dj`
 * cell: after `-> ` (table names), after `Name.` (attributes and parts) and after `: ` in
 * a definition (types). Pure, for tests.
 */
export function shouldTriggerCompletion(before: string, inserted: string): boolean {
  if (inserted.length !== 1) {
    return false;
  }
  const line = before.slice(before.lastIndexOf('\n') + 1);
  if (inserted === '.') {
    return /[A-Z][A-Za-z0-9_]*$/.test(line);
  }
  if (inserted === ' ') {
    return (
      /->$/.test(line) ||
      /->\s*\[[^\]]*\]$/.test(line) ||
      /^\s*[a-z_][a-z0-9_]*\s*(=[^:#]*)?:$/.test(line)
    );
  }
  return false;
}

function autoCompletePlugin(hooks: IEditorHooks): Extension {
  return ViewPlugin.fromClass(
    class {
      update(update: ViewUpdate): void {
        if (!update.docChanged || !hooks.invokeCompleter || !hooks.autoComplete()) {
          return;
        }
        if (!isDjState(update.state) || !update.transactions.some(tr => tr.isUserEvent('input.type'))) {
          return;
        }
        let trigger = false;
        update.changes.iterChanges((_fromA, _toA, fromB, _toB, inserted) => {
          const text = inserted.toString();
          const before = update.state.doc.sliceString(Math.max(0, fromB - 200), fromB);
          if (shouldTriggerCompletion(before, text)) {
            trigger = true;
          }
        });
        if (trigger) {
          // after this update has been applied: the completer reads the editor's state
          setTimeout(() => hooks.invokeCompleter?.(), 0);
        }
      }
    }
  );
}

/** Every editor view that carries the `%%dj` extension, so settings can reconfigure them. */
const views = new Set<EditorView>();
const trackViews = ViewPlugin.fromClass(
  class {
    constructor(readonly view: EditorView) {
      views.add(view);
    }
    destroy(): void {
      views.delete(this.view);
    }
  }
);

const highlightingCompartment = new Compartment();

function highlighting(enabled: boolean): Extension {
  return enabled
    ? [conditionalLanguage, syntaxHighlighting(djClassHighlighter)]
    : [];
}

let highlightingEnabled = true;

/**
 * The CodeMirror extension for notebook code cells: `%%dj` detection, the language while
 * the cell is a `%%dj` cell, `cm-dj-*` classes, and the completion nudge.
 */
export function djCellExtension(hooks: IEditorHooks): Extension {
  return [
    isDjField,
    trackViews,
    highlightingCompartment.of(highlighting(highlightingEnabled)),
    autoCompletePlugin(hooks),
    EditorView.editorAttributes.compute([isDjField], state =>
      state.field(isDjField) ? { class: 'jp-dj-cell-editor' } : ({} as Record<string, string>)
    )
  ];
}

/** Turn `%%dj` highlighting on or off in every open editor and in editors opened later. */
export function setHighlighting(enabled: boolean): void {
  if (enabled === highlightingEnabled) {
    return;
  }
  highlightingEnabled = enabled;
  for (const view of views) {
    view.dispatch({ effects: highlightingCompartment.reconfigure(highlighting(enabled)) });
  }
}
