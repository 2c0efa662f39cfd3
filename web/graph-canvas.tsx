/**
 * The dependency graph of one environment, drawn with Cytoscape.js and laid out by dagre (layered, left to
 * right: the apply order read left to right, as in `karma graph show --format dot`). Components are filled by
 * status and carry the status word; an edge is labelled with the outputs consumed, an ordering-only edge
 * (`dependsOn` without outputs) is dashed; a component of another environment has a dashed border; an external
 * parameter is a grey box (red border when missing). Wheel or pinch zooms, dragging the background pans. On a
 * tall frame (a phone) the layers run top to bottom instead.
 *
 * The canvas is a picture for pointer users: its keyboard equivalent is the list beside it (every component,
 * its status, the same search), which selects the same component.
 */
import cytoscape, { type Core, type ElementDefinition } from 'cytoscape';
import dagre from 'cytoscape-dagre';
import { useEffect, useRef } from 'preact/hooks';
import { edgeLabel, type Picture } from '../lib/api/types.ts';
import { INK, statusColours } from './status.tsx';

cytoscape.use(dagre);

export interface GraphCanvasProps {
  readonly picture: Picture;
  /** The component selected (details open), by name in this environment. */
  readonly selected: string | undefined;
  /** Names shown; the others are hidden (the search). */
  readonly visible: ReadonlySet<string>;
  readonly onSelect: (env: string, name: string) => void;
  readonly label: string;
}

const FONT = "'Inter Variable', system-ui, sans-serif";
const PADDING = 10;
const LINE = 16;
let measure: CanvasRenderingContext2D | null | undefined;

/** A node's size from its label (Cytoscape's own `width: label` is deprecated). */
function sized(label: string, px: number, weight: number): { w: number; h: number } {
  measure ??= document.createElement('canvas').getContext('2d');
  const lines = label.split('\n');
  let w = 0;
  for (const [i, line] of lines.entries()) {
    if (measure) measure.font = `${i === 0 ? weight : 400} ${px}px ${FONT}`;
    w = Math.max(w, measure ? measure.measureText(line).width : line.length * px * 0.6);
  }
  return { w: Math.ceil(w) + 2 * PADDING, h: lines.length * LINE + 2 * PADDING - 4 };
}

function elements(picture: Picture): ElementDefinition[] {
  const out: ElementDefinition[] = [];
  for (const group of picture.envs) {
    for (const n of group.nodes) {
      const { fill, stroke } = statusColours(n.status);
      const label = n.otherEnv ? `${n.name}\n${n.env} · ${n.status}` : `${n.name}\n${n.status}`;
      out.push({
        group: 'nodes',
        data: { id: n.id, name: n.name, env: n.env, label, fill, stroke, ...sized(label, 13, 600) },
        classes: n.otherEnv ? 'component other' : 'component',
      });
    }
  }
  for (const p of picture.params) {
    const label = p.present ? p.path : `${p.path}\nmissing`;
    out.push({ group: 'nodes', data: { id: p.id, label, fill: '#f6f8fa', stroke: p.present ? '#57606a' : '#c62828', ...sized(label, 11, 400) }, classes: 'param' });
  }
  for (const e of picture.edges) {
    out.push({ group: 'edges', data: { id: `${e.from}->${e.to}`, source: e.from, target: e.to, label: edgeLabel(e.outputs) }, classes: e.orderingOnly ? 'ordering' : 'consumes' });
  }
  return out;
}

const STYLE: cytoscape.StylesheetJson = [
  {
    selector: 'node',
    style: {
      shape: 'round-rectangle',
      'background-color': 'data(fill)',
      'border-color': 'data(stroke)',
      'border-width': 2,
      label: 'data(label)',
      color: INK,
      'font-family': 'Inter Variable, system-ui, sans-serif',
      'font-size': 13,
      'text-wrap': 'wrap',
      'text-valign': 'center',
      'text-halign': 'center',
      width: 'data(w)',
      height: 'data(h)',
      'line-height': 1.2,
    },
  },
  { selector: 'node.component', style: { 'font-weight': 600 } },
  { selector: 'node.other', style: { 'border-style': 'dashed' } },
  { selector: 'node.param', style: { shape: 'rectangle', 'font-size': 11, 'font-weight': 400 } },
  { selector: 'node:selected, node.selected', style: { 'border-width': 4, 'border-color': '#0a58ca', 'overlay-opacity': 0 } },
  {
    selector: 'edge',
    style: {
      width: 1.5,
      'curve-style': 'bezier',
      'line-color': '#57606a',
      'target-arrow-color': '#57606a',
      'target-arrow-shape': 'triangle',
      label: 'data(label)',
      'font-size': 11,
      color: '#424a53',
      'text-background-color': '#ffffff',
      'text-background-opacity': 0.9,
      'text-background-padding': '2px',
      'text-rotation': 'autorotate',
    },
  },
  { selector: 'edge.ordering', style: { 'line-style': 'dashed' } },
  { selector: '.hidden', style: { display: 'none' } },
];

