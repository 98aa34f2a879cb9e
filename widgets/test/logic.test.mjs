// Unit tests of the widgets' pure logic: `node --test test/` (no dependencies needed).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  formatCount, formatDuration, formatRate, rateFromSamples, etaSeconds, progressState,
  initialPaging, pagingReducer, pageRequest, rangeLabel, canNext, canPrev, pageCount, toggleSort,
  decorateDot, neighbourhood, dotString, linePoints, histogramBars,
} from "../src/logic.js";

test("paging: next/prev/last follow the total, sort and restriction reset to the first page", () => {
  let s = initialPaging(25);
  assert.equal(canPrev(s), false);
  s = pagingReducer(s, { type: "reply", reply: { page: 0, page_size: 25, rows: new Array(25), total: 103, exact: true } });
  assert.equal(canNext(s), true);
  s = pagingReducer(s, { type: "next" });
  assert.equal(s.page, 1);
  assert.deepEqual(pageRequest(s), { type: "page", page: 1, page_size: 25, sort: [], restriction: "" });
  s = pagingReducer(s, { type: "last" });
  assert.equal(s.page, 4);
  s = pagingReducer(s, { type: "reply", reply: { page: 4, page_size: 25, rows: new Array(3), total: 103, exact: true } });
  assert.equal(canNext(s), false);
  assert.equal(pagingReducer(s, { type: "next" }), s, "next on the last page changes nothing");
  assert.equal(rangeLabel(s), "Rows 101–103 of 103");
  s = pagingReducer(s, { type: "sort", column: "value" });
  assert.deepEqual(s.sort, [["value", "asc"]]);
  assert.equal(s.page, 0);
  s = pagingReducer(s, { type: "sort", column: "value" });
  assert.deepEqual(s.sort, [["value", "desc"]]);
  s = pagingReducer(s, { type: "sort", column: "value" });
  assert.deepEqual(s.sort, []);
  s = pagingReducer({ ...s, page: 3 }, { type: "restrict", restriction: "  a > 1 " });
  assert.equal(s.restriction, "a > 1");
  assert.equal(s.page, 0);
  assert.equal(s.total, null);
});

test("paging: an estimated total allows next by page fullness, not by the estimate", () => {
  let s = initialPaging(10);
  s = pagingReducer(s, { type: "reply", reply: { page: 0, page_size: 10, rows: new Array(10), total: 10000000, exact: false } });
  assert.equal(rangeLabel(s), "Rows 1–10 of ~10,000,000");
  assert.equal(canNext(s), true);
  assert.equal(pagingReducer(s, { type: "last" }).page, 999999);
  s = pagingReducer(s, { type: "count", total: 9999990, restriction: "" });
  assert.equal(s.exact, true);
  assert.equal(rangeLabel(s), "Rows 1–10 of 9,999,990");
  assert.equal(pagingReducer(s, { type: "count", total: 5, restriction: "x > 1" }), s, "counts of another restriction are ignored");
  assert.equal(pageCount(101, 25), 5);
  assert.equal(pageCount(0, 25), 1);
  assert.equal(pageCount(null, 25), null);
  assert.equal(rangeLabel({ ...initialPaging(10), rows: 0 }), "No rows");
});

test("paging: changing the page size keeps the first visible row", () => {
  const s = pagingReducer({ ...initialPaging(10), page: 7 }, { type: "size", pageSize: 25 });
  assert.equal(s.pageSize, 25);
  assert.equal(s.page, 2);
  assert.deepEqual(toggleSort([["a", "asc"]], "b"), [["b", "asc"]]);
});

