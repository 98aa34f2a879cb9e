import { createChannel } from "../channel.js";
import { createArrayView } from "../array_view.js";

function render({ model, el }) {
  const channel = createChannel(model);
  el.classList.add("dj-widget");
  const title = model.get("title");
  if (title) el.append(Object.assign(document.createElement("div"), { className: "dj-browser-title", textContent: title }));
  el.append(createArrayView(model.get("info"), () => channel.request({ type: "sample" })));
  return () => channel.dispose();
}

export default { render };
