// The UI's view of the API checked against the API's own document at
// compile time: `openapi.d.ts` is generated (openapi-typescript) from
// `openapi.json`, the backend's `GET /api/openapi.json` as committed, which
// the end-to-end tests compare with what the backend serves. Each line
// below fails to compile when a field the UI reads is not in the shape the
// backend declares (renamed or removed). Types are not compared: the
// document marks every Option as optional and nullable and has plain
// strings where the UI knows the few values.

import type { components } from './openapi';
import type * as T from './types';

type S = components['schemas'];
/** `never` when every field of `Ours` is declared in `Theirs`, else the missing ones. */
type Missing<Ours, Theirs> = Exclude<keyof Ours, keyof Theirs>;
type None<M extends never> = M;

export type ContractChecks = [
  None<Missing<T.Connector, S['ConnectorOut']>>,
  None<Missing<T.Mapping, S['MappingDoc']>>,
  None<Missing<T.KindSchema, S['Kind']>>,
  None<Missing<T.SettingSchema, S['KindSetting']>>,
  None<Missing<T.Links, S['Links']>>,
  None<Missing<T.EffectiveConfig, S['EffectiveConfig']>>,
  None<Missing<T.StatusEntry, S['StatusItem']>>,
  None<Missing<T.VersionSummary, S['VersionItem']>>,
  None<Missing<T.VersionDetail, S['VersionDetail']>>,
  None<Missing<T.PointsPage, S['PointsPage']>>,
  None<Missing<T.AuditEntry, S['AuditItem']>>,
  None<Missing<T.DryRunResult, S['DryRunOut']>>,
  None<Missing<T.Me, S['Me']>>,
  None<Missing<T.UiConfig, S['UiConfig']>>,
];
