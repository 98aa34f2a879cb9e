import { createChannel } from "../channel.js";
import { createProgress } from "../progress_view.js";

function render({ model, el }) {
  const channel = createChannel(model);
  el.classList.add("dj-widget");
  const view = createProgress(model, channel);
  el.append(view.el);
  return () => { view.dispose(); channel.dispose(); };
}

export default { render };
