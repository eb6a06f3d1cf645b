import { describe, expect, it } from 'vitest';
import { fieldOfProblem, pointFieldOfProblem, problemMessage, splitField, staleMessage } from './problem';

describe('problem+json field errors', () => {
  it('splits dotted and indexed field paths', () => {
    expect(splitField('settings.broker.port')).toEqual(['settings', 'broker', 'port']);
    expect(splitField('points[0].ioa')).toEqual(['points', 0, 'ioa']);
    expect(splitField('match["$.device"]')).toEqual(['match', '$.device']);
  });

  it('maps settings.<key> onto the form field of that key', () => {
    const keys = ['broker.host', 'broker.port', 't1'];
    expect(fieldOfProblem({ status: 422, field: 'settings.broker.port' }, keys, 'settings.')).toBe('broker.port');
    expect(fieldOfProblem({ status: 422, field: 'settings.t1' }, keys, 'settings.')).toBe('t1');
  });

  it('maps an error inside a list to the list field', () => {
    expect(fieldOfProblem({ field: 'settings.common_addresses[2]' }, ['common_addresses'], 'settings.')).toBe('common_addresses');
  });

  it('gives no field for a problem without one, outside the prefix, or naming an unknown key', () => {
    expect(fieldOfProblem({ status: 500 }, ['a'], 'settings.')).toBeNull();
    expect(fieldOfProblem({ field: 'name' }, ['name'], 'settings.')).toBeNull();
    expect(fieldOfProblem({ field: 'name' }, ['name'])).toBe('name');
    expect(fieldOfProblem({ field: 'settings.nope' }, ['a'], 'settings.')).toBeNull();
  });

  it('maps points[n].column onto the row and column of the points table', () => {
    expect(pointFieldOfProblem({ field: 'points[3].ioa' })).toEqual({ row: 3, column: 'ioa' });
    expect(pointFieldOfProblem({ field: 'points[1]' })).toEqual({ row: 1, column: 'row' });
    expect(pointFieldOfProblem({ field: 'topic' })).toBeNull();
  });

  it('says the detail, else the title, else the status', () => {
    expect(problemMessage({ title: 'Conflict', detail: 'address taken' })).toBe('address taken');
    expect(problemMessage({ title: 'Conflict' })).toBe('Conflict');
    expect(problemMessage(null, 502)).toBe('The request failed (HTTP 502)');
  });

  it('names the current version in the message of a stale write', () => {
    expect(staleMessage({ status: 412, current_version: 7 })).toContain('version 7');
  });
});
