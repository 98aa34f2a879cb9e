// Populate progress panel: one row per table, following the job tables (pushed by the kernel).
import { h, clear } from "./dom.js";
import { progressState, rateFromSamples, etaSeconds, formatDuration, formatRate, formatCount } from "./logic.js";

export function rowFigures(row, now) {
  const look = progressState(row);
  const rate = rateFromSamples(row.samples || [], 60);
  let eta = etaSeconds(row.done, row.total, rate);
  if (look.state === "error" && eta === null) eta = null;
  return { ...look, rate, eta, rateText: formatRate(rate), etaText: look.state === "done" ? "done" : formatDuration(eta), now };
}

export function createProgress(model, channel) {
  const root = h("div", { class: "dj-progress" });
  const title = h("div", { class: "dj-browser-title" });
  const start = h("button", { class: "dj-button dj-start", text: "Start populate" });
  const stop = h("button", { class: "dj-button dj-stop", text: "Stop" });
  const refresh = h("button", { class: "dj-button dj-refresh", text: "Refresh" });
  const state = h("span", { class: "dj-progress-state" });
  const table = h("table", { class: "dj-table dj-progress-table" });
  const errors = h("div", { class: "dj-errors" });
  const stack = h("pre", { class: "dj-stack", hidden: true });
  root.append(title, h("div", { class: "dj-toolbar" }, start, stop, refresh, state), table, errors, stack);

  start.addEventListener("click", () => { start.disabled = true; channel.send({ type: "start" }); });
  stop.addEventListener("click", () => { stop.disabled = true; channel.send({ type: "stop" }); });
  refresh.addEventListener("click", () => channel.send({ type: "refresh" }));

  async function showStack(error) {
    stack.hidden = false;
    stack.textContent = "Loading the stack…";
    try {
      const reply = await channel.request({ type: "stack", table: error.table, index: error.index });
      stack.textContent = reply.stack || "(no stack recorded)";
    } catch (e) {
      stack.textContent = String(e.message || e);
    }
  }

  function paint() {
    const rows = model.get("rows") || [];
    const running = model.get("running");
    title.textContent = model.get("title") || "Populate";
    start.hidden = !model.get("can_start");
    start.disabled = !!running;
    stop.hidden = !running;
    stop.disabled = !!model.get("stopping");
    state.textContent = model.get("message") || "";
    clear(table);
    table.append(h("thead", {}, h("tr", {}, ["table", "progress", "done/total", "rate", "ETA", "pending", "reserved", "error"].map((t) => h("th", { text: t })))));
    const body = h("tbody");
    for (const row of rows) {
      const f = rowFigures(row);
      const bar = h("div", { class: `dj-bar dj-bar-${f.state}` }, h("div", { class: "dj-bar-fill", style: { width: `${(f.fraction * 100).toFixed(1)}%` } }),
        h("span", { class: "dj-bar-text", text: `${f.percent}%` }));
      body.append(h("tr", { class: `dj-row-${f.state}`, "data-table": row.table },
        h("td", { class: "dj-name", text: row.name }), h("td", {}, bar), h("td", { class: "dj-num", text: f.label }),
        h("td", { class: "dj-num", text: f.rateText }), h("td", { class: "dj-num", text: f.etaText }),
        h("td", { class: "dj-num", text: formatCount(row.pending || 0) }), h("td", { class: "dj-num", text: formatCount(row.reserved || 0) }),
        h("td", { class: `dj-num ${row.error ? "dj-error-text" : ""}`, text: formatCount(row.error || 0) })));
    }
    table.append(body);
    root.classList.toggle("dj-has-errors", rows.some((r) => r.error > 0));
    clear(errors);
    const list = model.get("errors") || [];
    if (list.length) {
      errors.append(h("div", { class: "dj-errors-title", text: `Errors (${list.length})` }));
      for (const error of list) {
        const item = h("div", { class: "dj-error-item" }, h("span", { class: "dj-error-where", text: `${error.name} ${error.key}` }),
          h("span", { class: "dj-error-text", text: error.message }));
        item.title = "click to see the stack";
        item.addEventListener("click", () => showStack(error));
        errors.append(item);
      }
    }
  }

  for (const name of ["rows", "running", "stopping", "message", "errors", "can_start", "title"]) model.on(`change:${name}`, paint);
  paint();
  return { el: root, dispose() { for (const name of ["rows", "running", "stopping", "message", "errors", "can_start", "title"]) model.off(`change:${name}`, paint); } };
}
