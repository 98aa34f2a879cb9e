// Pure logic of the dj_jupyter widgets: no DOM, no model. Unit-tested with `node --test`.

// ---------------------------------------------------------------------------------------------
// numbers and times
// ---------------------------------------------------------------------------------------------
export function formatCount(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return "?";
  return Math.round(n).toLocaleString("en-US");
}

export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return "—";
  if (seconds < 1) return "<1s";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (h) return `${h}h ${String(m).padStart(2, "0")}m`;
  if (m) return `${m}m ${String(r).padStart(2, "0")}s`;
  return `${r}s`;
}

export function formatRate(rate) {
  if (!rate || !Number.isFinite(rate) || rate <= 0) return "—";
  if (rate >= 1) return `${rate >= 10 ? Math.round(rate) : rate.toFixed(1)}/s`;
  const perMinute = rate * 60;
  if (perMinute >= 1) return `${perMinute.toFixed(1)}/min`;
  return `${(perMinute * 60).toFixed(1)}/h`;
}

// ---------------------------------------------------------------------------------------------
// progress: rate from (time, done) samples, ETA, row state
// ---------------------------------------------------------------------------------------------
/** Keys per second over the samples of the last `windowSeconds` (samples: [[t, done], ...], t in s). */
export function rateFromSamples(samples, windowSeconds = 60) {
  if (!samples || samples.length < 2) return null;
  const last = samples[samples.length - 1];
  let first = samples[0];
  for (const sample of samples) {
    if (last[0] - sample[0] <= windowSeconds) { first = sample; break; }
  }
  if (first === last) first = samples[samples.length - 2];
  const dt = last[0] - first[0];
  const dn = last[1] - first[1];
  if (dt <= 0) return null;
  if (dn <= 0) return 0;
  return dn / dt;
}

/** Seconds until done/total at `rate` keys per second; 0 when finished, null when unknown. */
export function etaSeconds(done, total, rate) {
  if (total === null || total === undefined || done === null || done === undefined) return null;
  const remaining = total - done;
  if (remaining <= 0) return 0;
  if (!rate || rate <= 0 || !Number.isFinite(rate)) return null;
  return remaining / rate;
}

/** How a progress row looks: fraction done, state ("error" wins over "done"), labels. */
export function progressState(row) {
  const total = row.total ?? 0;
  const done = Math.min(row.done ?? 0, total || (row.done ?? 0));
  const fraction = total > 0 ? done / total : (row.done ? 1 : 0);
  const errors = row.error ?? 0;
  let state = "idle";
  if (errors > 0) state = "error";
  else if (total > 0 && done >= total) state = "done";
  else if ((row.reserved ?? 0) > 0 || row.running) state = "running";
  else if (total > 0) state = "waiting";
  const percent = total > 0 ? Math.floor((1000 * done) / total) / 10 : (row.done ? 100 : 0);
  return { fraction, percent, state, label: `${formatCount(done)}/${formatCount(total)}` };
}

// ---------------------------------------------------------------------------------------------
// paging state of the table browser
// ---------------------------------------------------------------------------------------------
export function initialPaging(pageSize = 25) {
  return { page: 0, pageSize, sort: [], restriction: "", total: null, exact: false, rows: 0, loading: false };
}

export function pageCount(total, pageSize) {
  if (total === null || total === undefined) return null;
  return Math.max(1, Math.ceil(total / pageSize));
}

export function canPrev(state) {
  return state.page > 0;
}

export function canNext(state) {
  if (state.total === null || state.total === undefined || !state.exact) return state.rows >= state.pageSize;
  return (state.page + 1) * state.pageSize < state.total;
}

/** Cycle a column's sort: none -> asc -> desc -> none; the clicked column becomes the only sort. */
export function toggleSort(sort, column) {
  const current = (sort || []).find((s) => s[0] === column);
  if (!current) return [[column, "asc"]];
  if (current[1] === "asc") return [[column, "desc"]];
  return [];
}

/** The next paging state for an action: first/prev/next/last, sort, restrict, size, or a reply. */
export function pagingReducer(state, action) {
  switch (action.type) {
    case "first":
      return { ...state, page: 0 };
    case "prev":
      return { ...state, page: Math.max(0, state.page - 1) };
    case "next":
      return canNext(state) ? { ...state, page: state.page + 1 } : state;
    case "last": {
      const pages = pageCount(state.total, state.pageSize);
      return pages === null ? state : { ...state, page: pages - 1 };
    }
    case "goto": {
      const pages = pageCount(state.total, state.pageSize);
      let page = Math.max(0, Math.floor(action.page));
      if (pages !== null && state.exact) page = Math.min(page, pages - 1);
      return { ...state, page };
    }
    case "sort":
      return { ...state, sort: toggleSort(state.sort, action.column), page: 0 };
    case "restrict":
      return { ...state, restriction: (action.restriction || "").trim(), page: 0, total: null, exact: false };
    case "size": {
      const first = state.page * state.pageSize;
      const pageSize = Math.max(1, Math.floor(action.pageSize));
      return { ...state, pageSize, page: Math.floor(first / pageSize) };
    }
    case "reply":
      return {
        ...state, page: action.reply.page, pageSize: action.reply.page_size, rows: action.reply.rows.length,
        total: action.reply.total ?? state.total, exact: action.reply.total === null || action.reply.total === undefined
          ? state.exact : !!action.reply.exact,
        loading: false,
      };
    case "count":
      if ((action.restriction || "") !== state.restriction) return state;
      return { ...state, total: action.total, exact: true };
    default:
      return state;
  }
}

