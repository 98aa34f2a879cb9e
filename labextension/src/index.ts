/**
 * dj_jupyter's JupyterLab extension: `%%dj` highlighting and completion, the pipeline
 * sidebar, and commands in the palette and the notebook toolbar.
 *
 * It adds sugar, never function: everything here calls what the kernel already offers
 * (`%load_ext dj_jupyter`, the `dj_jupyter.pipeline` comm target and
 * `dj_jupyter.jupyter.sidebar.show`).
 */

import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, ToolbarButton } from '@jupyterlab/apputils';
import { EditorExtensionRegistry, IEditorExtensionRegistry } from '@jupyterlab/codemirror';
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { INotebookModel, INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { DisposableSet, IDisposable } from '@lumino/disposable';
import { Menu } from '@lumino/widgets';

import { parseHeader, tableAtCursor, Tier, TIERS } from './detect';
import { djCellExtension, IEditorHooks, setHighlighting } from './editor';
import { diagramIcon, jobsIcon, pipelineIcon } from './icons';
import { showCode } from './model';
import { KernelOutputPanel } from './panel';
import { PipelineSidebar } from './sidebar';
import { cellTemplate, tierLabel } from './templates';

const PLUGIN_ID = 'dj-jupyter-labextension:plugin';

export namespace CommandIDs {
  export const insertCell = 'dj-jupyter:insert-table-cell';
  export const showDiagram = 'dj-jupyter:show-diagram';
  export const populate = 'dj-jupyter:populate';
  export const openJobs = 'dj-jupyter:open-jobs';
  export const browse = 'dj-jupyter:browse-table';
  export const openSidebar = 'dj-jupyter:open-sidebar';
  export const refreshSidebar = 'dj-jupyter:refresh-sidebar';
  export const loadExtension = 'dj-jupyter:load-extension';
}

/** The user settings (schema/plugin.json). */
interface ISettings {
  highlighting: boolean;
  autoComplete: boolean;
  sidebar: boolean;
  refreshSeconds: number;
  commands: boolean;
  toolbar: boolean;
}

const DEFAULTS: ISettings = {
  highlighting: true,
  autoComplete: true,
  sidebar: true,
  refreshSeconds: 15,
  commands: true,
  toolbar: true
};

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'DataJoint %%dj cells, pipeline sidebar and commands for dj_jupyter.',
  autoStart: true,
  requires: [INotebookTracker, IEditorExtensionRegistry],
  optional: [ISettingRegistry, ICommandPalette, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    editorExtensions: IEditorExtensionRegistry,
    settingRegistry: ISettingRegistry | null,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null
  ) => {
    const settings: ISettings = { ...DEFAULTS };
    const { commands, shell } = app;

    // ---- editor: %%dj language and completion nudge -----------------------------------
    const hooks: IEditorHooks = {
      autoComplete: () => settings.autoComplete,
      invokeCompleter: () => {
        if (commands.hasCommand('completer:invoke-notebook')) {
          void commands.execute('completer:invoke-notebook');
        }
      }
    };
    editorExtensions.addExtension({
      name: 'dj-jupyter:dj-cells',
      factory: options => {
        // code cells of notebooks and consoles only: not markdown, not files
        const type = (options.model as unknown as { type?: string }).type;
        if (type !== 'code') {
          return null;
        }
        return EditorExtensionRegistry.createImmutableExtension(djCellExtension(hooks));
      }
    });

    // ---- output panels in the main area ------------------------------------------------
    const panels = new Map<string, KernelOutputPanel>();
    const openPanel = (notebook: NotebookPanel, key: string, code: string, label: string): void => {
      const fullKey = `${notebook.id}:${key}`;
      let panel = panels.get(fullKey);
      if (!panel || panel.isDisposed) {
        panel = new KernelOutputPanel(notebook, key, code, label);
        panels.set(fullKey, panel);
        panel.disposed.connect(() => panels.delete(fullKey));
        const open = [...panels.values()].filter(p => p !== panel && p.isAttached);
        const ref = open.length ? open[open.length - 1].id : notebook.id;
        shell.add(panel, 'main', { mode: open.length ? 'tab-after' : 'split-right', ref });
      }
      shell.activateById(panel.id);
      // what the view did (a populate, say) shows in the sidebar's counts afterwards
      void panel.run().then(() => {
        if (sidebar.isVisible) {
          void sidebar.refresh();
        }
      });
    };

    const currentNotebook = (): NotebookPanel | null => tracker.currentWidget;

    /** The table under the cursor of the active cell, or the declared table of a %%dj cell. */
    const tableUnderCursor = (): string | null => {
      const cell = tracker.activeCell;
      const editor = cell?.editor;
      if (!cell || !editor) {
        return null;
      }
      const text = cell.model.sharedModel.getSource();
      const offset = editor.getOffsetAt(editor.getCursorPosition());
      return tableAtCursor(text, offset);
    };

    const activeCellSchema = (): string | null => {
      const cell = tracker.activeCell;
      if (!cell) {
        return null;
      }
      const header = parseHeader(cell.model.sharedModel.getSource());
      const schema = header?.options.schema;
      return typeof schema === 'string' ? schema : null;
    };

    // ---- the sidebar ---------------------------------------------------------------------
    const sidebar = new PipelineSidebar({
      tracker,
      openTable: (notebook, name) => openPanel(notebook, `browse:${name}`, showCode('browse', name), name),
      openDiagram: (notebook, schema) =>
        openPanel(notebook, `diagram:${schema}`, showCode('diagram', schema), `Diagram ${schema}`),
      openJobs: (notebook, target) =>
        openPanel(notebook, `jobs:${target}`, showCode('jobs', target), `Jobs ${target}`)
    });
    sidebar.refreshSeconds = settings.refreshSeconds;
    let restoring = false;
    const showSidebar = (): void => {
      if (!sidebar.parent) {
        shell.add(sidebar, 'left', { rank: 650 });
      }
      if (restorer && !restoring) {
        // remember whether it was open, once it is part of the layout
        restorer.add(sidebar, sidebar.id);
        restoring = true;
      }
    };

    // ---- commands ------------------------------------------------------------------------
    const hasNotebook = (): boolean => currentNotebook() !== null;
    commands.addCommand(CommandIDs.insertCell, {
      label: args => `Insert %%dj ${tierLabel((args.tier as Tier) ?? 'manual')} Table Cell`,
      caption: args => `Insert a %%dj cell that declares a ${(args.tier as string) ?? 'manual'} table`,
      isEnabled: () => settings.commands && hasNotebook(),
      execute: args => {
        const panel = currentNotebook();
        if (!panel) {
          return;
        }
        const tier = (TIERS as readonly string[]).includes(args.tier as string)
          ? (args.tier as Tier)
          : 'manual';
        const notebook = panel.content;
        const active = notebook.activeCell;
        const reuse =
          active && active.model.type === 'code' && active.model.sharedModel.getSource().trim() === '';
        if (!reuse) {
          NotebookActions.insertBelow(notebook);
        }
        const cell = notebook.activeCell;
        if (cell) {
          cell.model.sharedModel.setSource(cellTemplate(tier).replace(/\s+$/, ''));
          notebook.mode = 'edit';
          cell.editor?.focus();
        }
      }
    });
    commands.addCommand(CommandIDs.showDiagram, {
      label: 'Show Pipeline Diagram',
      caption: 'Show dj.Diagram of a schema (all active schemas when none is given)',
      icon: args => (args.toolbar ? diagramIcon : undefined),
      isEnabled: () => settings.commands && hasNotebook(),
      execute: args => {
        const panel = currentNotebook();
        if (!panel) {
          return;
        }
        const schema = (args.schema as string) || activeCellSchema();
        openPanel(panel, `diagram:${schema ?? '*'}`, showCode('diagram', schema), `Diagram ${schema ?? ''}`.trim());
      }
    });
    commands.addCommand(CommandIDs.populate, {
      label: args => (args.table ? `Populate ${args.table}` : 'Populate Table Under Cursor'),
      caption: 'Run populate() for the table under the cursor and show its progress',
      isEnabled: () => settings.commands && hasNotebook(),
      execute: args => {
        const panel = currentNotebook();
        if (!panel) {
          return;
        }
        const table = (args.table as string) || tableUnderCursor();
        if (!table) {
          void app.commands.execute('apputils:notify', {
            message: 'Put the cursor on a table name (or in a %%dj table cell) to populate it.',
            type: 'warning',
            options: { autoClose: 4000 }
          });
          return;
        }
        openPanel(panel, `populate:${table}`, showCode('populate', table), `Populate ${table}`);
      }
    });
    commands.addCommand(CommandIDs.openJobs, {
      label: 'Open Jobs View',
      caption: 'Show the job tables (of the table under the cursor, or of every active schema)',
      icon: args => (args.toolbar ? jobsIcon : undefined),
      isEnabled: () => settings.commands && hasNotebook(),
      execute: args => {
        const panel = currentNotebook();
        if (!panel) {
          return;
        }
        const target = (args.table as string) || tableUnderCursor();
        openPanel(panel, `jobs:${target ?? '*'}`, showCode('jobs', target), `Jobs ${target ?? ''}`.trim());
      }
    });
    commands.addCommand(CommandIDs.browse, {
      label: args => `Browse ${(args.table as string) ?? 'Table'}`,
      isEnabled: () => hasNotebook(),
      execute: args => {
        const panel = currentNotebook();
        const table = args.table as string;
        if (panel && table) {
          openPanel(panel, `browse:${table}`, showCode('browse', table), table);
        }
      }
    });
    commands.addCommand(CommandIDs.openSidebar, {
      label: 'Show Pipeline Sidebar',
      isEnabled: () => settings.sidebar,
      execute: () => {
        showSidebar();
        shell.activateById(sidebar.id);
      }
    });
    commands.addCommand(CommandIDs.refreshSidebar, {
      label: 'Refresh Pipeline Sidebar',
      isEnabled: () => settings.sidebar,
      execute: () => sidebar.refresh()
    });
    commands.addCommand(CommandIDs.loadExtension, {
      label: 'Load dj_jupyter in the Kernel (%load_ext dj_jupyter)',
      isEnabled: () => hasNotebook(),
      execute: () => sidebar.loadExtension()
    });

    // palette entries follow the `commands` setting
    let paletteItems: DisposableSet | null = null;
    const updatePalette = (): void => {
      if (!palette) {
        return;
      }
      if (settings.commands && !paletteItems) {
        paletteItems = new DisposableSet();
        const category = 'DataJoint';
        for (const tier of TIERS) {
          paletteItems.add(palette.addItem({ command: CommandIDs.insertCell, args: { tier }, category }));
        }
        for (const command of [
          CommandIDs.showDiagram,
          CommandIDs.populate,
          CommandIDs.openJobs,
          CommandIDs.openSidebar,
          CommandIDs.refreshSidebar,
          CommandIDs.loadExtension
        ]) {
          paletteItems.add(palette.addItem({ command, category }));
        }
      } else if (!settings.commands && paletteItems) {
        paletteItems.dispose();
        paletteItems = null;
      }
    };

    // ---- notebook toolbar: one button with a menu of the commands ----------------------
    const menu = new Menu({ commands });
    menu.title.label = 'DataJoint';
    menu.addClass('jp-dj-ToolbarMenu');
    for (const tier of TIERS) {
      menu.addItem({ command: CommandIDs.insertCell, args: { tier } });
    }
    menu.addItem({ type: 'separator' });
    menu.addItem({ command: CommandIDs.showDiagram });
    menu.addItem({ command: CommandIDs.populate });
    menu.addItem({ command: CommandIDs.openJobs });
    menu.addItem({ type: 'separator' });
    menu.addItem({ command: CommandIDs.openSidebar });

    const toolbarButtons = new Set<ToolbarButton>();
    class ToolbarExtension implements DocumentRegistry.IWidgetExtension<NotebookPanel, INotebookModel> {
      createNew(panel: NotebookPanel): IDisposable {
        const button: ToolbarButton = new ToolbarButton({
          className: 'jp-dj-ToolbarButton',
          icon: pipelineIcon,
          label: 'DJ',
          tooltip: 'DataJoint: insert a %%dj table cell, diagram, populate, jobs',
          onClick: () => {
            tracker.currentWidget !== panel && shell.activateById(panel.id);
            const rect = button.node.getBoundingClientRect();
            menu.open(rect.left, rect.bottom);
          }
        });
        panel.toolbar.insertItem(10, 'dj-jupyter', button);
        toolbarButtons.add(button);
        button.disposed.connect(() => toolbarButtons.delete(button));
        button.setHidden(!settings.toolbar);
        return button;
      }
    }
    app.docRegistry.addWidgetExtension('Notebook', new ToolbarExtension());

    // ---- settings ------------------------------------------------------------------------
    const apply = (): void => {
      setHighlighting(settings.highlighting);
      sidebar.refreshSeconds = settings.refreshSeconds;
      if (settings.sidebar) {
        showSidebar();
      } else if (sidebar.parent) {
        sidebar.parent = null;
      }
      updatePalette();
      for (const button of toolbarButtons) {
        button.setHidden(!settings.toolbar);
      }
      commands.notifyCommandChanged();
    };
    // the first apply waits for the user's settings, so a feature turned off never flashes on
    if (!settingRegistry) {
      apply();
    } else {
      void settingRegistry
        .load(PLUGIN_ID)
        .then(loaded => {
          const read = (): void => {
            const composite = loaded.composite as Partial<ISettings>;
            for (const key of Object.keys(DEFAULTS) as (keyof ISettings)[]) {
              if (composite[key] !== undefined && composite[key] !== null) {
                (settings as unknown as Record<string, unknown>)[key] = composite[key];
              }
            }
            apply();
          };
          read();
          loaded.changed.connect(read);
        })
        .catch(reason => {
          console.error('dj-jupyter: could not load settings', reason);
          apply();
        });
    }
  }
};

export default plugin;
