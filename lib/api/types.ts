/**
 * What a client of the HTTP API sees, as TypeScript types: the answers of each route (inferred from the zod
 * schemas the routes validate against, so they cannot drift from the server) and the events of GET /events. The
 * web UI (web/) imports only this file — types, plus what every picture of the graph shares (DOT, Mermaid and
 * the UI): the status names and colours, and an edge's label.
 */
import type { z } from '@hono/zod-openapi';
import type * as S from './schemas.ts';

export { SERVICE_EVENT_TYPES, type ServiceEvent, type ServiceEventType } from '../app/events.ts';
export { STATUS_COLOURS, STATUSES, type Status } from '../core/status-names.ts';
export { edgeLabel } from '../core/graph-text.ts';

export type Environments = z.infer<typeof S.Environments>;
export type Picture = z.infer<typeof S.Picture>;
export type EnvironmentOrder = z.infer<typeof S.EnvironmentOrder>;
export type Impact = z.infer<typeof S.Impact>;
export type ComponentDetails = z.infer<typeof S.Component>;
export type Why = z.infer<typeof S.Why>;
export type Proposed = z.infer<typeof S.Proposed>;
export type PlanOutcome = z.infer<typeof S.PlanOutcome>;
export type Change = z.infer<typeof S.Change>;
export type Changes = z.infer<typeof S.Changes>;
export type ChangeStatus = Change['status'];
export type ApplyStarted = z.infer<typeof S.ApplyStarted>;
export type Rollout = z.infer<typeof S.Rollout>;
export type Rollouts = z.infer<typeof S.Rollouts>;
export type RolloutStep = z.infer<typeof S.RolloutStep>;
export type Problem = z.infer<typeof S.Problem>;
export type Health = z.infer<typeof S.Health>;
export type RequestChange = z.infer<typeof S.RequestChangeBody>;
