import { describe, expect, it } from 'vitest';
import type { MappingBody } from '../api/types';
import { emptyPoint, formFromMapping, mappingFromForm } from './mappingform';

describe('the mapping editor form', () => {
  const mapping: MappingBody = {
    id: 'ss-01-climate',
    name: 'Climate',
    description: '',
    topic: 'substations/ss-01/climate/+',
    match: { '$.device': 'ts-1' },
    silence_timeout: 60,
    points: [
      { casdu: 101, ioa: 1, type: 'M_ME_TF_1', value: '$.temperature', time: '$.ts', deadband: { absolute: 0.1 }, quality: { path: '$.status', good: ['ok'] } },
      { casdu: 101, ioa: 10, type: 'M_SP_TB_1', value: '$.door', map: { open: true, closed: false }, invert: true, time_format: 'unix_ms', scale: 2, offset: -1 },
    ],
  };

  it('reads a mapping back unchanged through the form', () => {
    const { body, errors } = mappingFromForm(formFromMapping(mapping));
    expect(errors).toEqual({});
    expect(body).toEqual(mapping);
  });

  it('names the cell of each error like the API does', () => {
    const f = formFromMapping({ id: 'x', topic: 't', points: [] });
    f.points.push({ ...emptyPoint(), casdu: '70000', ioa: 'a', value: '', map: '{open', scale: 'x' });
    f.match.push({ path: 'device', value: '"a"' });
    const { errors } = mappingFromForm(f);
    expect(errors).toEqual({
      'match[0]': 'the path must be a JSONPath starting with $',
      'points[0].casdu': 'must be in 0..=65535',
      'points[0].ioa': 'must be a whole number',
      'points[0].value': 'must be a JSONPath ($ for the whole payload)',
      'points[0].scale': 'must be a number',
      'points[0].map': 'is not valid JSON: {"open": true, "closed": false}',
    });
  });

  it('reads a match value as JSON when it is JSON and as a string otherwise', () => {
    const f = formFromMapping({ id: 'x', topic: 't', points: [] });
    f.match = [{ path: '$.n', value: '3' }, { path: '$.s', value: 'ts-1' }];
    expect(mappingFromForm(f).body.match).toEqual({ '$.n': 3, '$.s': 'ts-1' });
  });
});
