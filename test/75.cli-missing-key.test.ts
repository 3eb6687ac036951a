// pmem kv get of a missing key names it on stderr on one line, escaped as
// scan prints keys: a key with a line feed or a terminal control sequence
// neither splits the message nor reaches the terminal as it is.
import { EXIT } from '../lib/cli/exit';
import { tmpFile } from './helpers';
import { expectBuilt, pmem } from './cli-helpers';

beforeAll(() => expectBuilt(['cli/main']));

test('get of a missing key names it on one line, control characters escaped as scan prints them', () => {
  const f = tmpFile('missing-key.kv');
  expect(pmem(['kv', f, 'put', 'a', '1']).code).toBe(0);
  expect(pmem(['kv', f, 'get', 'x\ny\x1b[31m\\z'])).toEqual({ code: EXIT.NOT_FOUND, out: [], err: ["pmem: no key 'x\\ny\\x1b[31m\\\\z'"] });
  expect(pmem(['kv', f, 'get', 'plain'])).toEqual({ code: EXIT.NOT_FOUND, out: [], err: ["pmem: no key 'plain'"] });
  expect(pmem(['kv', f, 'get', 'é'])).toEqual({ code: EXIT.NOT_FOUND, out: [], err: ["pmem: no key 'é'"] });
});