export function pageRequest(state) {
  return { type: "page", page: state.page, page_size: state.pageSize, sort: state.sort, restriction: state.restriction };
}

/** "Rows 26–50 of 1,234" / "of ~10,000,000" (an estimate) / "of ?" (counting). */
export function rangeLabel(state) {
  if (!state.rows) {
    return state.page === 0 ? "No rows" : `No rows on page ${state.page + 1}`;
  }
  const first = state.page * state.pageSize + 1;
  const last = first + state.rows - 1;
  let of = "?";
  if (state.total !== null && state.total !== undefined) of = (state.exact ? "" : "~") + formatCount(state.total);
  return `Rows ${formatCount(first)}–${formatCount(last)} of ${of}`;
}

// ---------------------------------------------------------------------------------------------
// DOT decoration and graph neighbourhoods
// ---------------------------------------------------------------------------------------------
export function dotString(text) {
  return `"${String(text).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}

/**
 * Append attribute overrides to a DOT graph (a later node statement merges into the earlier one).
 * decorations: { [nodeId]: {error: bool, selected: bool, dimmed: bool, highlighted: bool} }
 */
export function decorateDot(dot, decorations, colours = {}) {
  const c = { error: "#d62728", selected: "#1f77b4", dim: "#bbbbbb", ...colours };
  const lines = [];
  for (const id of Object.keys(decorations || {}).sort()) {
    const d = decorations[id] || {};
    const attrs = [];
    if (d.error) attrs.push(`color=${dotString(c.error)}`, "penwidth=2.5");
    if (d.selected) attrs.push(`color=${dotString(c.selected)}`, "penwidth=3");
    else if (d.highlighted && !d.error) attrs.push("penwidth=2");
    if (d.dimmed) attrs.push(`fontcolor=${dotString(c.dim)}`, `color=${dotString(c.dim)}`);
    if (attrs.length) lines.push(`  ${dotString(id)} [${attrs.join(", ")}]`);
  }
  if (!lines.length) return dot;
  const end = dot.lastIndexOf("}");
  if (end < 0) throw new Error("not a DOT graph: no closing brace");
  return dot.slice(0, end) + lines.join("\n") + "\n" + dot.slice(end);
}

/**
 * Nodes within `up` levels of ancestors and `down` levels of descendants of `id` (the +table+ idea).
 * edges: [[parent, child], ...]; Infinity levels reach every ancestor/descendant.
 */
export function neighbourhood(edges, id, up = 1, down = 1) {
  const parents = new Map();
  const children = new Map();
  for (const [p, ch] of edges) {
    if (!children.has(p)) children.set(p, []);
    children.get(p).push(ch);
    if (!parents.has(ch)) parents.set(ch, []);
    parents.get(ch).push(p);
  }
  const found = new Set([id]);
  const walk = (links, levels) => {
    let frontier = [id];
    for (let level = 0; level < levels && frontier.length; level++) {
      const next = [];
      for (const node of frontier) {
        for (const other of links.get(node) || []) {
          if (!found.has(other)) { found.add(other); next.push(other); }
        }
      }
      frontier = next;
    }
  };
  walk(parents, up);
  const ancestors = new Set(found);
  found.clear(); found.add(id);
  walk(children, down);
  for (const node of ancestors) found.add(node);
  return found;
}

// ---------------------------------------------------------------------------------------------
// small charts (SVG geometry) for array previews
// ---------------------------------------------------------------------------------------------
function scale(value, min, max, size) {
  if (max === min) return size / 2;
  return ((value - min) / (max - min)) * size;
}

/** SVG polyline points for a 1-D series (y grows downwards in SVG). Non-finite values break the line. */
export function linePoints(values, width, height, pad = 2) {
  const finite = values.filter((v) => v !== null && Number.isFinite(v));
  if (!finite.length) return [];
  let min = Infinity;
  let max = -Infinity;
  for (const v of finite) { if (v < min) min = v; if (v > max) max = v; }
  const segments = [];
  let current = [];
  const n = values.length;
  values.forEach((v, i) => {
    if (v === null || !Number.isFinite(v)) {
      if (current.length) segments.push(current.join(" "));
      current = [];
      return;
    }
    const x = pad + (n === 1 ? (width - 2 * pad) / 2 : (i / (n - 1)) * (width - 2 * pad));
    const y = height - pad - scale(v, min, max, height - 2 * pad);
    current.push(`${x.toFixed(1)},${y.toFixed(1)}`);
  });
  if (current.length) segments.push(current.join(" "));
  return segments;
}

/** Bars [{x, y, width, height}] of a histogram scaled into width x height. */
export function histogramBars(counts, width, height, gap = 1) {
  if (!counts.length) return [];
  const max = Math.max(...counts, 1);
  const w = width / counts.length;
  return counts.map((count, i) => {
    const h = (count / max) * height;
    return { x: i * w, y: height - h, width: Math.max(w - gap, 0.5), height: h };
  });
}
