/**
 * GraphQL at /graphql (`karma serve` only), read-only, beside the REST routes: the schema of
 * lib/api/graphql-schema.ts, resolved by the same functions REST calls. `workspace.current()` once per request,
 * then the views of lib/app/views.ts (componentView, planView, impactView); changes through the workspace;
 * rollouts through the service's rollouts (absent: none). No rule of Karma's is computed here.
 *
 * Plain graphql-js: parse, validate (the spec's rules, graphql-armor's depth and cost rules, no mutation or
 * subscription), execute. Parsed and validated documents are kept by query text (a small LRU): parse and validate
 * cost more than most executions. Limits, each refused with 400 and one line (docs/graphql.md says why):
 *   - the query text: at most GRAPHQL_MAX_QUERY_BYTES (QUERY_TOO_LARGE), and GRAPHQL_MAX_TOKENS tokens;
 *   - nesting: at most GRAPHQL_MAX_DEPTH fields deep (QUERY_TOO_DEEP; introspection's __schema excepted);
 *   - the static cost of graphql-armor's cost-limit rule (QUERY_TOO_COSTLY): each nesting level multiplies its
 *     fields' cost by GRAPHQL_COST.depthCostFactor, so fan-outs (components of dependencies of dependencies...)
 *     grow exponentially while wide, shallow queries stay cheap;
 *   - a budget of objects per request (components, outputs, why links), counted while resolving
 *     (QUERY_TOO_COSTLY): the static cost cannot see a list's length nor what `dependencies(depth: 10)` walks.
 *
 * Errors: a Karma error is what the REST problem says (lib/api/problem.ts), as a GraphQL error with
 * `extensions.code` (NOT_FOUND with `known`, BAD_REQUEST, CONFLICT, UNAVAILABLE); anything else says only its
 * kind (INTERNAL). Never a stack trace.
 */
import {
  buildSchema,
  execute,
  GraphQLError,
  isObjectType,
  Kind,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type ExecutionResult,
  type GraphQLFieldResolver,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type ValidationRule,
} from 'graphql';
import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import type { Context } from 'hono';
import { z } from 'zod';
import { requireEnvironment } from '../core/config.ts';
import { UsageError } from '../core/errors.ts';
import { componentId } from '../core/graph.ts';
import { deploymentKey } from '../core/model.ts';
import type { GraphElement, GraphSnapshot } from '../core/snapshot.ts';
import type { ComponentStatus, Status } from '../core/status.ts';
import { componentView, DEFAULT_DEPTH, impactView, MAX_DEPTH, planView, reflects, type ComponentView, type OutputView } from '../app/views.ts';
import type { Current, Workspace } from '../app/workspace.ts';
import type { WhyStep } from '../app/queries.ts';
import { GRAPHQL_MAX_PAGE, GRAPHQL_SDL } from './graphql-schema.ts';
import { problemOf } from './problem.ts';
import { rolloutView, type ServiceEndpoints } from './service.ts';

export { GRAPHQL_SDL, GRAPHQL_MAX_PAGE };

/** The longest query text accepted (bytes of UTF-8). */
export const GRAPHQL_MAX_QUERY_BYTES = 10 * 1024;
/** The most tokens the parser reads (a 10 KiB query of one-character names has about 5,000). */
export const GRAPHQL_MAX_TOKENS = 3000;
/** The deepest selection: `environment { components { dependencies { outputs { consumers { name } } } } }` is 6. */
export const GRAPHQL_MAX_DEPTH = 12;
/**
 * graphql-armor's cost-limit: a scalar costs 1, an object 2, and each level multiplies what is under it by 3.
 * Every component of every environment with its dependencies at depth 1 costs 128; with every field of its view
 * (why, outputs and their consumers, dependents, lastApply) 1,379. Lists nested seven deep (environments,
 * components, five levels of dependencies) cost 6,560; eight deep 19,682; ten deep 177,146: refused.
 */
