import { createChannel } from "../channel.js";
import { createBrowser } from "../browser_view.js";

function render({ model, el }) {
  const channel = createChannel(model);
  const browser = createBrowser(channel, { title: model.get("title"), pageSize: model.get("page_size") });
  el.classList.add("dj-widget");
  el.append(browser.el);
  const initial = model.get("initial_page");
  if (initial && initial.columns) browser.showReply(initial);
  else browser.load();
  // the exact count arrives later (counted off the user's connection): it is kept in the model's state
  const applyCount = () => {
    const count = model.get("count_state");
    if (count && count.total !== null && count.total !== undefined) browser.applyCount(count);
  };
  model.on("change:count_state", applyCount);
  applyCount();
  return () => { model.off("change:count_state", applyCount); browser.dispose(); channel.dispose(); };
}

export default { render };
