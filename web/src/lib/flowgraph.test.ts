import { describe, expect, it } from 'vitest';
import type { Connector, Mapping, StatusEntry } from '../api/types';
import { buildFlowGraph, COLUMN_WIDTH } from './flowgraph';

const t = '2026-11-21T09:15:00.000Z';
const connector = (id: string, kind: Connector['kind'], settings: Connector['settings'] = {}, enabled = true): Connector => ({
  id, kind, name: id, description: '', enabled, settings, version: 1, created_at: t, updated_at: t,
});
const mapping = (id: string, topic: string): Mapping => ({
  id, name: id, description: '', topic, points: [], version: 1, created_at: t, updated_at: t,
});
const status = (id: string, kind: string, s: StatusEntry['status'], enabled: boolean | null = true): StatusEntry => ({
  id, kind, name: id, enabled, managed: true, status: s,
});

describe('flow-graph building', () => {
  const input = {
    connectors: [
      connector('in-1', 'iec104-inbound', { host: '10.1.2.3', port: 2404 }),
      connector('mqtt-1', 'mqtt', { broker: { host: 'mosquitto' } }),
      connector('srv-1', 'iec104-server'),
      connector('mqtt-off', 'mqtt', {}, false),
    ],
    status: [
      status('in-1', 'iec104-inbound', { state: 'connected', remote: '10.1.2.3:2404', valkey: { connected: true } }),
      status('mqtt-1', 'mqtt', { state: 'connecting', remote: 'mosquitto:1883', valkey: { connected: true } }),
      status('srv-1', 'iec104-server', { state: 'listening', masters: ['10.9.9.9:50000'], valkey_connected: true }),
    ],
    mappings: [mapping('m1', 'sensors/+/climate'), mapping('m2', 'sensors/+/climate'), mapping('m3', 'door')],
    links: { 'mqtt-1': ['m1', 'm2', 'm3', 'gone'] },
  };

  it('draws sources, connectors, Valkey, servers and masters in five columns', () => {
    const { nodes } = buildFlowGraph(input);
    const col = (c: number) => nodes.filter((n) => n.column === c).map((n) => n.id).sort();
    expect(col(0)).toEqual(['rtu:in-1', 'topic:mosquitto:1883|door', 'topic:mosquitto:1883|sensors/+/climate']);
    expect(col(1)).toEqual(['connector:in-1', 'connector:mqtt-1', 'connector:mqtt-off']);
    expect(col(2)).toEqual(['valkey']);
    expect(col(3)).toEqual(['connector:srv-1']);
    expect(col(4)).toEqual(['master:srv-1|10.9.9.9:50000']);
    expect(nodes.every((n) => n.position.x === n.column * COLUMN_WIDTH)).toBe(true);
  });

  it('joins them with edges along the data flow, one topic node per topic and broker', () => {
    const { edges } = buildFlowGraph(input);
    expect(edges.map((e) => e.id).sort()).toEqual([
      'connector:in-1->valkey',
      'connector:mqtt-1->valkey',
      'connector:mqtt-off->valkey',
      'connector:srv-1->master:srv-1|10.9.9.9:50000',
      'rtu:in-1->connector:in-1',
      'topic:mosquitto:1883|door->connector:mqtt-1',
      'topic:mosquitto:1883|sensors/+/climate->connector:mqtt-1',
      'valkey->connector:srv-1',
    ]);
  });

  it('colours each node by its live status and links it to its page', () => {
    const { nodes, edges } = buildFlowGraph(input);
    const n = (id: string) => nodes.find((x) => x.id === id)!;
    expect(n('connector:in-1').tone).toBe('ok');
    expect(n('rtu:in-1').label).toBe('RTU 10.1.2.3:2404');
    expect(n('connector:mqtt-1').tone).toBe('warn');
    expect(n('connector:mqtt-off').tone).toBe('off');
    expect(n('connector:srv-1').tone).toBe('ok');
    expect(n('valkey').tone).toBe('ok');
    expect(n('connector:in-1').href).toBe('/connectors/in-1');
    expect(n('topic:mosquitto:1883|door').href).toBe('/mappings/m3');
    expect(n('valkey').href).toBe('/points');
    expect(edges.find((e) => e.id === 'rtu:in-1->connector:in-1')!.live).toBe(true);
    expect(edges.find((e) => e.id === 'connector:mqtt-1->valkey')!.live).toBe(false);
  });

  it('shows a connector with a status but no row in the database, and one without a status as down', () => {
    const { nodes } = buildFlowGraph({
      connectors: [connector('in-2', 'iec104-inbound', { host: 'rtu' })],
      status: [{ id: 'adhoc', kind: 'iec104-inbound', name: null, enabled: null, managed: false, status: { state: 'connected', remote: '1.2.3.4:2404' } }],
      mappings: [],
      links: {},
    });
    const n = (id: string) => nodes.find((x) => x.id === id)!;
    expect(n('connector:adhoc').tone).toBe('ok');
    expect(n('connector:in-2').tone).toBe('down');
    expect(n('rtu:in-2').label).toBe('RTU rtu:2404');
    expect(n('valkey').tone).toBe('unknown');
  });
});