export const GRAPHQL_COST = { maxCost: 10_000, objectCost: 2, scalarCost: 1, depthCostFactor: 3 } as const;
/**
 * Objects one request may resolve: each component of a list (and each one a `dependencies` or `dependents` walk
 * visits), each output, each why link. On the 5,000 × 3 benchmark graph, every component with its dependencies at
 * depth 1 is 47,982 (15,000 + 32,982 DEPENDS_ON edges): allowed. Every component with every field of its view
 * (why, outputs and consumers, dependencies and dependents) is about 174,000, a 26 MB answer that holds the
 * process for seconds: refused, as is every component with its dependencies at depth 10.
 */
export const GRAPHQL_MAX_OBJECTS = 100_000;
/** Parsed and validated documents kept, by query text. */
export const GRAPHQL_DOCUMENT_CACHE = 200;

export interface GraphqlOptions {
  readonly workspace: Workspace;
  /** The service's rollouts (karma serve); absent: `rollouts` is empty and `rollout(id)` an error. */
  readonly rollouts?: Pick<ServiceEndpoints['rollouts'], 'get' | 'list'>;
  /** Told about every unexpected error (INTERNAL): the answer says only its kind. */
  readonly onError?: (error: unknown) => void;
  /** Objects one request may resolve (default GRAPHQL_MAX_OBJECTS). */
  readonly maxObjects?: number;
}

export interface GraphqlRequest {
  readonly query: string;
  readonly variables?: Record<string, unknown>;
  readonly operationName?: string;
}

/** The JSON of an answer: `data` when execution started, `errors` when there are any. */
export interface ExecutionResultJson {
  readonly data?: Record<string, unknown> | null;
  readonly errors?: readonly GraphQLFormattedError[];
}

export interface GraphqlAnswer {
  readonly status: number;
  readonly body: ExecutionResultJson;
}

// ------------------------------------------------------------------------------------------------- the schema

/** Status words ↔ GraphQL enum values: `never-applied` ↔ `NEVER_APPLIED`. */
const statusEnum = (status: Status): string => status.toUpperCase().replace(/-/g, '_');
const statusWord = (value: string): Status => value.toLowerCase().replace(/_/g, '-') as Status;

/** What a Component field resolves from: the request's build and the deployment's key. */
interface ComponentRef {
  readonly current: Current;
  readonly env: string;
  readonly component: string;
}

interface OutputRef extends OutputView {
  readonly current: Current;
}

/** Per request: the build (read once), the budget of objects. */
interface RequestContext {
  readonly current: () => Promise<Current>;
  readonly spend: (objects: number) => void;
  readonly options: GraphqlOptions;
}

type Resolver<P = unknown> = GraphQLFieldResolver<P, RequestContext, Record<string, unknown>>;

const TOO_COSTLY = 'QUERY_TOO_COSTLY';

/**
 * componentView reads the whole snapshot (every vertex and edge) for one component: fine for one GET, too slow for
 * every component of a large graph. It is called here on the component's slice of the snapshot instead: the edges
 * at the component and at each output it produces, and their ends, which is all componentView reads about it (a
 * unit test compares the two on every deployment of the example). The index is made once per snapshot.
 */
interface SnapshotIndex {
  readonly vertices: ReadonlyMap<string, GraphElement>;
  readonly edgesAt: ReadonlyMap<string, readonly GraphElement[]>;
  readonly views: Map<string, ComponentView>;
}
const indexes = new WeakMap<GraphSnapshot, SnapshotIndex>();

function indexOf(snapshot: GraphSnapshot): SnapshotIndex {
  let index = indexes.get(snapshot);
  if (index) return index;
  const edgesAt = new Map<string, GraphElement[]>();
  const at = (id: string, e: GraphElement): void => {
    const list = edgesAt.get(id);
    if (list) list.push(e);
    else edgesAt.set(id, [e]);
  };
  for (const e of snapshot.edges) {
    at(e.from!, e);
    if (e.to !== e.from) at(e.to!, e);
  }
  index = { vertices: new Map(snapshot.vertices.map((v) => [v.id, v])), edgesAt, views: new Map() };
  indexes.set(snapshot, index);
  return index;
}