test("rate and ETA from samples", () => {
  assert.equal(rateFromSamples([[0, 0]]), null);
  const samples = [[0, 0], [10, 20], [20, 40]];
  assert.equal(rateFromSamples(samples), 2);
  assert.equal(etaSeconds(40, 100, 2), 30);
  assert.equal(etaSeconds(100, 100, 0), 0);
  assert.equal(etaSeconds(10, 100, 0), null);
  assert.equal(etaSeconds(null, 100, 1), null);
  // only the last window counts
  const long = [[0, 0], [100, 10], [190, 100], [200, 110]];
  assert.equal(rateFromSamples(long, 15), 1);
  assert.equal(rateFromSamples([[0, 5], [10, 5]]), 0);
  assert.equal(formatDuration(30), "30s");
  assert.equal(formatDuration(125), "2m 05s");
  assert.equal(formatDuration(3 * 3600 + 60), "3h 01m");
  assert.equal(formatDuration(null), "—");
  assert.equal(formatRate(2), "2.0/s");
  assert.equal(formatRate(0.5), "30.0/min");
  assert.equal(formatRate(0), "—");
  assert.equal(formatCount(1234567), "1,234,567");
});

test("progress state: errors turn a row red without hiding progress", () => {
  const errored = progressState({ done: 39, total: 40, error: 1 });
  assert.equal(errored.state, "error");
  assert.equal(errored.percent, 97.5);
  assert.equal(errored.label, "39/40");
  assert.equal(progressState({ done: 40, total: 40 }).state, "done");
  assert.equal(progressState({ done: 40, total: 40 }).fraction, 1);
  assert.equal(progressState({ done: 3, total: 40, reserved: 2 }).state, "running");
  assert.equal(progressState({ done: 0, total: 0 }).state, "idle");
  assert.equal(progressState({ done: 1, total: 3 }).percent, 33.3);
});

test("DOT decoration appends node overrides before the closing brace", () => {
  const dot = 'digraph dj_diagram {\n\t"lab.subject" [label=Subject]\n\t"lab.__stats" [label=Stats]\n}\n';
  const out = decorateDot(dot, { "lab.__stats": { error: true }, "lab.subject": { selected: true, dimmed: false } });
  assert.ok(out.startsWith('digraph dj_diagram {\n\t"lab.subject" [label=Subject]'));
  assert.match(out, /"lab\.__stats" \[color="#d62728", penwidth=2\.5\]/);
  assert.match(out, /"lab\.subject" \[color="#1f77b4", penwidth=3\]\n}\n$/);
  assert.equal(decorateDot(dot, {}), dot);
  assert.match(decorateDot(dot, { "lab.subject": { dimmed: true } }), /fontcolor="#bbbbbb"/);
  assert.equal(dotString('a"b\\c'), '"a\\"b\\\\c"');
  assert.throws(() => decorateDot("graph", { a: { error: true } }));
});

test("neighbourhood: ancestors and descendants by levels (+table+)", () => {
  const edges = [["a", "b"], ["b", "c"], ["c", "d"], ["x", "c"], ["c", "e"]];
  assert.deepEqual([...neighbourhood(edges, "c", 1, 1)].sort(), ["b", "c", "d", "e", "x"]);
  assert.deepEqual([...neighbourhood(edges, "c", 0, 0)].sort(), ["c"]);
  assert.deepEqual([...neighbourhood(edges, "c", Infinity, 0)].sort(), ["a", "b", "c", "x"]);
  assert.deepEqual([...neighbourhood(edges, "a", 5, 1)].sort(), ["a", "b"]);
  assert.deepEqual([...neighbourhood(edges, "b", 0, 2)].sort(), ["b", "c", "d", "e"]);
});

test("charts: line points break at NaN, bars scale to the largest count", () => {
  const segments = linePoints([0, 1, NaN, 3], 100, 50, 0);
  assert.equal(segments.length, 2);
  assert.equal(segments[0].split(" ")[0], "0.0,50.0");
  assert.equal(segments[1], "100.0,0.0");
  assert.deepEqual(linePoints([NaN], 10, 10), []);
  const bars = histogramBars([1, 4, 2], 30, 40, 0);
  assert.equal(bars.length, 3);
  assert.equal(bars[1].height, 40);
  assert.equal(bars[0].height, 10);
  assert.equal(bars[2].x, 20);
});
