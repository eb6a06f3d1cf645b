// The shapes of the backend's API v1 (docs/backend.md, docs/contract.md).

export type Role = 'admin' | 'engineer' | 'reader';
export type Kind = 'iec104-inbound' | 'iec104-server' | 'mqtt';

export interface Me {
  user: string;
  role: Role | null;
}

export interface UiConfig {
  issuer: string | null;
  client_id: string | null;
  scope: string | null;
  /** The resource indicator (RFC 8707) to name, for issuers that need one. */
  resource?: string | null;
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface Connector {
  id: string;
  kind: Kind;
  name: string;
  description: string;
  enabled: boolean;
  settings: JsonObject;
  version: number;
  created_at: string;
  updated_at: string;
}

export type SettingType = 'string' | 'integer' | 'number' | 'boolean' | 'enum' | 'list' | 'object';

export interface SettingSchema {
  key: string;
  type: SettingType;
  default?: Json;
  min?: number | null;
  max?: number | null;
  values?: Json[] | null;
  doc?: string;
}

export interface KindSchema {
  kind: Kind;
  settings: SettingSchema[];
}

export interface Deadband {
  absolute?: number;
  percent?: number;
}

export interface MappingPoint {
  casdu: number;
  ioa: number;
  type: string | number;
  value: string;
  time?: string;
  time_format?: 'rfc3339' | 'unix_s' | 'unix_ms';
  scale?: number;
  offset?: number;
  deadband?: Deadband;
  map?: { [word: string]: Json };
  invert?: boolean;
  quality?: { path: string; good: Json[] };
  silence_timeout?: number;
}

export interface Mapping {
  id: string;
  name: string;
  description: string;
  topic: string;
  match?: { [path: string]: Json };
  points: MappingPoint[];
  silence_timeout?: number;
  version: number;
  created_at: string;
  updated_at: string;
}

export type MappingBody = Omit<Mapping, 'version' | 'created_at' | 'updated_at'>;

export interface Quality {
  iv: boolean;
  nt: boolean;
  sb: boolean;
  bl: boolean;
  ov: boolean;
}

export interface DataPoint {
  casdu: number;
  ioa: number;
  type_id: number;
  type: string;
  value: Json;
  quality: Quality;
  time: string | null;
  cot: number;
  source: string;
  received: string;
  [extra: string]: Json | Quality | undefined;
}

export interface DryRunResult {
  /** The sample's topic matches the mapping's filter. */
  topic_matched?: boolean;
  /** ... and its `match` holds: the mapping takes the message. */
  matched: boolean;
  points: DataPoint[];
  errors: { casdu: number; ioa: number; kind?: string; error: string }[];
}

export interface Links {
  mappings: string[];
  version: number;
}

export interface Push {
  pending: boolean;
  since: string | null;
  attempts: number;
  last_error: string | null;
}

export interface EffectiveConfig {
  connector: string;
  n: number;
  config: JsonObject;
  enabled: boolean;
  push: Push;
}

/** A connector's status as it writes it to Valkey (docs/contract.md). */
export interface ConnectorStatus {
  id?: string;
  kind?: string;
  version?: string;
  state?: string;
  remote?: string | null;
  since?: string | null;
  last_error?: string | null;
  config_error?: string | null;
  points_received?: number;
  reconnects?: number;
  masters?: string[];
  listen?: string;
  [extra: string]: Json | undefined;
}

export interface StatusEntry {
  id: string;
  kind: Kind | string;
  name: string | null;
  enabled: boolean | null;
  managed: boolean;
  status: ConnectorStatus | null;
}

export interface VersionSummary {
  n: number;
  actor: string;
  created_at: string;
}

export type PatchOp =
  | { op: 'add'; path: string; value: Json }
  | { op: 'remove'; path: string }
  | { op: 'replace'; path: string; value: Json };

export interface VersionDetail extends VersionSummary {
  config: JsonObject;
  previous: number | null;
  diff: PatchOp[];
}

export interface PointsPage {
  points: DataPoint[];
  next_cursor: string | null;
}

export interface AddressRange {
  casdu: number;
  ioa_from: number;
  ioa_to: number;
  connector: string;
  mapping: string | null;
}

export interface AuditEntry {
  id: number | string;
  at: string;
  actor: string;
  action: 'create' | 'update' | 'delete' | 'link' | 'restore';
  entity: 'connector' | 'mapping';
  entity_id: string;
  before: Json;
  after: Json;
}

/** RFC 9457 problem details, with this API's extensions. */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  field?: string;
  current_version?: number;
  owners?: { connector: string; mapping: string | null }[];
  casdu?: number;
  ioa?: number;
  [extra: string]: unknown;
}
