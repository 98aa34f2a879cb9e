// Lazy array preview: metadata and a chunk picture now; data only after an explicit click.
import { h, svgEl, clear, svgFromText } from "./dom.js";
import { linePoints, histogramBars, formatCount } from "./logic.js";

function shapeText(shape) {
  if (!shape) return "?";
  return shape.length ? shape.map((s) => formatCount(s)).join(" × ") : "scalar";
}

export function metadataRows(info) {
  const rows = [];
  if (info.codec) rows.push(["codec", info.codec]);
  if (info.type) rows.push(["type", info.type]);
  if (info.shape) rows.push(["shape", shapeText(info.shape)]);
  if (info.dtype) rows.push(["dtype", info.dtype]);
  if (info.chunks) rows.push(["chunks", shapeText(info.chunks)]);
  if (info.compressor) rows.push(["compression", info.compressor]);
  if (info.size_text) rows.push(["stored size", info.size_text]);
  if (info.nbytes_text) rows.push(["in memory", info.nbytes_text]);
  if (info.store) rows.push(["store", info.store]);
  if (info.path) rows.push(["path", info.path]);
  for (const [key, value] of info.extra || []) rows.push([key, value]);
  return rows;
}

function drawLine(result) {
  const width = 360;
  const height = 120;
  const svg = svgEl("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "dj-chart" });
  svg.append(svgEl("rect", { x: 0, y: 0, width, height, class: "dj-chart-bg" }));
  for (const points of linePoints(result.values, width, height, 4)) {
    svg.append(svgEl("polyline", { points, class: "dj-chart-line" }));
  }
  return svg;
}

function drawHistogram(result) {
  const width = 360;
  const height = 120;
  const svg = svgEl("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "dj-chart" });
  svg.append(svgEl("rect", { x: 0, y: 0, width, height, class: "dj-chart-bg" }));
  for (const bar of histogramBars(result.counts, width, height - 2)) {
    svg.append(svgEl("rect", { x: bar.x.toFixed(1), y: (bar.y + 2).toFixed(1), width: bar.width.toFixed(1),
      height: bar.height.toFixed(1), class: "dj-chart-bar" }));
  }
  return svg;
}

export function renderSample(result, buffers) {
  const box = h("div", { class: "dj-sample" });
  if (result.kind === "image" && buffers && buffers.length) {
    const blob = new Blob([buffers[0]], { type: result.mime || "image/png" });
    const img = h("img", { class: "dj-thumb", src: URL.createObjectURL(blob), alt: "thumbnail",
      width: result.display_width || result.width, height: result.display_height || result.height });
    box.append(img);
  } else if (result.kind === "line") {
    box.append(drawLine(result));
  } else if (result.kind === "histogram") {
    box.append(drawHistogram(result));
    if (result.edges && result.edges.length) {
      box.append(h("div", { class: "dj-axis", text: `${result.edges[0]} … ${result.edges[result.edges.length - 1]}` }));
    }
  } else if (result.kind === "text") {
    box.append(h("pre", { class: "dj-text", text: result.text }));
  }
  if (result.note) box.append(h("div", { class: "dj-note", text: result.note }));
  return box;
}

/** A preview box: `load()` returns a Promise of {kind, ..., buffers} from the kernel. */
export function createArrayView(info, load) {
  const root = h("div", { class: "dj-array" });
  const table = h("table", { class: "dj-meta" });
  for (const [key, value] of metadataRows(info)) {
    table.append(h("tr", {}, h("th", { text: key }), h("td", { text: String(value) })));
  }
  const picture = h("div", { class: "dj-chunks" });
  if (info.chunk_svg) picture.append(svgFromText(info.chunk_svg));
  root.append(h("div", { class: "dj-array-top" }, table, picture));
  if (info.text !== undefined && info.text !== null) root.append(h("pre", { class: "dj-text", text: info.text }));
  const result = h("div", { class: "dj-sample-box" });
  if (info.loadable && load) {
    const button = h("button", { class: "dj-button dj-load", text: info.load_label || "Load preview" });
    button.addEventListener("click", async () => {
      button.disabled = true;
      button.textContent = "Loading…";
      clear(result);
      try {
        const reply = await load();
        result.append(renderSample(reply, reply.buffers));
        button.textContent = "Reload preview";
      } catch (error) {
        result.append(h("div", { class: "dj-error-text", text: String(error.message || error) }));
        button.textContent = "Try again";
      }
      button.disabled = false;
    });
    root.append(button);
  }
  root.append(result);
  return root;
}
