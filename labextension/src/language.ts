/**
 * A CodeMirror 6 language for `%%dj` cells: the DataJoint definition language and query
 * expressions.
 *
 * It is a StreamLanguage (a line tokenizer with a small state) over the whole cell: the
 * `%%dj ...` header line, then a table definition when the header names a tier
 * (`%%dj computed Segmentation`), otherwise a query expression. Every token gets a tag
 * of its own (`djTags`) derived from a standard highlighting tag, so JupyterLab's theme
 * colours it, and `djClassHighlighter` adds stable `cm-dj-*` classes that style.css and
 * the tests use.
 *
 * This module imports only CodeMirror and Lezer, so jest runs it without a browser.
 */

import { StreamLanguage, StreamParser, StringStream } from '@codemirror/language';
import { Tag, tagHighlighter, tags as t } from '@lezer/highlight';

import { SUBCOMMANDS, TIERS } from './detect';

/** Tags of the `%%dj` language; each derives from a standard tag that themes already colour. */
export const djTags = {
  magic: Tag.define(t.processingInstruction),
  keyword: Tag.define(t.keyword),
  option: Tag.define(t.modifier),
  comment: Tag.define(t.lineComment),
  separator: Tag.define(t.contentSeparator),
  reference: Tag.define(t.operatorKeyword),
  table: Tag.define(t.className),
  attribute: Tag.define(t.propertyName),
  type: Tag.define(t.typeName),
  nativeType: Tag.define(t.typeName),
  codec: Tag.define(t.typeName),
  store: Tag.define(t.labelName),
  constant: Tag.define(t.atom),
  string: Tag.define(t.string),
  number: Tag.define(t.number),
  operator: Tag.define(t.operator),
  method: Tag.define(t.propertyName),
  variable: Tag.define(t.variableName),
  punctuation: Tag.define(t.punctuation)
};

export type DjToken = keyof typeof djTags;

/** The CSS class each token kind gets in the editor (`cm-dj-<kind>`). */
export function tokenClass(token: DjToken): string {
  return 'cm-dj-' + token.replace(/[A-Z]/g, c => '-' + c.toLowerCase());
}

/** Adds `cm-dj-*` classes to `%%dj` tokens (and to nothing else). */
export const djClassHighlighter = tagHighlighter(
  (Object.keys(djTags) as DjToken[]).map(token => ({
    tag: djTags[token],
    class: tokenClass(token)
  }))
);

/** DataJoint 2.x core types (`int32`, `varchar(n)`, ...); anything else after `:` is a native type. */
export const CORE_TYPES = new Set([
  'int8',
  'int16',
  'int32',
  'int64',
  'uint8',
  'uint16',
  'uint32',
  'uint64',
  'float32',
  'float64',
  'bool',
  'decimal',
  'char',
  'varchar',
  'date',
  'datetime',
  'enum',
  'uuid',
  'json',
  'bytes'
]);

const CONSTANTS = new Set(['null', 'current_timestamp', 'true', 'false', 'none']);
const QUERY_KEYWORDS = new Set([
  'and',
  'or',
  'not',
  'in',
  'is',
  'lambda',
  'if',
  'else',
  'for'
]);
const QUERY_CONSTANTS = new Set(['True', 'False', 'None']);
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*/;

type Mode = 'start' | 'definition' | 'contents' | 'query';

/** Where the tokenizer is inside the current line. */
type Phase =
  // definition lines
  | 'lineStart'
  | 'attrName'
  | 'afterName'
  | 'default'
  | 'type'
  | 'typeArgs'
  | 'codec'
  | 'afterType'
  | 'fkOptions'
  | 'fkTable'
  | 'fkAfterTable'
  | 'fkProj'
  | 'index'
  | 'partName'
  | 'rest'
  // header line
  | 'header'
  | 'headerName'
  | 'headerOptions';

export interface IDjState {
  mode: Mode;
  /** The mode that starts after the header line. */
  next: Mode;
  phase: Phase;
  /** Parenthesis depth inside the current construct. */
  depth: number;
  /** A `.` was just read in a query (the next name is a method or an attribute). */
  afterDot: boolean;
}

function readString(stream: StringStream): boolean {
  const quote = stream.peek();
  if (quote !== '"' && quote !== "'") {
    return false;
  }
  stream.next();
  let escaped = false;
  let ch: string | void;
  while ((ch = stream.next()) !== undefined) {
    if (ch === quote && !escaped) {
      // SQL-style doubled quote continues the string
      if (stream.peek() === quote) {
        stream.next();
        continue;
      }
      return true;
    }
    escaped = !escaped && ch === '\\';
  }
  return true;
}

