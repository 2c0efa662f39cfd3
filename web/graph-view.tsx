/**
 * The graph view: the list of the environment's components (name and status as text, keyboard-first) with the
 * search that filters it and the graph, the graph itself, and the details of the selected component.
 */
import { useMemo, useRef } from 'preact/hooks';
import type { Picture } from '../lib/api/types.ts';
import { get } from './api.ts';
import { Details } from './details.tsx';
import { GraphCanvas } from './graph-canvas.tsx';
import { MAX_DRAWN } from './limits.ts';
import { componentsIn, nodesOf, statusesIn } from './picture.ts';
import { navigate } from './router.ts';
import { StatusBadge } from './status.tsx';
import { useFetch } from './use-fetch.ts';
import { Alert } from './alert.tsx';

const DEPTHS = [1, 2, 3, 4, 5];



export function GraphView({ env, params, version }: { readonly env: string; readonly params: Readonly<Record<string, string>>; readonly version: number }) {
  const selected = params['component'];
  const focus = params['focus'];
  const depth = Number(params['depth'] ?? '1');
  const search = params['q'] ?? '';
  const set = (changes: Record<string, string | undefined>, replace = false): void => navigate('graph', { ...params, env, ...changes }, { replace });

  // The environment's components, for the list and the focus control: always the whole environment.
  const whole = useFetch((signal) => get<Picture>('/graph', { env, format: 'picture' }, signal), [env, version]);
  const focused = useFetch(focus ? (signal) => get<Picture>('/graph', { env, format: 'picture', component: focus, depth }, signal) : undefined, [env, focus, depth, version]);
  const picture = focus ? focused.data : whole.data;
  const all = useMemo(() => componentsIn(whole.data, env), [whole.data, env]);
  const statuses = useMemo(() => statusesIn(whole.data, env), [whole.data, env]);
  const inPicture = useMemo(() => new Set(componentsIn(picture, env).map((n) => n.name)), [picture, env]);
  const needle = search.trim().toLowerCase();
  const matches = (name: string, status: string): boolean => !needle || name.toLowerCase().includes(needle) || status.includes(needle);
  const listed = all.filter((n) => inPicture.has(n.name) && matches(n.name, n.status));
  const visible = useMemo(() => new Set(listed.map((n) => n.name)), [listed.map((n) => n.name).join('\n')]);
  const list = useRef<HTMLUListElement>(null);

  // Too large to draw whole: picking a component draws its neighbourhood.
  const tooLarge = whole.data !== undefined && nodesOf(whole.data) > MAX_DRAWN;
  const select = (name: string): void => set(tooLarge && !focus ? { component: name, focus: name } : { component: name });
  const drawable = picture !== undefined && nodesOf(picture) <= MAX_DRAWN;
  const onListKey = (e: KeyboardEvent): void => {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    const buttons = [...(list.current?.querySelectorAll('button') ?? [])];
    const at = buttons.indexOf(document.activeElement as HTMLButtonElement);
    const next = buttons[Math.max(0, Math.min(buttons.length - 1, at + (e.key === 'ArrowDown' ? 1 : -1)))];
    if (next) {
      e.preventDefault();
      next.focus();
    }
  };
  const error = whole.error ?? focused.error;

  return (
    <div class={`graph-page${selected ? ' with-details' : ''}`}>
      <section class="side" aria-labelledby="components-title">
        <h1 id="components-title" class="side-title">
          Components <span class="muted">in {env}</span>
        </h1>
        <label for="search" class="visually-hidden">
          Search components
        </label>
        <input id="search" type="search" role="searchbox" placeholder="Search components or statuses" value={search} onInput={(e) => set({ q: e.currentTarget.value || undefined }, true)} aria-controls="component-list" />
        <fieldset class="focus">
          <legend>Neighbourhood</legend>
          <div class="row">
            <label for="focus">Around</label>
            <select id="focus" value={focus ?? ''} onChange={(e) => set({ focus: e.currentTarget.value || undefined })}>
              <option value="">every component</option>
              {all.map((n) => (
                <option key={n.name} value={n.name}>
                  {n.name}
                </option>
              ))}
            </select>
          </div>
          <div class="row">
            <label for="depth">Depth</label>
            <select id="depth" value={String(depth)} disabled={!focus} onChange={(e) => set({ depth: e.currentTarget.value })}>
              {DEPTHS.map((d) => (
                <option key={d} value={String(d)}>
                  {d} {d === 1 ? 'hop' : 'hops'}
                </option>
              ))}
            </select>
          </div>
        </fieldset>
        <p class="count" role="status">
          {whole.data ? `${listed.length} of ${all.length} components shown` : 'Loading…'}
        </p>
        <ul id="component-list" class="component-list" aria-label={`Components in ${env}`} ref={list} onKeyDown={onListKey}>
          {listed.map((n) => (
            <li key={n.name}>
              <button type="button" class="component-item" aria-current={n.name === selected ? 'true' : undefined} onClick={() => select(n.name)}>
                <span class="name">{n.name}</span>
                <StatusBadge status={n.status} />
              </button>
            </li>
          ))}
        </ul>
        {whole.data && listed.length === 0 ? <p class="muted">No component matches “{search}”.</p> : null}
      </section>
      <section class="canvas-area" aria-label="Dependency graph">
        <Alert message={error} />
        {picture && !drawable ? (
          <div class="too-large" role="status">
            <p>
              {focus
                ? `${nodesOf(picture)} components and parameters are within ${depth} ${depth === 1 ? 'hop' : 'hops'} of ${focus}: too many to lay out readably here.`
                : `${env} has ${all.length} components: too many to lay out readably here.`}
            </p>
            <p class="muted">{focus ? 'Choose a smaller depth under Neighbourhood.' : 'Pick one in the list, or under Neighbourhood, to draw it with what is around it. The list and the plan show every component.'}</p>
          </div>
        ) : picture ? (
          <GraphCanvas
            picture={picture}
            selected={selected}
            visible={visible}
            onSelect={(e, name) => (e === env ? select(name) : navigate('graph', { env: e, component: name }))}
            label={`Dependency graph of ${env}${focus ? ` around ${focus}, ${depth} ${depth === 1 ? 'hop' : 'hops'}` : ''}: ${visible.size} components; arrows point from a component to those that consume it. The list of components is its keyboard equivalent.`}
          />
        ) : (
          <p class="loading">Loading the graph…</p>
        )}
        <Legend />
      </section>
      {selected ? <Details env={env} component={selected} version={version} statuses={statuses} onClose={() => set({ component: undefined })} /> : null}
    </div>
  );
}

function Legend() {
  return (
    <p class="legend">
      <span>
        <svg width="30" height="8" aria-hidden="true">
          <line x1="0" y1="4" x2="30" y2="4" stroke="#57606a" stroke-width="2" />
        </svg>
        consumes outputs
      </span>
      <span>
        <svg width="30" height="8" aria-hidden="true">
          <line x1="0" y1="4" x2="30" y2="4" stroke="#57606a" stroke-width="2" stroke-dasharray="5 4" />
        </svg>
        ordering only (dependsOn)
      </span>
      <span>
        <span class="legend-box dashed" aria-hidden="true" /> another environment
      </span>
    </p>
  );
}
