// The data-flow graph: sources (RTUs, MQTT topics) → connectors → Valkey →
// IEC 104 servers → the SCADA masters connected to them, each node with the
// tone of its live status and the page it links to.

import type { Connector, Json, Mapping, StatusEntry } from '../api/types';
import { toneOf, type Tone } from './status';

export type Column = 0 | 1 | 2 | 3 | 4;
export const COLUMN_TITLES = ['Sources', 'Connectors', 'Process image', 'IEC 104 servers', 'SCADA masters'] as const;

export interface FlowNode {
  id: string;
  column: Column;
  kind: 'rtu' | 'topic' | 'connector' | 'valkey' | 'server' | 'master';
  label: string;
  detail: string;
  tone: Tone | 'unknown';
  href: string;
  position: { x: number; y: number };
}

export interface FlowEdge {
  id: string;
  source: string;
  target: string;
  tone: Tone | 'unknown';
  /** Data is flowing (both ends up). */
  live: boolean;
}

export interface FlowInput {
  connectors: Connector[];
  status: StatusEntry[];
  mappings: Mapping[];
  /** The linked mapping ids of each MQTT connector. */
  links: Record<string, string[]>;
}

export const COLUMN_WIDTH = 250;
export const ROW_HEIGHT = 90;

function str(v: Json | undefined): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

function num(v: Json | undefined): number | null {
  return typeof v === 'number' ? v : null;
}

function objectAt(v: Json | undefined): { [k: string]: Json } | null {
  return v !== null && v !== undefined && typeof v === 'object' && !Array.isArray(v) ? v : null;
}

function hostPort(host: string | null, port: number | null, fallbackPort: number): string | null {
  if (!host) return null;
  return `${host}:${port ?? fallbackPort}`;
}

/** Whether a status reports its Valkey connection up (true/false) or says nothing (null). */
function valkeyUp(entry: StatusEntry): boolean | null {
  const s = entry.status;
  if (!s) return null;
  const v = objectAt(s.valkey);
  if (v && typeof v.connected === 'boolean') return v.connected;
  if (typeof s.valkey_connected === 'boolean') return s.valkey_connected;
  return null;
}

export function buildFlowGraph(input: FlowInput): { nodes: FlowNode[]; edges: FlowEdge[] } {
  const byId = new Map<string, StatusEntry>();
  for (const c of input.connectors)
    byId.set(c.id, { id: c.id, kind: c.kind, name: c.name, enabled: c.enabled, managed: true, status: null });
  for (const s of input.status) {
    const known = byId.get(s.id);
    byId.set(s.id, known ? { ...known, status: s.status, enabled: s.enabled ?? known.enabled } : s);
  }
  const settingsOf = new Map(input.connectors.map((c) => [c.id, c.settings]));
  const mappingById = new Map(input.mappings.map((m) => [m.id, m]));
  const entries = [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));

  const nodes = new Map<string, FlowNode>();
  const edges: FlowEdge[] = [];
  const add = (n: Omit<FlowNode, 'position'>) => {
    if (!nodes.has(n.id)) nodes.set(n.id, { ...n, position: { x: 0, y: 0 } });
    return n.id;
  };
  const edge = (source: string, target: string, tone: Tone | 'unknown') => {
    const id = `${source}->${target}`;
    if (!edges.some((e) => e.id === id)) edges.push({ id, source, target, tone, live: tone === 'ok' });
  };

  const writers = entries.filter((e) => e.kind !== 'iec104-server');
  const servers = entries.filter((e) => e.kind === 'iec104-server');

  // Valkey's tone: what the connectors report of their connection to it.
  const reports = entries.map(valkeyUp).filter((v): v is boolean => v !== null);
  const valkeyTone: Tone | 'unknown' =
    reports.length === 0 ? 'unknown' : reports.every((v) => v) ? 'ok' : reports.some((v) => v) ? 'warn' : 'down';
  const valkey = add({
    id: 'valkey',
    column: 2,
    kind: 'valkey',
    label: 'Valkey',
    detail: 'process image',
    tone: valkeyTone,
    href: '/points',
  });

  for (const e of writers) {
    const tone = toneOf(e);
    const settings = settingsOf.get(e.id) ?? {};
    const cid = add({
      id: `connector:${e.id}`,
      column: 1,
      kind: 'connector',
      label: e.name ?? e.id,
      detail: `${e.kind} · ${e.enabled === false ? 'disabled' : (e.status?.state ?? 'no status')}`,
      tone,
      href: `/connectors/${encodeURIComponent(e.id)}`,
    });
    edge(cid, valkey, tone);
    if (e.kind === 'iec104-inbound') {
      const remote = str(e.status?.remote) ?? hostPort(str(settings.host), num(settings.port), 2404) ?? 'RTU';
      const rid = add({
        id: `rtu:${e.id}`,
        column: 0,
        kind: 'rtu',
        label: `RTU ${remote}`,
        detail: 'IEC 104 controlled station',
        tone,
        href: `/connectors/${encodeURIComponent(e.id)}`,
      });
      edge(rid, cid, tone);
    } else if (e.kind === 'mqtt') {
      const broker = objectAt(settings.broker);
      const brokerKey = str(e.status?.remote) ?? hostPort(str(broker?.host), num(broker?.port), 1883) ?? e.id;
      for (const mid of input.links[e.id] ?? []) {
        const m = mappingById.get(mid);
        if (!m) continue;
        const tid = add({
          id: `topic:${brokerKey}|${m.topic}`,
          column: 0,
          kind: 'topic',
          label: m.topic,
          detail: `MQTT topic on ${brokerKey}`,
          tone,
          href: `/mappings/${encodeURIComponent(m.id)}`,
        });
        edge(tid, cid, tone);
      }
    }
  }

  for (const e of servers) {
    const tone = toneOf(e);
    const sid = add({
      id: `connector:${e.id}`,
      column: 3,
      kind: 'server',
      label: e.name ?? e.id,
      detail: `iec104-server · ${e.enabled === false ? 'disabled' : (e.status?.state ?? 'no status')}${e.status?.listen ? ` · ${e.status.listen}` : ''}`,
      tone,
      href: `/connectors/${encodeURIComponent(e.id)}`,
    });
    edge(valkey, sid, tone);
    const masters = Array.isArray(e.status?.masters) ? e.status.masters : [];
    for (const m of masters) {
      if (typeof m !== 'string') continue;
      const mid = add({
        id: `master:${e.id}|${m}`,
        column: 4,
        kind: 'master',
        label: m,
        detail: 'SCADA master',
        tone: tone === 'ok' ? 'ok' : 'unknown',
        href: `/connectors/${encodeURIComponent(e.id)}`,
      });
      edge(sid, mid, tone);
    }
  }

  // Layout: one column per stage, each column centred on the tallest.
  const list = [...nodes.values()];
  const counts = [0, 1, 2, 3, 4].map((c) => list.filter((n) => n.column === c).length);
  const tallest = Math.max(1, ...counts);
  const seen = [0, 0, 0, 0, 0];
  for (const n of list) {
    const row = seen[n.column] ?? 0;
    seen[n.column] = row + 1;
    const offset = ((tallest - (counts[n.column] ?? 0)) * ROW_HEIGHT) / 2;
    n.position = { x: n.column * COLUMN_WIDTH, y: offset + row * ROW_HEIGHT };
  }
  return { nodes: list, edges };
}