/** The slice of the snapshot componentView reads for one component. */
export function componentSlice(snapshot: GraphSnapshot, env: string, component: string): GraphSnapshot {
  const index = indexOf(snapshot);
  const id = componentId(env, component);
  const edges = new Set(index.edgesAt.get(id) ?? []);
  for (const e of index.edgesAt.get(id) ?? []) {
    if (e.label === 'PRODUCES' && e.from === id) for (const f of index.edgesAt.get(e.to!) ?? []) edges.add(f);
  }
  const ids = new Set<string>([id]);
  for (const e of edges) ids.add(e.from!).add(e.to!);
  const vertices: GraphElement[] = [];
  for (const v of ids) {
    const vertex = index.vertices.get(v);
    if (vertex) vertices.push(vertex);
  }
  return { meta: snapshot.meta, vertices, edges: [...edges] };
}

/** componentView of one deployment, kept with the snapshot (a build is shared by every request until the next). */
function viewOf(current: Current, env: string, component: string): ComponentView {
  const index = indexOf(current.snapshot);
  const key = deploymentKey(env, component);
  let view = index.views.get(key);
  if (!view) {
    view = componentView(current.build, componentSlice(current.snapshot, env, component), env, component);
    index.views.set(key, view);
  }
  return view;
}

function statusOf(ref: ComponentRef): ComponentStatus {
  return ref.current.build.statuses.get(deploymentKey(ref.env, ref.component))!;
}

/** A `depth` argument; null (given explicitly) is the default. */
function depthArg(value: unknown, byDefault: number): number {
  const depth = (value as number | null | undefined) ?? byDefault;
  if (depth !== Infinity && (depth < 0 || depth > MAX_DEPTH)) throw new UsageError(`depth must be an integer from 0 to ${MAX_DEPTH}, got ${depth}`);
  return depth;
}

function limitArg(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  const limit = value as number;
  if (limit < 1 || limit > GRAPHQL_MAX_PAGE) throw new UsageError(`limit must be an integer from 1 to ${GRAPHQL_MAX_PAGE}, got ${limit}`);
  return limit;
}

/**
 * The deployments `depth` hops away along dependsOn (or dependents), nearest first, each hop by env/name; each
 * one visited counts against the request's budget.
 */
function walk(ctx: RequestContext, ref: ComponentRef, depth: number, next: (view: ComponentView) => readonly string[]): ComponentRef[] {
  const seen = new Set([deploymentKey(ref.env, ref.component)]);
  const found: ComponentRef[] = [];
  let frontier = [ref];
  for (let d = 0; d < depth && frontier.length > 0; d++) {
    const hop: ComponentRef[] = [];
    for (const from of frontier) {
      for (const key of next(viewOf(ref.current, from.env, from.component))) {
        if (seen.has(key)) continue;
        seen.add(key);
        const status = ref.current.build.statuses.get(key);
        if (status) hop.push({ current: ref.current, env: status.env, component: status.component });
      }
    }
    ctx.spend(hop.length);
    hop.sort((a, b) => deploymentKey(a.env, a.component).localeCompare(deploymentKey(b.env, b.component)));
    found.push(...hop);
    frontier = hop;
  }
  return found;
}