export function GraphCanvas(props: GraphCanvasProps) {
  const container = useRef<HTMLDivElement>(null);
  const cy = useRef<Core | undefined>(undefined);
  const shape = useRef('');
  const laidOut = useRef('');
  // Left to right on a wide frame, top to bottom on a tall one (a phone).
  const direction = (core: Core): 'LR' | 'TB' => (core.width() >= core.height() * 0.9 ? 'LR' : 'TB');
  const layout = (core: Core): void => {
    laidOut.current = direction(core);
    const started = performance.now();
    core.layout({ name: 'dagre', rankDir: laidOut.current, nodeSep: 24, rankSep: laidOut.current === 'LR' ? 90 : 60, edgeSep: 12, fit: true, padding: 24 } as cytoscape.LayoutOptions).run();
    // What is drawn, for tests and bench/ui.ts: the number of nodes and how long the layout took.
    container.current?.setAttribute('data-nodes', String(core.nodes().length));
    container.current?.setAttribute('data-layout-ms', String(Math.round(performance.now() - started)));
  };
  const onSelect = useRef(props.onSelect);
  onSelect.current = props.onSelect;

  useEffect(() => {
    const core = cytoscape({ container: container.current!, style: STYLE, minZoom: 0.1, maxZoom: 3, boxSelectionEnabled: false, autoungrabify: true });
    core.on('tap', 'node.component', (e) => onSelect.current(String(e.target.data('env')), String(e.target.data('name'))));
    cy.current = core;
    // The frame changes size (the details panel opens, the window turns): keep the whole graph in view.
    const resized = new ResizeObserver(() => {
      core.resize();
      if (core.nodes().length > 0 && direction(core) !== laidOut.current) layout(core);
      else core.fit(undefined, 24);
    });
    resized.observe(container.current!);
    return () => {
      resized.disconnect();
      core.destroy();
    };
  }, []);

  // New elements: laid out again only when the shape changed (a status update keeps every position).
  useEffect(() => {
    const core = cy.current!;
    // Labels are measured in the bundled font: wait for it (it is local, so this is quick).
    let cancelled = false;
    void document.fonts.load(`600 13px ${FONT}`).finally(() => {
      if (!cancelled) draw(core);
    });
    return () => {
      cancelled = true;
    };
  }, [props.picture]);

  const draw = (core: Core): void => {
    const els = elements(props.picture);
    const nextShape = els.map((e) => e.data.id).sort().join('\n');
    if (nextShape === shape.current) {
      core.batch(() => {
        for (const e of els) core.getElementById(String(e.data.id)).data(e.data);
      });
      return;
    }
    shape.current = nextShape;
    core.batch(() => {
      core.elements().remove();
      core.add(els);
    });
    layout(core);
    mark(core);
  };

  const mark = (core: Core): void => {
    core.batch(() => {
      core.nodes('.component').forEach((n) => {
        n.toggleClass('hidden', !props.visible.has(String(n.data('name'))) && !n.hasClass('other'));
        n.toggleClass('selected', n.data('name') === props.selected && !n.hasClass('other'));
      });
    });
  };

  useEffect(() => mark(cy.current!), [props.visible, props.selected]);

  const zoom = (factor: number): void => {
    const core = cy.current!;
    core.zoom({ level: core.zoom() * factor, renderedPosition: { x: core.width() / 2, y: core.height() / 2 } });
  };

  return (
    <div class="graph-frame">
      <div class="graph-tools" role="toolbar" aria-label="Graph view">
        <button type="button" onClick={() => cy.current?.fit(undefined, 24)}>Fit</button>
        <button type="button" onClick={() => zoom(1.25)} aria-label="Zoom in">+</button>
        <button type="button" onClick={() => zoom(0.8)} aria-label="Zoom out">−</button>
      </div>
      <div ref={container} class="graph-canvas" role="img" aria-label={props.label} />
    </div>
  );
}
