import { describe, expect, it } from 'vitest';
import type { SettingSchema } from '../api/types';
import { fieldsOf, groupFields, parseField, settingsFromValues, valuesFromSettings } from './formgen';

const mqtt: SettingSchema[] = [
  { key: 'log_level', type: 'enum', default: 'info', values: ['trace', 'debug', 'info', 'warning', 'error', 'critical', 'off'], doc: 'log level' },
  { key: 'broker.host', type: 'string', default: '127.0.0.1', doc: 'broker host' },
  { key: 'broker.port', type: 'integer', default: 1883, min: 1, max: 65535, doc: 'broker port' },
  { key: 'broker.tls', type: 'boolean', default: false, doc: 'TLS' },
  { key: 'silence_timeout', type: 'integer', default: 0, min: 0, max: 31536000, doc: 'seconds' },
];

describe('form generation from a kind settings', () => {
  it('makes one field per setting with its default as the placeholder and its section', () => {
    const f = fieldsOf(mqtt);
    expect(f.map((x) => [x.key, x.placeholder, x.group])).toEqual([
      ['log_level', 'info', ''],
      ['broker.host', '127.0.0.1', 'broker'],
      ['broker.port', '1883', 'broker'],
      ['broker.tls', 'false', 'broker'],
      ['silence_timeout', '0', ''],
    ]);
    expect(groupFields(f).map((g) => [g.group, g.fields.length])).toEqual([
      ['', 2],
      ['broker', 3],
    ]);
  });

  it('fills the fields from nested settings and leaves the unset ones empty', () => {
    const v = valuesFromSettings(fieldsOf(mqtt), { broker: { host: 'mosquitto', tls: true } });
    expect(v).toEqual({ log_level: '', 'broker.host': 'mosquitto', 'broker.port': '', 'broker.tls': 'true', silence_timeout: '' });
  });

  it('nests the dotted keys, leaves empty fields out and keeps keys the schema does not know', () => {
    const f = fieldsOf(mqtt);
    const { settings, errors } = settingsFromValues(
      f,
      { log_level: 'debug', 'broker.host': 'mosquitto', 'broker.port': '8883', 'broker.tls': '', silence_timeout: '' },
      { broker: { host: 'old', tls: true }, extra: 1 },
    );
    expect(errors).toEqual({});
    expect(settings).toEqual({ log_level: 'debug', broker: { host: 'mosquitto', port: 8883 }, extra: 1 });
  });

  it('removes a section left empty', () => {
    const { settings } = settingsFromValues(fieldsOf(mqtt), { 'broker.host': '' }, { broker: { host: 'x' } });
    expect(settings).toEqual({});
  });

  it('refuses an integer outside its range naming the range', () => {
    const { errors } = settingsFromValues(fieldsOf(mqtt), { 'broker.port': '70000' });
    expect(errors).toEqual({ 'broker.port': 'must be in 1..=65535' });
    expect(parseField(fieldsOf(mqtt)[2]!, '12.5')).toEqual({ error: 'must be a whole number' });
  });

  it('refuses an enum value that is not one of the allowed', () => {
    expect(parseField(fieldsOf(mqtt)[0]!, 'loud')).toEqual({ error: 'must be one of trace, debug, info, warning, error, critical, off' });
  });

  it('reads a list as comma separated items, numbers when the default holds numbers', () => {
    const [ca, hosts] = fieldsOf([
      { key: 'common_addresses', type: 'list', default: [1], min: 1, max: 65534 },
      { key: 'alternative_hosts', type: 'list', default: [] },
    ]);
    expect(parseField(ca!, '1, 2,3')).toEqual({ value: [1, 2, 3] });
    expect(parseField(ca!, '0')).toEqual({ error: 'every item must be in 1..=65534' });
    expect(parseField(hosts!, 'a.example:2404, 10.0.0.2')).toEqual({ value: ['a.example:2404', '10.0.0.2'] });
    expect(parseField(hosts!, '["x"]')).toEqual({ value: ['x'] });
  });

  it('reads an object as JSON and names a syntax error', () => {
    const [groups] = fieldsOf([{ key: 'groups', type: 'object', default: {} }]);
    expect(parseField(groups!, '{"1": [1, 2]}')).toEqual({ value: { '1': [1, 2] } });
    expect(parseField(groups!, '{nope')).toEqual({ error: 'is not valid JSON' });
    expect(parseField(groups!, '[1]')).toEqual({ error: 'must be a JSON object' });
  });

  it('reads the API null for no range and no values, and a string with values as a choice', () => {
    const [level, host] = fieldsOf([
      { key: 'log_level', type: 'string', default: 'info', min: null, max: null, values: ['debug', 'info'], doc: '' },
      { key: 'broker.host', type: 'string', default: '127.0.0.1', min: null, max: null, values: null, doc: '' },
    ]);
    expect(level!.type).toBe('enum');
    expect(parseField(level!, 'loud')).toEqual({ error: 'must be one of debug, info' });
    expect(host!.type).toBe('string');
    expect([host!.min, host!.max, host!.values]).toEqual([undefined, undefined, undefined]);
    const [port] = fieldsOf([{ key: 'port', type: 'integer', default: 2404, min: 1, max: null, doc: '' }]);
    expect(parseField(port!, '70000')).toEqual({ value: 70000 });
    expect(parseField(port!, '0')).toEqual({ error: 'must be in 1..=' });
  });
});