const resolvers: Record<string, Record<string, Resolver<never>>> = {
  Query: {
    environments: async (_root, _args, ctx) => {
      const current = await ctx.current();
      return [...current.build.config.project.environments.values()].sort((a, b) => a.name.localeCompare(b.name)).map((e) => ({ ...e, current }));
    },
    environment: async (_root, args, ctx) => {
      const current = await ctx.current();
      const name = args['name'] as string;
      requireEnvironment(current.build.config, name);
      return { ...current.build.config.project.environments.get(name)!, current };
    },
    component: async (_root, args, ctx) => {
      const current = await ctx.current();
      const [env, component] = [args['env'] as string, args['name'] as string];
      viewOf(current, env, component); // unknown env or component: NotFoundError, with the known names
      ctx.spend(1);
      return { current, env, component } satisfies ComponentRef;
    },
    plan: async (_root, args, ctx) => planView((await ctx.current()).build, args['env'] as string, ((args['mode'] as string | null) ?? 'APPLY').toLowerCase() as 'apply' | 'all' | 'destroy'),
    impact: async (_root, args, ctx) => impactView((await ctx.current()).build, args['env'] as string, args['component'] as string, (args['output'] as string | null) ?? undefined),
    changes: async (_root, args, ctx) => {
      const limit = limitArg(args['limit']);
      return (await ctx.options.workspace.listChanges(limit === undefined ? {} : { limit })).changes;
    },
    change: async (_root, args, ctx) => ctx.options.workspace.getChange(args['id'] as string),
    rollouts: async (_root, args, ctx) => {
      const limit = limitArg(args['limit']);
      if (!ctx.options.rollouts) return [];
      return (await ctx.options.rollouts.list(limit === undefined ? {} : { limit })).map(rolloutView);
    },
    rollout: async (_root, args, ctx) => {
      if (!ctx.options.rollouts) throw new UsageError('rollouts need karma serve: this server keeps none');
      return rolloutView(await ctx.options.rollouts.get(args['id'] as string));
    },
    graphInfo: async (_root, _args, ctx) => {
      const current = await ctx.current();
      return { ...reflects(current.snapshot), buildId: current.buildId };
    },
  },
  Environment: {
    components: (parent: { name: string; current: Current }, args, ctx) => {
      const wanted = args['status'] ? new Set((args['status'] as string[]).map(statusWord)) : undefined;
      const search = typeof args['search'] === 'string' ? args['search'].toLowerCase() : undefined;
      const refs: ComponentRef[] = [];
      for (const s of parent.current.build.statuses.values()) {
        if (s.env !== parent.name) continue;
        if (wanted && !wanted.has(s.status)) continue;
        if (search !== undefined && !s.component.toLowerCase().includes(search)) continue;
        refs.push({ current: parent.current, env: s.env, component: s.component });
      }
      ctx.spend(refs.length);
      return refs.sort((a, b) => a.component.localeCompare(b.component));
    },
  },
  Component: {
    name: (ref: ComponentRef) => ref.component,
    status: (ref: ComponentRef) => statusEnum(statusOf(ref).status),
    reason: (ref: ComponentRef) => statusOf(ref).reason,
    own: (ref: ComponentRef) => statusEnum(statusOf(ref).own),
    ownReason: (ref: ComponentRef) => statusOf(ref).ownReason,
    why: (ref: ComponentRef, args, ctx) => {
      const depth = depthArg(args['depth'], Infinity);
      const chain = viewOf(ref.current, ref.env, ref.component).why.chain.filter((step) => step.depth <= depth);
      ctx.spend(chain.length);
      return chain.map((step: WhyStep) => ('status' in step ? { ...step, status: statusEnum(step.status) } : step));
    },
    description: (ref: ComponentRef) => viewOf(ref.current, ref.env, ref.component).description,
    module: (ref: ComponentRef) => viewOf(ref.current, ref.env, ref.component).module,
    file: (ref: ComponentRef) => viewOf(ref.current, ref.env, ref.component).file,
    configHash: (ref: ComponentRef) => viewOf(ref.current, ref.env, ref.component).configHash,
    dependencies: (ref: ComponentRef, args, ctx) => walk(ctx, ref, depthArg(args['depth'], DEFAULT_DEPTH), (view) => view.dependsOn),
    dependents: (ref: ComponentRef, args, ctx) => walk(ctx, ref, depthArg(args['depth'], DEFAULT_DEPTH), (view) => view.dependents),
    inputs: (ref: ComponentRef) => viewOf(ref.current, ref.env, ref.component).inputs,
    references: (ref: ComponentRef) => viewOf(ref.current, ref.env, ref.component).references,
    outputs: (ref: ComponentRef, _args, ctx): OutputRef[] => {
      const outputs = viewOf(ref.current, ref.env, ref.component).outputs;
      ctx.spend(outputs.length);
      return outputs.map((o) => ({ ...o, current: ref.current }));
    },
    lastApply: (ref: ComponentRef) => viewOf(ref.current, ref.env, ref.component).lastApply,
  },
  Output: {
    consumers: (output: OutputRef, _args, ctx): ComponentRef[] => {
      ctx.spend(output.consumers.length);
      return output.consumers.map((c) => ({ current: output.current, env: c.env, component: c.component }));
    },
  },
};

