/**
 * A main-area panel that shows what a piece of kernel code displays: the table browser,
 * the diagram, the jobs view, a populate run.
 *
 * The output is rendered with the notebook's own rendermime, which knows the notebook's
 * widget manager, so anywidgets from the same kernel render here as they would in a cell;
 * where no widget renderer exists the HTML twin of the output shows.
 */

import { MainAreaWidget, ToolbarButton } from '@jupyterlab/apputils';
import { NotebookPanel } from '@jupyterlab/notebook';
import { OutputArea, OutputAreaModel } from '@jupyterlab/outputarea';
import { refreshIcon } from '@jupyterlab/ui-components';

export class KernelOutputPanel extends MainAreaWidget<OutputArea> {
  constructor(
    readonly notebook: NotebookPanel,
    readonly key: string,
    private _code: string,
    label: string
  ) {
    const area = new OutputArea({
      model: new OutputAreaModel({ trusted: true }),
      rendermime: notebook.content.rendermime
    });
    area.addClass('jp-dj-OutputPanel-output');
    super({ content: area });
    this.id = `dj-jupyter-output-${Private.slug(key)}-${++Private.counter}`;
    this.addClass('jp-dj-OutputPanel');
    this.title.label = label;
    this.title.caption = `${label} — ${notebook.title.label}`;
    this.title.closable = true;
    this.toolbar.addItem(
      'refresh',
      new ToolbarButton({
        icon: refreshIcon,
        tooltip: 'Run again',
        onClick: () => void this.run()
      })
    );
    notebook.disposed.connect(() => this.dispose());
  }

  /** Run the code in the notebook's kernel and show what it displays. */
  async run(): Promise<void> {
    const kernel = this.notebook.sessionContext.session?.kernel;
    if (!kernel) {
      this.content.model.clear();
      this.content.model.add({
        output_type: 'stream',
        name: 'stderr',
        text: 'The notebook has no running kernel.'
      });
      return;
    }
    const future = kernel.requestExecute({
      code: this._code,
      silent: false,
      store_history: false,
      allow_stdin: false,
      stop_on_error: false
    });
    this.content.future = future;
    try {
      await future.done;
    } catch {
      // the output area shows what happened
    }
  }
}

namespace Private {
  export let counter = 0;
  export function slug(text: string): string {
    return text.replace(/[^A-Za-z0-9_-]+/g, '-').slice(0, 60);
  }
}
