// The request/reply channel over a fake anywidget model.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createChannel } from "../src/channel.js";

function fakeModel() {
  const handlers = [];
  const sent = [];
  return {
    sent,
    on(event, fn) { if (event === "msg:custom") handlers.push(fn); },
    off() {},
    send(content) { sent.push(content); },
    deliver(msg, buffers) { for (const fn of handlers) fn(msg, buffers); },
  };
}

test("replies resolve the request with the same id; errors reject; pushes go to listeners", async () => {
  const model = fakeModel();
  const channel = createChannel(model);
  const pushed = [];
  channel.on("count", (msg) => pushed.push(msg.total));
  const first = channel.request({ type: "page", page: 1 });
  const second = channel.request({ type: "page", page: 2 });
  assert.equal(model.sent.length, 2);
  assert.notEqual(model.sent[0].request_id, model.sent[1].request_id);
  model.deliver({ type: "page", request_id: model.sent[1].request_id, rows: [2] });
  model.deliver({ type: "count", total: 7 });
  model.deliver({ type: "page", request_id: model.sent[0].request_id, error: "bad restriction" });
  assert.deepEqual((await second).rows, [2]);
  await assert.rejects(first, /bad restriction/);
  assert.deepEqual(pushed, [7]);
  channel.dispose();
});