function readNumber(stream: StringStream): boolean {
  return !!stream.match(/^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?/);
}

function isHeaderPhase(phase: Phase): boolean {
  return phase === 'header' || phase === 'headerName' || phase === 'headerOptions';
}

function tokenHeader(stream: StringStream, state: IDjState): DjToken | null {
  if (!isHeaderPhase(state.phase)) {
    // first token of the header line
    if (stream.match(/^%%dj(?=\s|$)/)) {
      state.phase = 'header';
      state.next = 'query';
      return 'magic';
    }
    stream.skipToEnd();
    return null;
  }
  if (stream.match(/^--?[A-Za-z][\w-]*/)) {
    state.phase = 'headerOptions';
    return 'option';
  }
  if (stream.peek() === '=') {
    stream.next();
    return 'operator';
  }
  if (readString(stream)) {
    return 'string';
  }
  if (readNumber(stream)) {
    return 'number';
  }
  const word = stream.match(IDENT) as RegExpMatchArray | null;
  if (word) {
    const lower = word[0].toLowerCase();
    if (state.phase === 'header') {
      if ((TIERS as readonly string[]).includes(lower)) {
        state.next = 'definition';
        state.phase = 'headerName';
        return 'keyword';
      }
      if ((SUBCOMMANDS as readonly string[]).includes(lower)) {
        state.phase = 'headerOptions';
        return 'keyword';
      }
    }
    if (state.phase === 'headerName') {
      state.phase = 'headerOptions';
      return 'table';
    }
    return 'variable';
  }
  stream.next();
  return null;
}

/** A `-> [nullable] Parent.proj(new='old')  # comment` line. */
function tokenReference(stream: StringStream, state: IDjState): DjToken | null {
  switch (state.phase) {
    case 'fkOptions':
      if (stream.eat(']')) {
        state.phase = 'fkTable';
        return 'punctuation';
      }
      if (stream.eat(',')) {
        return 'punctuation';
      }
      if (stream.match(IDENT)) {
        return 'option';
      }
      stream.next();
      return null;
    case 'fkTable':
      if (stream.eat('[')) {
        state.phase = 'fkOptions';
        return 'punctuation';
      }
      if (stream.match(/^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*/)) {
        // a trailing `.proj` belongs to the projection, not to the table name
        const text = stream.current();
        const proj = text.match(/\.(proj)$/);
        if (proj) {
          stream.backUp(proj[0].length);
        }
        state.phase = 'fkAfterTable';
        return 'table';
      }
      stream.next();
      return null;
    case 'fkAfterTable':
      if (stream.eat('.')) {
        return 'punctuation';
      }
      if (stream.match(/^proj\b/)) {
        return 'method';
      }
      if (stream.eat('(')) {
        state.phase = 'fkProj';
        state.depth = 1;
        return 'punctuation';
      }
      stream.next();
      return null;
    case 'fkProj':
      if (stream.eat('(')) {
        state.depth++;
        return 'punctuation';
      }
      if (stream.eat(')')) {
        state.depth--;
        if (state.depth <= 0) {
          state.phase = 'rest';
        }
        return 'punctuation';
      }
      if (readString(stream)) {
        return 'string';
      }
      if (stream.match(IDENT)) {
        return 'attribute';
      }
      if (stream.eat('=')) {
        return 'operator';
      }
      stream.next();
      return 'punctuation';
  }
  return null;
}

