/**
 * Which cells are `%%dj` cells, and what their header says.
 *
 * Pure functions (no JupyterLab, no CodeMirror) so that jest tests them directly.
 * IPython runs a cell magic only when `%%` starts the first line of the cell (after
 * blank lines, which IPython drops), so that is exactly what we detect.
 */

/** The tiers a `%%dj` definition cell can declare (issue 8: `%%dj manual|lookup|imported|computed NAME`). */
export const TIERS = ['manual', 'lookup', 'imported', 'computed'] as const;
export type Tier = (typeof TIERS)[number];

/** `%%dj` subcommands that take a body of their own but are not table definitions. */
export const SUBCOMMANDS = [
  'connect',
  'schema',
  'populate',
  'jobs',
  'status',
  'describe',
  'diagram',
  'delete'
] as const;

const MAGIC = /^%%dj(?=\s|$)/;

/** What the first line of a `%%dj` cell declares. */
export interface IDjHeader {
  /** `definition` when a tier follows `%%dj`, `query` otherwise. */
  kind: 'definition' | 'query' | 'command';
  /** The tier of a definition cell. */
  tier: Tier | null;
  /** The table class name of a definition cell (`%%dj computed Segmentation` -> `Segmentation`). */
  name: string | null;
  /** The subcommand of a command cell (`%%dj delete`). */
  command: string | null;
  /** Options after the name, `--schema lab` -> `{schema: 'lab'}`, flags map to `true`. */
  options: Record<string, string | true>;
  /** 0-based index of the header line in the cell. */
  line: number;
}

/** The index of the first line that is not blank, or -1. */
function firstNonBlankLine(lines: string[]): number {
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '') {
      return i;
    }
  }
  return -1;
}

/** The first non-blank line of `text` (without its indentation) and its index, reading at most `limit` characters. */
export function headerLine(text: string, limit = 4096): { text: string; line: number } | null {
  const head = text.length > limit ? text.slice(0, limit) : text;
  const lines = head.split(/\r?\n/);
  const index = firstNonBlankLine(lines);
  if (index < 0) {
    return null;
  }
  // IPython also drops the common indentation of the cell, so `  %%dj` runs the magic
  return { text: lines[index].replace(/^\s+/, ''), line: index };
}

/** True when the cell source is a `%%dj` cell. */
export function isDjCell(text: string): boolean {
  const header = headerLine(text);
  return header !== null && MAGIC.test(header.text);
}

/** Split a header line into shell-like words (quotes group words). */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  let match: RegExpExecArray | null;
  while ((match = re.exec(line)) !== null) {
    words.push(match[1] ?? match[2] ?? match[3]);
  }
  return words;
}

/** Parse the header of a `%%dj` cell; `null` when the cell is not one. */
export function parseHeader(text: string): IDjHeader | null {
  const header = headerLine(text);
  if (header === null || !MAGIC.test(header.text)) {
    return null;
  }
  const words = splitWords(header.text.replace(MAGIC, ''));
  const result: IDjHeader = {
    kind: 'query',
    tier: null,
    name: null,
    command: null,
    options: {},
    line: header.line
  };
  let i = 0;
  const first = words[0]?.toLowerCase();
  if (first && (TIERS as readonly string[]).includes(first)) {
    result.kind = 'definition';
    result.tier = first as Tier;
    i = 1;
    if (words[1] && !words[1].startsWith('-')) {
      result.name = words[1];
      i = 2;
    }
  } else if (first && (SUBCOMMANDS as readonly string[]).includes(first)) {
    result.kind = 'command';
    result.command = first;
    i = 1;
  }
  for (; i < words.length; i++) {
    const word = words[i];
    if (!word.startsWith('-')) {
      continue;
    }
    const option = word.replace(/^-+/, '');
    const [key, inline] = option.split('=', 2);
    if (inline !== undefined) {
      result.options[key] = inline;
    } else if (i + 1 < words.length && !words[i + 1].startsWith('-')) {
      result.options[key] = words[++i];
    } else {
      result.options[key] = true;
    }
  }
  return result;
}

const IDENTIFIER_CHAR = /[A-Za-z0-9_.]/;

/**
 * The dotted identifier around `offset` in `text` (`Session.Trial`), or null.
 *
 * A cursor right after the identifier counts as on it, as editors do.
 */
export function identifierAt(text: string, offset: number): string | null {
  let start = Math.max(0, Math.min(offset, text.length));
  let end = start;
  while (start > 0 && IDENTIFIER_CHAR.test(text[start - 1])) {
    start--;
  }
  while (end < text.length && IDENTIFIER_CHAR.test(text[end])) {
    end++;
  }
  const word = text.slice(start, end).replace(/^\.+|\.+$/g, '');
  if (!word || !/^[A-Za-z_]/.test(word)) {
    return null;
  }
  return word;
}

/** True for names written like DataJoint table classes (`Subject`, `Session.Trial`, `lab.Subject`). */
export function looksLikeTable(name: string): boolean {
  return name.split('.').some(part => /^[A-Z][A-Za-z0-9]*$/.test(part));
}

/**
 * The table a command such as "populate the table under the cursor" should act on.
 *
 * Inside a `%%dj` definition cell this is the declared table, unless the cursor is on
 * another table name (a `-> Parent` line); elsewhere it is the table-like identifier at
 * the cursor. Returns null when there is none.
 */
export function tableAtCursor(text: string, offset: number): string | null {
  const word = identifierAt(text, offset);
  const header = parseHeader(text);
  if (word && looksLikeTable(word)) {
    // strip a trailing method or attribute: `Segmentation.populate` -> `Segmentation`
    const parts = word.split('.');
    while (parts.length > 1 && !/^[A-Z]/.test(parts[parts.length - 1])) {
      parts.pop();
    }
    return parts.join('.');
  }
  if (header?.kind === 'definition' && header.name) {
    return header.name;
  }
  return null;
}
