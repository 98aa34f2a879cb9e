// Table browser: the kernel runs one bounded query per page; this view only keeps the paging state.
import { h, clear } from "./dom.js";
import { initialPaging, pagingReducer, pageRequest, rangeLabel, canNext, canPrev, pageCount, formatCount } from "./logic.js";
import { createArrayView } from "./array_view.js";

const SIZES = [10, 25, 50, 100, 200];

export function createBrowser(channel, options = {}) {
  const target = options.target ?? null;
  let state = initialPaging(options.pageSize || 25);
  let columns = [];
  let serial = 0;
  let pageId = null;

  const root = h("div", { class: "dj-browser", "data-target": target ?? "" });
  const title = options.title ? h("div", { class: "dj-browser-title", text: options.title }) : null;
  const filter = h("input", { class: "dj-filter", type: "text", placeholder: "restrict, e.g. subject_id > 3 AND species = \"mouse\"" });
  const apply = h("button", { class: "dj-button", text: "Restrict" });
  const first = h("button", { class: "dj-button dj-first", title: "first page", text: "«" });
  const prev = h("button", { class: "dj-button dj-prev", title: "previous page", text: "‹" });
  const next = h("button", { class: "dj-button dj-next", title: "next page", text: "›" });
  const last = h("button", { class: "dj-button dj-last", title: "last page", text: "»" });
  const size = h("select", { class: "dj-size" }, SIZES.map((s) => h("option", { value: s, text: `${s} / page` })));
  size.value = String(state.pageSize);
  const label = h("span", { class: "dj-range" });
  const pageInfo = h("span", { class: "dj-pageinfo" });
  const message = h("div", { class: "dj-message" });
  const table = h("table", { class: "dj-table" });
  const detail = h("div", { class: "dj-detail" });
  root.append(...[title, h("div", { class: "dj-toolbar" }, filter, apply, first, prev, next, last, size, label, pageInfo),
    message, h("div", { class: "dj-table-wrap" }, table), detail].filter(Boolean));

  function paint() {
    prev.disabled = first.disabled = !canPrev(state) || state.loading;
    next.disabled = !canNext(state) || state.loading;
    last.disabled = !state.exact || state.total === null || state.loading || !canNext(state);
    label.textContent = state.loading && !state.rows ? "Loading…" : rangeLabel(state);
    const pages = pageCount(state.total, state.pageSize);
    pageInfo.textContent = pages === null ? `page ${state.page + 1}` :
      `page ${formatCount(state.page + 1)} of ${state.exact ? "" : "~"}${formatCount(pages)}`;
    root.classList.toggle("dj-loading", !!state.loading);
  }

  function header() {
    const row = h("tr");
    for (const column of columns) {
      const sort = state.sort.find((s) => s[0] === column.name);
      const th = h("th", {
        class: `${column.in_key ? "dj-key" : "dj-attr"} dj-kind-${column.kind}${sort ? " dj-sorted" : ""}`,
        title: `${column.type}${column.in_key ? " (primary key)" : ""}${column.comment ? " — " + column.comment : ""}`,
      }, column.in_key ? h("span", { class: "dj-key-mark", text: "*" }) : null, column.name,
      sort ? h("span", { class: "dj-sort-mark", text: sort[1] === "asc" ? " ▲" : " ▼" }) : null);
      if (column.kind !== "blob") th.addEventListener("click", () => go({ type: "sort", column: column.name }));
      row.append(th);
    }
    return h("thead", {}, row);
  }

  function cell(value, column, rowIndex) {
    if (value === null || value === undefined) return h("td", { class: "dj-null", text: "NULL" });
    if (typeof value === "object" && value.lazy) {
      const button = h("button", { class: `dj-lazy dj-lazy-${value.lazy}`, text: value.label, title: "click to preview" });
      button.addEventListener("click", () => openCell(rowIndex, column.name));
      return h("td", { class: "dj-lazy-cell" }, button);
    }
    return h("td", { class: typeof value === "number" ? "dj-num" : "", text: String(value) });
  }

  async function openCell(row, column) {
    clear(detail);
    detail.append(h("div", { class: "dj-detail-title", text: `${column} of row ${state.page * state.pageSize + row + 1}` }));
    const body = h("div", { text: "Loading…" });
    detail.append(body);
    try {
      const reply = await channel.request({ type: "cell", target, page_id: pageId, row, column });
      clear(body);
      const load = () => channel.request({ type: "sample", target, page_id: pageId, row, column });
      body.append(createArrayView(reply.info, load));
    } catch (error) {
      clear(body).append(h("div", { class: "dj-error-text", text: String(error.message || error) }));
    }
  }

  function paintRows(reply) {
    columns = reply.columns;
    clear(table);
    table.append(header());
    const body = h("tbody");
    reply.rows.forEach((values, i) => {
      const tr = h("tr");
      values.forEach((value, j) => tr.append(cell(value, columns[j], i)));
      body.append(tr);
    });
    table.append(body);
  }

  async function go(action) {
    const before = state;
    state = pagingReducer(state, action);
    if (action.type !== "sort" && action.type !== "restrict" && action.type !== "size" && state === before) return;
    state = { ...state, loading: true };
    paint();
    const mine = ++serial;
    try {
      const reply = await channel.request({ ...pageRequest(state), target });
      if (mine !== serial) return;
      pageId = reply.page_id;
      message.textContent = "";
      message.className = "dj-message";
      state = pagingReducer(state, { type: "reply", reply });
      paintRows(reply);
    } catch (error) {
      if (mine !== serial) return;
      state = { ...before, loading: false };
      message.textContent = String(error.message || error);
      message.className = "dj-message dj-error-text";
    }
    paint();
  }

  const offCount = channel.on("count", (msg) => {
    if ((msg.target ?? null) !== target) return;
    state = pagingReducer(state, { type: "count", total: msg.total, restriction: msg.restriction });
    paint();
  });

  first.addEventListener("click", () => go({ type: "first" }));
  prev.addEventListener("click", () => go({ type: "prev" }));
  next.addEventListener("click", () => go({ type: "next" }));
  last.addEventListener("click", () => go({ type: "last" }));
  size.addEventListener("change", () => go({ type: "size", pageSize: Number(size.value) }));
  apply.addEventListener("click", () => go({ type: "restrict", restriction: filter.value }));
  filter.addEventListener("keydown", (event) => { if (event.key === "Enter") go({ type: "restrict", restriction: filter.value }); });

  paint();
  return {
    el: root,
    load() { return go({ type: "goto", page: state.page }); },
    showReply(reply) { // a first page that came with the widget's state
      pageId = reply.page_id;
      state = pagingReducer({ ...state, loading: true }, { type: "reply", reply });
      paintRows(reply);
      paint();
    },
    applyCount(count) {
      state = pagingReducer(state, { type: "count", total: count.total, restriction: count.restriction });
      paint();
    },
    get state() { return state; },
    dispose() { offCount(); },
  };
}