/** An attribute line: `name [= default] : type  # comment`. */
function tokenAttribute(stream: StringStream, state: IDjState): DjToken | null {
  switch (state.phase) {
    case 'attrName':
      if (stream.match(IDENT)) {
        state.phase = 'afterName';
        return 'attribute';
      }
      break;
    case 'afterName':
      if (stream.eat('=')) {
        state.phase = 'default';
        return 'operator';
      }
      if (stream.eat(':')) {
        state.phase = 'type';
        return 'punctuation';
      }
      break;
    case 'default':
      if (stream.eat(':')) {
        state.phase = 'type';
        return 'punctuation';
      }
      if (readString(stream)) {
        return 'string';
      }
      if (readNumber(stream)) {
        return 'number';
      }
      {
        const word = stream.match(IDENT) as RegExpMatchArray | null;
        if (word) {
          return CONSTANTS.has(word[0].toLowerCase()) ? 'constant' : 'variable';
        }
      }
      if (stream.eat('(') || stream.eat(')')) {
        return 'punctuation';
      }
      break;
    case 'type': {
      if (stream.eat('<')) {
        state.phase = 'codec';
        return 'codec';
      }
      const word = stream.match(IDENT) as RegExpMatchArray | null;
      if (word) {
        state.phase = 'afterType';
        return CORE_TYPES.has(word[0].toLowerCase()) ? 'type' : 'nativeType';
      }
      break;
    }
    case 'codec':
      if (stream.eat('>')) {
        state.phase = 'afterType';
        return 'codec';
      }
      if (stream.match(/^@\s*[A-Za-z_][\w-]*/) || stream.eat('@')) {
        return 'store';
      }
      if (stream.match(IDENT)) {
        return 'codec';
      }
      break;
    case 'afterType':
    case 'typeArgs':
      if (stream.eat('(')) {
        state.depth++;
        state.phase = 'typeArgs';
        return 'punctuation';
      }
      if (stream.eat(')')) {
        state.depth = Math.max(0, state.depth - 1);
        if (state.depth === 0) {
          state.phase = 'afterType';
        }
        return 'punctuation';
      }
      if (readString(stream)) {
        return 'string';
      }
      if (readNumber(stream)) {
        return 'number';
      }
      if (stream.eat(',')) {
        return 'punctuation';
      }
      if (stream.match(IDENT)) {
        // `int unsigned`, `auto_increment`: modifiers of a native type
        return 'nativeType';
      }
      break;
  }
  stream.next();
  return null;
}

