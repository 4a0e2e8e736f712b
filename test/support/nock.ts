/**
 * nock in front of the HTTP boundaries one test file does not own (the gateway, for a function
 * that calls another). Only the files that use it load it, and it is taken out of Node's http
 * module when the file ends: otherwise the next file in the same jest worker would send its
 * requests through this file's interceptor after jest has torn this file's globals down.
 */
import nock from 'nock';

export function useNock(): typeof nock {
  beforeAll(() => {
    nock.disableNetConnect();
    nock.enableNetConnect(/(localhost|127\.0\.0\.1)/);
  });
  afterEach(() => nock.cleanAll());
  afterAll(() => {
    nock.enableNetConnect();
    nock.restore();
  });
  return nock;
}
