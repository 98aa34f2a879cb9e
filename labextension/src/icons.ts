import { LabIcon } from '@jupyterlab/ui-components';

/** A small pipeline graph: the sidebar's tab icon and the toolbar menu button. */
export const pipelineIcon = new LabIcon({
  name: 'dj-jupyter:pipeline',
  svgstr: `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <rect x="2" y="2" width="8" height="6" rx="1"/>
    <ellipse cx="18" cy="5" rx="4.5" ry="3"/>
    <ellipse cx="12" cy="19" rx="5" ry="3.2"/>
    <path d="M6 8v4.5c0 1 .8 1.5 1.8 1.5H11v1.8h2V14h3.2c1 0 1.8-.5 1.8-1.5V8h-2v4H8V8z"/>
  </g>
</svg>`
});

/** Diagram button: nodes and edges. */
export const diagramIcon = new LabIcon({
  name: 'dj-jupyter:diagram',
  svgstr: `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <circle cx="5" cy="5" r="3"/><circle cx="19" cy="5" r="3"/><circle cx="12" cy="19" r="3"/>
    <path d="M6 7l5 10 1.8-.9-5-10zM18 7l-5 10-1.8-.9 5-10z"/>
  </g>
</svg>`
});

/** Jobs button: a list with status dots. */
export const jobsIcon = new LabIcon({
  name: 'dj-jupyter:jobs',
  svgstr: `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <circle cx="4" cy="6" r="2"/><rect x="8" y="5" width="13" height="2"/>
    <circle cx="4" cy="12" r="2"/><rect x="8" y="11" width="13" height="2"/>
    <circle cx="4" cy="18" r="2"/><rect x="8" y="17" width="13" height="2"/>
  </g>
</svg>`
});
