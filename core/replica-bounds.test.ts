/** The replica bounds a function's labels give under OpenFaaS CE. */
import { replicaBounds } from './replica-bounds';

it('reads scale.min and scale.max, defaults 1 and 5, never above CE’s 5', () => {
  expect(replicaBounds({})).toEqual({ min: 1, max: 5 });
  expect(replicaBounds({ 'com.openfaas.scale.min': '2', 'com.openfaas.scale.max': '3' })).toEqual({ min: 2, max: 3 });
  expect(replicaBounds({ 'com.openfaas.scale.max': '20' })).toEqual({ min: 1, max: 5 });
  expect(replicaBounds({ 'com.openfaas.scale.min': '4', 'com.openfaas.scale.max': '2' })).toEqual({ min: 2, max: 2 });
});