/** The schema from the SDL with the resolvers above; a resolver for a field the SDL lacks is a bug, said at once. */
export function buildGraphqlSchema(): GraphQLSchema {
  const schema = buildSchema(GRAPHQL_SDL);
  for (const [typeName, fields] of Object.entries(resolvers)) {
    const type = schema.getType(typeName);
    if (!isObjectType(type)) throw new Error(`resolvers for ${typeName}, which the SDL does not define as a type`);
    const defined = type.getFields();
    for (const [field, resolve] of Object.entries(fields)) {
      if (!defined[field]) throw new Error(`a resolver for ${typeName}.${field}, which the SDL does not define`);
      defined[field].resolve = resolve as Resolver;
    }
  }
  return schema;
}

// ------------------------------------------------------------------------------------------------- requests

interface Prepared {
  readonly document?: DocumentNode;
  readonly answer?: GraphqlAnswer;
}

const refuse = (status: number, message: string, code: string): GraphqlAnswer => ({ status, body: { errors: [{ message, extensions: { code } }] } });

/** A small LRU: a Map keeps insertion order, so the first key is the least recently used. */
class Lru<V> {
  private readonly items = new Map<string, V>();
  private readonly size: number;
  constructor(size: number) {
    this.size = size;
  }
  get(key: string): V | undefined {
    const value = this.items.get(key);
    if (value !== undefined) {
      this.items.delete(key);
      this.items.set(key, value);
    }
    return value;
  }
  set(key: string, value: V): void {
    this.items.delete(key);
    this.items.set(key, value);
    if (this.items.size > this.size) this.items.delete(this.items.keys().next().value!);
  }
}

/** graphql-armor reports through these callbacks; its own message starts "Syntax Error:", which it is not. */
function limitRules(): ValidationRule[] {
  const report =
    (code: string, advice: string) =>
    (context: { reportError(error: GraphQLError): void } | null, error: GraphQLError): void => {
      context?.reportError(new GraphQLError(`${error.message.replace(/^Syntax Error: /, '')} ${advice}`, { extensions: { code } }));
    };
  return [
    maxDepthRule({ n: GRAPHQL_MAX_DEPTH, propagateOnRejection: false, onReject: [report('QUERY_TOO_DEEP', 'Ask for less nesting, or in two queries (docs/graphql.md).')] }),
    costLimitRule({
      ...GRAPHQL_COST,
      propagateOnRejection: false,
      onReject: [report(TOO_COSTLY, 'Each nesting level triples the cost: ask for fewer nested lists, or in two queries (docs/graphql.md).')],
    }),
  ];
}

function prepare(schema: GraphQLSchema, rules: readonly ValidationRule[], query: string): Prepared {
  let document: DocumentNode;
  try {
    document = parse(query, { maxTokens: GRAPHQL_MAX_TOKENS });
  } catch (error) {
    const message = error instanceof GraphQLError ? error.message : 'the query does not parse';
    return { answer: { status: 400, body: { errors: [{ message, ...(error instanceof GraphQLError && error.locations ? { locations: error.locations } : {}), extensions: { code: 'GRAPHQL_PARSE_FAILED' } }] } } };
  }
  for (const definition of document.definitions) {
    if (definition.kind === Kind.OPERATION_DEFINITION && definition.operation !== 'query') {
      return { answer: refuse(400, `this GraphQL endpoint is read-only: no ${definition.operation}s (changes go through POST /request-change; live updates through GET /events)`, 'OPERATION_NOT_SUPPORTED') };
    }
  }
  const errors = validate(schema, document, rules);
  if (errors.length > 0) {
    // A limit refused is the answer (the depth first: a query too deep is too costly as well); otherwise every
    // problem the spec's rules found.
    const limit = ['QUERY_TOO_DEEP', TOO_COSTLY].map((code) => errors.filter((e) => e.extensions['code'] === code)).find((found) => found.length > 0);
    const shown = limit ?? errors;
    return { answer: { status: 400, body: { errors: shown.map((e) => (e.extensions['code'] ? e.toJSON() : { ...e.toJSON(), extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } })) } } };
  }
  return { document };
}

