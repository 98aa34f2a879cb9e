// Request/reply over an anywidget model's custom messages.
// The kernel answers a request with a message carrying the same request_id; other messages
// (pushed count updates, status) go to listeners by type.

let counter = 0;

export function createChannel(model) {
  const pending = new Map();
  const listeners = new Map();
  const onMessage = (msg, buffers) => {
    if (!msg || typeof msg !== "object") return;
    if (msg.request_id !== undefined && pending.has(msg.request_id)) {
      const { resolve, reject, timer } = pending.get(msg.request_id);
      pending.delete(msg.request_id);
      clearTimeout(timer);
      if (msg.error) reject(Object.assign(new Error(msg.error), { reply: msg }));
      else resolve({ ...msg, buffers: buffers || [] });
      return;
    }
    for (const listener of listeners.get(msg.type) || []) listener(msg, buffers || []);
  };
  model.on("msg:custom", onMessage);
  return {
    request(content, timeoutMs = 120000) {
      const request_id = `r${Date.now().toString(36)}-${++counter}`;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          if (pending.has(request_id)) {
            pending.delete(request_id);
            reject(new Error("The kernel did not answer (is it busy or gone?)."));
          }
        }, timeoutMs);
        pending.set(request_id, { resolve, reject, timer });
        model.send({ ...content, request_id });
      });
    },
    send(content) { model.send(content); },
    on(type, listener) {
      if (!listeners.has(type)) listeners.set(type, []);
      listeners.get(type).push(listener);
      return () => listeners.set(type, (listeners.get(type) || []).filter((l) => l !== listener));
    },
    dispose() {
      model.off("msg:custom", onMessage);
      for (const { timer } of pending.values()) clearTimeout(timer);
      pending.clear();
      listeners.clear();
    },
  };
}
