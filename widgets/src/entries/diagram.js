// Pipeline diagram: DOT from the kernel, laid out in the browser by the bundled WebAssembly Graphviz.
import { instance } from "@viz-js/viz";
import { createChannel } from "../channel.js";
import { createBrowser } from "../browser_view.js";
import { h, clear } from "../dom.js";
import { decorateDot, neighbourhood, formatCount } from "../logic.js";

let vizPromise = null;
function viz() {
  if (!vizPromise) vizPromise = instance();
  return vizPromise;
}

function render({ model, el }) {
  const channel = createChannel(model);
  el.classList.add("dj-widget", "dj-diagram-widget");
  const root = h("div", { class: "dj-diagram-root" });
  const toolbar = h("div", { class: "dj-toolbar" });
  const canvas = h("div", { class: "dj-canvas" });
  const side = h("div", { class: "dj-side", hidden: true });
  const hover = h("pre", { class: "dj-hover", hidden: true });
  const status = h("span", { class: "dj-progress-state" });
  root.append(toolbar, h("div", { class: "dj-diagram-body" }, canvas, side), hover);
  el.append(root);

  let selected = null;
  let highlight = null;
  const definitions = new Map();
  let browsers = [];

  // ---- toolbar -------------------------------------------------------------------------------
  const up = h("input", { class: "dj-levels", type: "number", min: 0, value: 1, title: "levels of ancestors" });
  const down = h("input", { class: "dj-levels", type: "number", min: 0, value: 1, title: "levels of descendants" });
  const focus = h("button", { class: "dj-button dj-focus", text: "Show only +table+", title: "show the selected table with its ancestors and descendants" });
  const all = h("button", { class: "dj-button dj-all", text: "Show all" });
  const refresh = h("button", { class: "dj-button dj-refresh", text: "Refresh" });
  const schemas = h("span", { class: "dj-schemas" });
  focus.addEventListener("click", () => { if (selected) channel.send({ type: "focus", id: selected, up: Number(up.value), down: Number(down.value) }); });
  all.addEventListener("click", () => channel.send({ type: "focus", id: null }));
  refresh.addEventListener("click", () => channel.send({ type: "refresh" }));
  for (const input of [up, down]) input.addEventListener("change", () => { if (selected) select(selected, false); });

  const deleteBar = h("div", { class: "dj-delete-bar" });
  if (model.get("mode") === "delete") {
    const summary = h("span", { class: "dj-delete-summary" });
    const doDelete = h("button", { class: "dj-button dj-danger dj-delete", text: "Delete" });
    const cancel = h("button", { class: "dj-button dj-cancel", text: "Cancel" });
    const result = h("span", { class: "dj-delete-result" });
    const paintDelete = () => {
      const d = model.get("delete_state") || {};
      summary.textContent = d.summary || "";
      const finished = d.state === "deleted" || d.state === "cancelled";
      doDelete.disabled = cancel.disabled = finished || d.state === "deleting" || !d.total;
      if (!d.total && !finished) cancel.disabled = false;
      result.textContent = d.message || "";
      result.className = `dj-delete-result ${d.state === "error" ? "dj-error-text" : ""}`;
    };
    doDelete.addEventListener("click", async () => {
      doDelete.disabled = cancel.disabled = true;
      try { await channel.request({ type: "delete" }); } catch (error) { result.textContent = String(error.message || error); }
    });
    cancel.addEventListener("click", async () => {
      doDelete.disabled = cancel.disabled = true;
      try { await channel.request({ type: "cancel" }); } catch (error) { result.textContent = String(error.message || error); }
    });
    model.on("change:delete_state", paintDelete);
    deleteBar.append(summary, doDelete, cancel, result);
    toolbar.append(deleteBar);
    paintDelete();
  } else {
    toolbar.append(h("span", { class: "dj-label", text: "↑" }), up, h("span", { class: "dj-label", text: "↓" }), down, focus, all, refresh, schemas, status);
  }

  function paintSchemas() {
    clear(schemas);
    const collapsed = new Set(model.get("collapsed") || []);
    for (const schema of model.get("schemas") || []) {
      const box = h("input", { type: "checkbox", class: "dj-collapse", "data-schema": schema });
      box.checked = collapsed.has(schema);
      box.addEventListener("change", () => channel.send({ type: "collapse", schema, collapsed: box.checked }));
      schemas.append(h("label", { class: "dj-schema-toggle", title: "draw this schema as one node" }, box, ` collapse ${schema}`));
    }
  }

  // ---- drawing -------------------------------------------------------------------------------
  function decorations() {
    const result = {};
    for (const node of model.get("nodes") || []) {
      const d = {};
      if (node.status && node.status.error > 0) d.error = true;
      if (node.id === selected) d.selected = true;
      if (highlight) { if (highlight.has(node.id)) d.highlighted = true; else d.dimmed = true; }
      if (Object.keys(d).length) result[node.id] = d;
    }
    return result;
  }

  async function draw() {
    const dot = model.get("dot");
    if (!dot) { clear(canvas).append(h("div", { class: "dj-note", text: "Nothing to draw." })); return; }
    let svg;
    try {
      const graphviz = await viz();
      svg = graphviz.renderSVGElement(decorateDot(dot, decorations()));
    } catch (error) {
      clear(canvas).append(h("div", { class: "dj-error-text", text: `Could not lay out the diagram: ${error.message || error}` }));
      return;
    }
    svg.classList.add("dj-svg");
    svg.setAttribute("data-renderer", "viz-js-wasm");
    clear(canvas).append(svg);
    const ids = new Set((model.get("nodes") || []).map((n) => n.id));
    for (const g of svg.querySelectorAll("g.node")) {
      const id = g.getAttribute("id") || (g.querySelector("title") || {}).textContent;
      if (!ids.has(id)) continue;
      g.setAttribute("data-node", id);
      g.style.cursor = "pointer";
      for (const a of g.querySelectorAll("a")) { a.removeAttribute("xlink:title"); a.removeAttribute("title"); a.removeAttributeNS("http://www.w3.org/1999/xlink", "title"); }
      for (const t of g.querySelectorAll("title")) t.remove();
      g.addEventListener("click", (event) => { event.preventDefault(); event.stopPropagation(); select(id, true); });
      g.addEventListener("mouseenter", (event) => showHover(id, event));
      g.addEventListener("mousemove", (event) => moveHover(event));
      g.addEventListener("mouseleave", () => { hover.hidden = true; });
    }
    canvas.setAttribute("data-rendered", String(Date.now()));
    el.dispatchEvent(new CustomEvent("dj-rendered", { bubbles: true }));
  }

  function moveHover(event) {
    const box = root.getBoundingClientRect();
    hover.style.left = `${event.clientX - box.left + 14}px`;
    hover.style.top = `${event.clientY - box.top + 14}px`;
  }

  async function showHover(id, event) {
    moveHover(event);
    hover.hidden = false;
    hover.textContent = definitions.get(id) ?? "…";
    if (!definitions.has(id)) {
      try {
        const reply = await channel.request({ type: "describe", id });
        definitions.set(id, reply.definition);
        if (!hover.hidden) hover.textContent = reply.definition;
      } catch (error) {
        definitions.set(id, String(error.message || error));
      }
    }
  }

  // ---- side panel ------------------------------------------------------------------------------
  function edges() { return model.get("edges") || []; }

  async function select(id, open) {
    selected = id;
    highlight = neighbourhood(edges(), id, Number(up.value), Number(down.value));
    draw();
    if (!open) return;
    for (const b of browsers) b.dispose();
    browsers = [];
    side.hidden = false;
    clear(side).append(h("div", { class: "dj-note", text: "Loading…" }));
    let reply;
    try {
      reply = await channel.request({ type: "node", id });
    } catch (error) {
      clear(side).append(h("div", { class: "dj-error-text", text: String(error.message || error) }));
      return;
    }
    if (reply.expanded) { side.hidden = true; selected = null; highlight = null; return; }
    definitions.set(id, reply.definition);
    const close = h("button", { class: "dj-button dj-close", text: "×", title: "close" });
    close.addEventListener("click", () => { side.hidden = true; selected = null; highlight = null; draw(); });
    const header = h("div", { class: "dj-side-header" }, h("span", { class: "dj-side-title", text: reply.label }),
      h("span", { class: `dj-tier dj-tier-${reply.tier}`, text: reply.tier }), close);
    const tabs = h("div", { class: "dj-tabs" });
    const body = h("div", { class: "dj-tab-body" });
    const panes = {
      Definition: () => h("pre", { class: "dj-definition", text: reply.definition }),
      Contents: () => {
        const b = createBrowser(channel, { target: id, pageSize: 10 });
        browsers.push(b);
        if (reply.initial_page) b.showReply(reply.initial_page); else b.load();
        return b.el;
      },
    };
    if (reply.auto) {
      panes.Jobs = () => {
        const box = h("div");
        const s = reply.status || {};
        box.append(h("div", { class: "dj-jobs-summary", text: `${formatCount(s.done)}/${formatCount(s.total)} done · ${formatCount(s.pending || 0)} pending · ${formatCount(s.reserved || 0)} reserved · ${formatCount(s.error || 0)} errors` }));
        if (reply.has_jobs) {
          const b = createBrowser(channel, { target: `jobs:${id}`, pageSize: 10 });
          browsers.push(b);
          b.load();
          box.append(b.el);
        } else {
          box.append(h("div", { class: "dj-note", text: "No job table yet (populate with reserve_jobs=True creates one)." }));
        }
        return box;
      };
    }
    const buttons = {};
    const show = (name) => {
      for (const [n, b] of Object.entries(buttons)) b.classList.toggle("dj-active", n === name);
      clear(body).append(panes[name]());
    };
    for (const name of Object.keys(panes)) {
      buttons[name] = h("button", { class: `dj-tab dj-tab-${name.toLowerCase()}`, text: name });
      buttons[name].addEventListener("click", () => show(name));
      tabs.append(buttons[name]);
    }
    clear(side).append(header, tabs, body);
    show(reply.initial_page ? "Contents" : "Definition");
  }

  const onState = () => { paintSchemas(); draw(); status.textContent = model.get("refreshed") || ""; };
  for (const name of ["dot", "nodes", "collapsed", "schemas", "refreshed"]) model.on(`change:${name}`, onState);
  canvas.addEventListener("click", () => { /* clicks outside nodes keep the selection */ });
  paintSchemas();
  status.textContent = model.get("refreshed") || "";
  draw();
  return () => {
    for (const name of ["dot", "nodes", "collapsed", "schemas", "refreshed"]) model.off(`change:${name}`, onState);
    for (const b of browsers) b.dispose();
    channel.dispose();
  };
}

export default { render };