/** A resolver's error as the answer says it: Karma errors as REST's problems, anything else by its kind only. */
function formatError(error: GraphQLError, fallbackCode: string, onError?: (error: unknown) => void): GraphQLFormattedError {
  const where = { ...(error.locations ? { locations: error.locations } : {}), ...(error.path ? { path: error.path } : {}) };
  const original = error.originalError;
  if (!original || original instanceof GraphQLError) return { message: error.message, ...where, extensions: { code: fallbackCode, ...error.extensions } };
  const problem = problemOf(original);
  if (problem.status >= 500) onError?.(original);
  const code = { 400: 'BAD_REQUEST', 404: 'NOT_FOUND', 409: 'CONFLICT', 422: 'INVALID', 503: 'UNAVAILABLE' }[problem.status] ?? 'INTERNAL';
  return { message: problem.detail, ...where, extensions: { code, ...(problem.known ? { known: problem.known } : {}) } };
}

/**
 * The GraphQL endpoint as a function of a request: parse (cached), validate with the limits (cached), execute.
 * 400 for a request refused whole (too large, too deep, too costly, invalid, a mutation, bad variables); 200 with
 * `data` and the errors of the fields that failed otherwise.
 */
export function createGraphql(options: GraphqlOptions): (request: GraphqlRequest, hooks?: { readonly onError?: (error: unknown) => void }) => Promise<GraphqlAnswer> {
  const schema = buildGraphqlSchema();
  const rules = [...specifiedRules, ...limitRules()];
  const documents = new Lru<Prepared>(GRAPHQL_DOCUMENT_CACHE);
  const maxObjects = options.maxObjects ?? GRAPHQL_MAX_OBJECTS;

  return async (request, hooks = {}) => {
    const onError = hooks.onError ?? options.onError;
    if (Buffer.byteLength(request.query) > GRAPHQL_MAX_QUERY_BYTES) {
      return refuse(400, `the query is ${Buffer.byteLength(request.query)} bytes; at most ${GRAPHQL_MAX_QUERY_BYTES} are accepted (docs/graphql.md)`, 'QUERY_TOO_LARGE');
    }
    let prepared = documents.get(request.query);
    if (!prepared) documents.set(request.query, (prepared = prepare(schema, rules, request.query)));
    if (prepared.answer) return prepared.answer;

    let current: Promise<Current> | undefined;
    let spent = 0;
    const ctx: RequestContext = {
      options,
      current: () => (current ??= options.workspace.current()),
      spend: (n) => {
        spent += n;
        if (spent > maxObjects) {
          throw new GraphQLError(`the query resolves more than ${maxObjects} objects (components, outputs, why links); filter (components(status:, search:)), lower a depth, or ask in parts (docs/graphql.md)`, {
            extensions: { code: TOO_COSTLY },
          });
        }
      },
    };
    const result = (await execute({
      schema,
      document: prepared.document!,
      contextValue: ctx,
      ...(request.variables ? { variableValues: request.variables } : {}),
      ...(request.operationName ? { operationName: request.operationName } : {}),
    })) as ExecutionResult;
    // No data: the request failed before execution (variables, operation name).
    const started = 'data' in result && result.data !== undefined;
    const errors = result.errors?.map((e) => formatError(e, started ? 'BAD_REQUEST' : 'BAD_USER_INPUT', onError));
    if (!started) return { status: 400, body: { errors: errors ?? [] } };
    // Over the budget: refused whole, like the static limits (partial data of an arbitrary cut would mislead).
    const costly = errors?.find((e) => e.extensions?.['code'] === TOO_COSTLY);
    if (costly) return { status: 400, body: { errors: [costly] } };
    return { status: 200, body: { data: result.data, ...(errors ? { errors } : {}) } };
  };
}

// ------------------------------------------------------------------------------------------------- HTTP

