/**
 * Propose a change: a form made from the component's `inputs` JSON Schema (component.yaml), filled with the
 * inputs as written in the config repo. Each edit is checked at once in the browser (a number, JSON, a required
 * field) and, a moment later, by the server with a dry run of POST /request-change — the same validation, diff
 * and impact as `karma propose-change --dry-run`, so the form never disagrees with the CLI. Proposing records the
 * change and makes its Terraform plan (nothing changes yet); the plan summary is shown, and Apply is the decision.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { ComponentDetails, Proposed } from '../lib/api/types.ts';
import { ApiError, get, messageOf, post, SignedOut } from './api.ts';
import { ChangeCard } from './changes.tsx';
import { Diff } from './diff.tsx';
import { ImpactSummary } from './details.tsx';
import { href } from './router.ts';
import { fieldOfProblem, fieldsOf, parseField, textOf } from './form.ts';
import { useFetch } from './use-fetch.ts';
import { Alert } from './alert.tsx';

export function ProposeView({ env, component }: { readonly env: string; readonly component: string }) {
  const details = useFetch((signal) => get<ComponentDetails>(`/components/${encodeURIComponent(env)}/${encodeURIComponent(component)}`, {}, signal), [env, component]);
  const d = details.data?.env === env && details.data.component === component ? details.data : undefined;
  return (
    <div class="page propose-page">
      <p class="crumbs">
        <a href={href('graph', { env, component })}>← {component} in {env}</a>
      </p>
      <h1>
        Propose a change to {component} <span class="muted">in {env}</span>
      </h1>
      <Alert message={details.error} />
      {!d ? details.error ? null : <p class="loading">Loading…</p> : <ProposeForm key={`${env}/${component}`} details={d} />}
    </div>
  );
}

type Check =
  | { readonly state: 'idle' }
  | { readonly state: 'checking' }
  | { readonly state: 'valid'; readonly proposed: Proposed }
  | { readonly state: 'invalid'; readonly problems: readonly { path: string; message: string }[]; readonly detail: string }
  | { readonly state: 'error'; readonly message: string };

function ProposeForm({ details }: { readonly details: ComponentDetails }) {
  const { env, component } = details;
  const fields = useMemo(() => fieldsOf(details.inputsSchema, details.inputs), [details]);
  const [texts, setTexts] = useState<Record<string, string>>(() => Object.fromEntries(fields.map((f) => [f.name, textOf(f, details.inputs?.[f.name])])));
  const [touched, setTouched] = useState<ReadonlySet<string>>(new Set());
  const [message, setMessage] = useState('');
  const [check, setCheck] = useState<Check>({ state: 'idle' });
  const [submitting, setSubmitting] = useState(false);
  const [submitError, setSubmitError] = useState('');
  const [proposed, setProposed] = useState<Proposed | undefined>(undefined);

  const parsed = useMemo(() => Object.fromEntries(fields.map((f) => [f.name, parseField(f, texts[f.name] ?? '')])), [fields, texts]);
  const localErrors = Object.entries(parsed).filter(([, p]) => p.error !== undefined);
  const input = useMemo(() => (localErrors.length > 0 ? undefined : Object.fromEntries(Object.entries(parsed).filter(([, p]) => 'value' in p).map(([k, p]) => [k, p.value]))), [parsed]);
  const inputKey = input === undefined ? '' : JSON.stringify(input);
  // The inputs as the form first showed them: the config repo's. Unchanged, there is nothing to check or propose.
  const [initialKey] = useState(inputKey);
  const unchanged = inputKey === initialKey;

  // The server's check, 300 ms after the last edit: validation, diff and impact (a dry run records nothing).
  useEffect(() => {
    if (input === undefined || proposed || unchanged) {
      setCheck({ state: 'idle' });
      return undefined;
    }
    setCheck({ state: 'checking' });
    const controller = new AbortController();
    const timer = setTimeout(() => {
      post<Proposed>('/request-change', { component, env, input, dryRun: true }, controller.signal).then(
        (p) => setCheck({ state: 'valid', proposed: p }),
        (error: unknown) => {
          if (controller.signal.aborted || error instanceof SignedOut) return;
          if (error instanceof ApiError && (error.problem.status === 422 || error.problem.status === 400)) {
            setCheck({ state: 'invalid', problems: error.problem.problems ?? [], detail: error.problem.detail });
          } else setCheck({ state: 'error', message: messageOf(error) });
        },
      );
    }, 300);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [inputKey]);

  const names = fields.map((f) => f.name);
  const serverErrors = new Map<string, string>();
  const formErrors: string[] = [];
  if (check.state === 'invalid') {
    for (const p of check.problems) {
      const hit = fieldOfProblem(p.message, names);
      if (hit && !serverErrors.has(hit.field)) serverErrors.set(hit.field, hit.message);
      else if (!hit) formErrors.push(p.message);
    }
    if (check.problems.length === 0) formErrors.push(check.detail);
  }
  const errorOf = (name: string): string | undefined => parsed[name]?.error ?? serverErrors.get(name);
  const noChange = check.state === 'valid' && check.proposed.diff.length === 0;
  const canSubmit = check.state === 'valid' && !noChange && !submitting && !proposed;

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setTouched(new Set(names));
    if (!canSubmit || input === undefined) return;
    setSubmitting(true);
    setSubmitError('');
    try {
      setProposed(await post<Proposed>('/request-change', { component, env, input, ...(message.trim() ? { message: message.trim() } : {}) }));
    } catch (error) {
      if (!(error instanceof SignedOut)) setSubmitError(messageOf(error));
    } finally {
      setSubmitting(false);
    }
  };

  const status =
    input === undefined
      ? `${localErrors.length} field${localErrors.length === 1 ? '' : 's'} to fix`
      : unchanged
        ? 'These are the inputs in the config repo: edit one to propose a change.'
        : check.state === 'checking'
        ? 'Checking…'
        : check.state === 'valid'
          ? noChange
            ? 'Valid: no change from what is in the config repo.'
            : `Valid: ${check.proposed.diff.length} input${check.proposed.diff.length === 1 ? '' : 's'} changed.`
          : check.state === 'invalid'
            ? `Invalid: ${check.problems.length || 1} problem${check.problems.length === 1 ? '' : 's'}.`
            : check.state === 'error'
              ? check.message
              : '';

  return (
    <div class="propose-layout">
      <form class="card propose" onSubmit={submit} aria-describedby="form-status" noValidate>
        {details.inputsSchema ? null : <p class="muted">{component}'s component.yaml has no inputs schema: each input is JSON.</p>}
        {fields.map((f) => {
          const id = `field-${f.name}`;
          const error = errorOf(f.name);
          const show = error !== undefined && (touched.has(f.name) || serverErrors.has(f.name) || parsed[f.name]?.error !== 'required');
          const help = [f.description, f.constraints.length > 0 ? `${f.constraints.join('; ')}; or a reference such as \${component.output}.` : ''].filter(Boolean).join(' ');
          const described = [help ? `${id}-help` : '', show ? `${id}-error` : ''].filter(Boolean).join(' ') || undefined;
          const common = {
            id,
            name: f.name,
            'aria-invalid': show ? ('true' as const) : undefined,
            'aria-describedby': described,
            'aria-required': f.required ? ('true' as const) : undefined,
            disabled: proposed !== undefined,
            onBlur: () => setTouched((t) => new Set([...t, f.name])),
          };
          const value = texts[f.name] ?? '';
          const onText = (v: string): void => setTexts((t) => ({ ...t, [f.name]: v }));
          return (
            <div class={`field${show ? ' has-error' : ''}`} key={f.name}>
              <label for={id}>
                {f.name} {f.required ? <span class="req">required</span> : <span class="muted">optional</span>}
              </label>
              {f.kind === 'enum' ? (
                <select {...common} value={value} onChange={(e) => onText(e.currentTarget.value)}>
                  {!f.required || value === '' ? <option value="">(none)</option> : null}
                  {value !== '' && !f.options.includes(value) ? <option value={value}>{value}</option> : null}
                  {f.options.map((o) => (
                    <option key={o} value={o}>
                      {o}
                    </option>
                  ))}
                </select>
              ) : f.kind === 'boolean' ? (
                <select {...common} value={value} onChange={(e) => onText(e.currentTarget.value)}>
                  {!f.required ? <option value="">(none)</option> : null}
                  <option value="true">true</option>
                  <option value="false">false</option>
                  {value !== '' && value !== 'true' && value !== 'false' ? <option value={value}>{value}</option> : null}
                </select>
              ) : f.kind === 'json' && (value.includes('\n') || value.length > 60) ? (
                <textarea {...common} rows={Math.min(8, value.split('\n').length + 1)} spellcheck={false} value={value} onInput={(e) => onText(e.currentTarget.value)} />
              ) : (
                <input {...common} type="text" inputMode={f.kind === 'number' || f.kind === 'integer' ? 'decimal' : undefined} spellcheck={false} autocomplete="off" value={value} onInput={(e) => onText(e.currentTarget.value)} />
              )}
              {help ? (
                <p id={`${id}-help`} class="hint">
                  {help}
                </p>
              ) : null}
              {show ? (
                <p id={`${id}-error`} class="field-error">
                  {error}
                </p>
              ) : null}
            </div>
          );
        })}
        <div class="field">
          <label for="change-message">
            Change message <span class="muted">optional</span>
          </label>
          <input id="change-message" type="text" maxLength={500} value={message} disabled={proposed !== undefined} onInput={(e) => setMessage(e.currentTarget.value)} placeholder={`change ${component} in ${env}`} />
        </div>
        {formErrors.length > 0 ? (
          <ul class="alert" aria-label="Problems">
            {formErrors.map((m) => (
              <li key={m}>{m}</li>
            ))}
          </ul>
        ) : null}
        <p id="form-status" class={`form-status ${check.state}`} role="status" aria-live="polite">
          {proposed ? '' : status}
        </p>
        <Alert message={submitError} />
        {proposed ? null : (
          <button type="submit" class="primary" disabled={!canSubmit} aria-disabled={!canSubmit}>
            {submitting ? 'Proposing and planning…' : 'Propose change'}
          </button>
        )}
      </form>

      <div>
        {check.state === 'valid' && !proposed ? <Preview proposed={check.proposed} /> : null}
        {proposed?.id ? <ChangeCard id={proposed.id} proposed={proposed} /> : null}
      </div>
    </div>
  );
}

/** What the change would do: the diff of the inputs and what an apply would set off. */
function Preview({ proposed }: { readonly proposed: Proposed }) {
  return (
    <section class="card" aria-labelledby="preview-title">
      <h2 id="preview-title">Before you propose</h2>
      <h3>Diff</h3>
      <Diff proposed={proposed} />
      {proposed.warnings.length > 0 ? (
        <ul class="warnings">
          {proposed.warnings.map((w) => (
            <li key={w}>{w}</li>
          ))}
        </ul>
      ) : null}
      <h3>Impact</h3>
      <ImpactSummary impact={proposed.impact} />
      <p class="muted">Proposing records the change on a branch of the config repo and runs terraform plan; nothing is applied until you choose Apply.</p>
    </section>
  );
}