function tokenDefinition(stream: StringStream, state: IDjState): DjToken | null {
  if (state.phase === 'lineStart') {
    if (stream.match(/^(-{3,}|_{3,})\s*$/)) {
      state.phase = 'rest';
      return 'separator';
    }
    if (stream.match('->')) {
      state.phase = 'fkTable';
      return 'reference';
    }
    if (stream.match(/^part(?=\s+[A-Za-z_])/i)) {
      state.phase = 'partName';
      state.mode = 'definition';
      return 'keyword';
    }
    if (stream.match(/^contents\s*$/i)) {
      state.mode = 'contents';
      state.phase = 'rest';
      return 'keyword';
    }
    if (stream.match(/^(unique\s+)?index(?=\s*\()/i)) {
      state.phase = 'index';
      return 'keyword';
    }
    state.phase = 'attrName';
  }
  switch (state.phase) {
    case 'partName':
      if (stream.match(IDENT)) {
        state.phase = 'rest';
        return 'table';
      }
      stream.next();
      return null;
    case 'index':
      if (stream.eat('(') || stream.eat(')') || stream.eat(',')) {
        return 'punctuation';
      }
      if (stream.match(IDENT)) {
        return 'attribute';
      }
      stream.next();
      return null;
    case 'fkOptions':
    case 'fkTable':
    case 'fkAfterTable':
    case 'fkProj':
      return tokenReference(stream, state);
    case 'rest':
      stream.next();
      return null;
  }
  return tokenAttribute(stream, state);
}

/** A row of lookup contents: `1, "mouse", 3.5`. */
function tokenContents(stream: StringStream, state: IDjState): DjToken | null {
  if (state.phase === 'lineStart' && stream.match(/^part(?=\s+[A-Za-z_])/i)) {
    state.mode = 'definition';
    state.phase = 'partName';
    return 'keyword';
  }
  state.phase = 'rest';
  if (readString(stream)) {
    return 'string';
  }
  if (readNumber(stream)) {
    return 'number';
  }
  const word = stream.match(IDENT) as RegExpMatchArray | null;
  if (word) {
    return CONSTANTS.has(word[0].toLowerCase()) ? 'constant' : 'string';
  }
  if (stream.eat(',')) {
    return 'punctuation';
  }
  stream.next();
  return null;
}

/** A query expression: `Session * Subject & 'species = "mouse"'`. */
function tokenQuery(stream: StringStream, state: IDjState): DjToken | null {
  if (readString(stream)) {
    state.afterDot = false;
    return 'string';
  }
  if (stream.eat('.')) {
    if (stream.match(/^\d/, false)) {
      stream.backUp(1);
    } else {
      state.afterDot = true;
      return 'punctuation';
    }
  }
  if (readNumber(stream)) {
    state.afterDot = false;
    return 'number';
  }
  const word = stream.match(IDENT) as RegExpMatchArray | null;
  if (word) {
    const afterDot = state.afterDot;
    state.afterDot = false;
    const text = word[0];
    if (afterDot) {
      if (/^[A-Z]/.test(text)) {
        // a part table (`Session.Trial`) or a class (`dj.U`, `dj.Top`)
        return 'table';
      }
      return stream.match(/^\s*\(/, false) ? 'method' : 'attribute';
    }
    if (QUERY_KEYWORDS.has(text)) {
      return 'keyword';
    }
    if (QUERY_CONSTANTS.has(text)) {
      return 'constant';
    }
    if (stream.match(/^\s*=(?!=)/, false)) {
      // keyword argument: proj(new_name='old'), order_by=...
      return 'attribute';
    }
    return /^[A-Z]/.test(text) ? 'table' : 'variable';
  }
  state.afterDot = false;
  if (stream.match(/^(\*\*|[*&\-+^@|~<>!=]=?|\/)/)) {
    return 'operator';
  }
  if (stream.match(/^[()[\]{},:]/)) {
    return 'punctuation';
  }
  stream.next();
  return null;
}

/** Read one token and say what it is. */
function readDjToken(stream: StringStream, state: IDjState): DjToken | null {
  if (stream.sol()) {
    if (state.mode === 'start' && isHeaderPhase(state.phase)) {
      // the line after the header starts the body
      state.mode = state.next;
    }
    state.phase = 'lineStart';
    state.depth = 0;
    state.afterDot = false;
  }
  if (stream.eatSpace()) {
    return null;
  }
  // a comment runs to the end of the line anywhere outside a string
  if (stream.peek() === '#') {
    stream.skipToEnd();
    return 'comment';
  }
  switch (state.mode) {
    case 'start':
      return tokenHeader(stream, state);
    case 'definition':
      return tokenDefinition(stream, state);
    case 'contents':
      return tokenContents(stream, state);
    case 'query':
      return tokenQuery(stream, state);
  }
  stream.next();
  return null;

}

/**
 * Token names as the stream parser reports them. They carry a `dj` prefix because
 * CodeMirror resolves legacy names such as `attribute` and `type` to its own tags before
 * it looks at `tokenTable`.
 */
const TOKEN_NAMES = Object.fromEntries(
  (Object.keys(djTags) as DjToken[]).map(kind => [kind, 'dj' + kind.charAt(0).toUpperCase() + kind.slice(1)])
) as Record<DjToken, string>;

const TOKEN_TABLE = Object.fromEntries(
  (Object.keys(djTags) as DjToken[]).map(kind => [TOKEN_NAMES[kind], djTags[kind]])
) as Record<string, Tag>;

export const djStreamParser: StreamParser<IDjState> = {
  name: 'datajoint',
  startState(): IDjState {
    return { mode: 'start', next: 'query', phase: 'lineStart', depth: 0, afterDot: false };
  },
  copyState(state: IDjState): IDjState {
    return { ...state };
  },
  token(stream: StringStream, state: IDjState): string | null {
    const kind = readDjToken(stream, state);
    return kind === null ? null : TOKEN_NAMES[kind];
  },
  blankLine(state: IDjState): void {
    if (state.mode === 'start' && isHeaderPhase(state.phase)) {
      state.mode = state.next;
      state.phase = 'lineStart';
    }
  },
  languageData: {
    commentTokens: { line: '#' },
    closeBrackets: { brackets: ['(', '[', '{', "'", '"'] }
  },
  tokenTable: TOKEN_TABLE
};

/** The `%%dj` language. */
export const djLanguage = StreamLanguage.define(djStreamParser);

/** One token of a line, for tests and tools: the text and its kind (null for plain text). */
export interface IToken {
  text: string;
  token: DjToken | null;
}

/**
 * Tokenize a whole cell with the stream parser, line by line, as CodeMirror does.
 *
 * Whitespace is dropped; everything else comes back with its token kind.
 */
export function tokenize(text: string): IToken[][] {
  const state = djStreamParser.startState!(2);
  const lines: IToken[][] = [];
  for (const line of text.split('\n')) {
    const tokens: IToken[] = [];
    if (line.trim() === '') {
      djStreamParser.blankLine?.(state, 2);
      lines.push(tokens);
      continue;
    }
    const stream = new StringStream(line, 2, 2);
    while (!stream.eol()) {
      const kind = readDjToken(stream, state);
      const piece = stream.current();
      if (piece.trim() !== '') {
        tokens.push({ text: piece, token: kind });
      }
      if (stream.pos === stream.start) {
        // never loop on a token that consumed nothing
        stream.next();
      }
      stream.start = stream.pos;
    }
    lines.push(tokens);
  }
  return lines;
}