const GraphqlBody = z
  .object({
    query: z.string({ error: 'query must be a string: the GraphQL document' }).min(1, 'query is empty'),
    variables: z.record(z.string(), z.unknown(), { error: 'variables must be a JSON object' }).nullable().optional(),
    operationName: z.string({ error: 'operationName must be a string' }).nullable().optional(),
    // Sent by some clients (persisted-query hashes); not used.
    extensions: z.record(z.string(), z.unknown()).nullable().optional(),
  })
  .strict();

export type ParsedHttpRequest = { readonly ok: true; readonly request: GraphqlRequest } | { readonly ok: false; readonly answer: GraphqlAnswer };

/**
 * A GET (`?query=&variables=&operationName=`) or POST (`application/json`: `{query, variables?, operationName?}`)
 * request as a GraphqlRequest, or the 400 (415 for another content type) that says in one line what is wrong.
 */
export function parseGraphqlHttp(input: { readonly method: string; readonly searchParams: URLSearchParams; readonly contentType?: string | null; readonly body?: string }): ParsedHttpRequest {
  const bad = (message: string, status = 400): ParsedHttpRequest => ({ ok: false, answer: refuse(status, message, 'BAD_REQUEST') });
  let raw: unknown;
  if (input.method === 'GET' || input.method === 'HEAD') {
    const params = input.searchParams;
    const variables = params.get('variables');
    let parsedVariables: unknown;
    if (variables !== null && variables !== '') {
      try {
        parsedVariables = JSON.parse(variables);
      } catch {
        return bad('the variables parameter is not JSON: it must be a JSON object, URL-encoded');
      }
    }
    raw = {
      ...(params.get('query') !== null ? { query: params.get('query') } : {}),
      ...(parsedVariables !== undefined ? { variables: parsedVariables } : {}),
      ...(params.get('operationName') ? { operationName: params.get('operationName') } : {}),
    };
    const unknown = [...new Set(params.keys())].filter((k) => !['query', 'variables', 'operationName', 'extensions'].includes(k));
    if (unknown.length > 0) return bad(`unknown query parameter${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}: GET /graphql takes query, variables and operationName`);
  } else if (input.method === 'POST') {
    const type = (input.contentType ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json') return bad(`POST /graphql takes application/json ({"query": "..."}), not ${type || 'a body without a content type'}`, 415);
    try {
      raw = JSON.parse(input.body ?? '');
    } catch {
      return bad('the body is not JSON: send {"query": "...", "variables": {...}}');
    }
  } else {
    return bad(`/graphql answers GET and POST, not ${input.method}`, 405);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return bad('the body must be a JSON object: {"query": "...", "variables": {...}} (batches are not accepted)');
  if (!('query' in raw)) return bad('query is missing: the GraphQL document, as the query parameter (GET) or field (POST)');
  const parsed = GraphqlBody.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return bad(issue.code === 'unrecognized_keys' ? `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}: the body takes query, variables and operationName` : issue.message);
  }
  const { query, variables, operationName } = parsed.data;
  return { ok: true, request: { query, ...(variables ? { variables } : {}), ...(operationName ? { operationName } : {}) } };
}

/**
 * The Hono handler for GET and POST /graphql. Mount it behind the `read` role (the SERVICE_ROUTES entries) and
 * the body limit, e.g. `app.on(['GET', 'POST'], '/graphql', graphqlHandler({ workspace, rollouts }))`. `onError`
 * is told about each unexpected error with the request's context (createApi's onError has this shape).
 */
export function graphqlHandler(options: Omit<GraphqlOptions, 'onError'> & { readonly onError?: (error: unknown, c: Context) => void }): (c: Context) => Promise<Response> {
  const { onError, ...rest } = options;
  const graphql = createGraphql(rest);
  return async (c) => {
    const url = new URL(c.req.url);
    const parsed = parseGraphqlHttp({
      method: c.req.method,
      searchParams: url.searchParams,
      contentType: c.req.header('content-type') ?? null,
      ...(c.req.method === 'POST' ? { body: await c.req.text() } : {}),
    });
    const answer = parsed.ok ? await graphql(parsed.request, onError ? { onError: (error) => onError(error, c) } : {}) : parsed.answer;
    return c.json(answer.body, answer.status as 200);
  };
}
