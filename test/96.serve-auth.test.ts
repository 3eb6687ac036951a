// pmem serve before AUTH, as Redis 7.0 decides it (authRequired): who must
// authenticate when the password changes under connected clients, and which
// commands run before AUTH.
import * as fs from 'node:fs';

import { createServer, type RespServer } from '../lib';
import { RawClient, text } from './fixtures/serve/raw';
import { tmpFile } from './helpers';

const NOAUTH = '-NOAUTH Authentication required.';

describe('pmem serve: who must authenticate', () => {
  let file: string;
  let server: RespServer;
  let port: number;
  const clients: RawClient[] = [];

  beforeEach(async () => {
    file = tmpFile('auth.kv');
    server = createServer({ file, requirepass: 'sekret' });
    port = await server.listen(0);
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.socket.destroy();
    await server.close();
    fs.rmSync(file, { force: true });
  });

  async function client(): Promise<RawClient> {
    const c = new RawClient(port);
    clients.push(c);
    await c.ready;
    return c;
  }

  test('once the password is removed, a client that never gave it runs commands; one set later binds only clients connected after it', async () => {
    const waiting = await client();
    expect(text(await waiting.call('SET', 'k', 'v'))).toBe(NOAUTH);
    const admin = await client();
    expect(text(await admin.call('AUTH', 'sekret'))).toBe('OK');
    expect(text(await admin.call('CONFIG', 'SET', 'requirepass', ''))).toBe('OK');
    // Redis's authRequired: no password, so nobody needs AUTH.
    expect(text(await waiting.call('SET', 'k', 'v'))).toBe('OK');
    // HELLO still asks whether this client authenticated, as Redis's does.
    expect(text(await waiting.call('HELLO', '3'))).toMatch(/^-NOAUTH HELLO must be called with the client already authenticated/);
    const early = await client();
    expect(text(await admin.call('CONFIG', 'SET', 'requirepass', 'again'))).toBe('OK');
    // The password is back: the client that never authenticated needs it
    // again; one that connected while there was none is authenticated.
    expect(text(await waiting.call('GET', 'k'))).toBe(NOAUTH);
    expect(text(await early.call('GET', 'k'))).toBe('v');
    const late = await client();
    expect(text(await late.call('GET', 'k'))).toBe(NOAUTH);
    // RESET makes a client as a new connection is: it needs the password now.
    expect(text(await early.call('RESET'))).toBe('RESET');
    expect(text(await early.call('GET', 'k'))).toBe(NOAUTH);
  });

  test('SHUTDOWN before AUTH is refused, as in Redis (it is not a no-auth command); the server goes on', async () => {
    const c = await client();
    expect(text(await c.call('SHUTDOWN', 'NOSAVE'))).toBe(NOAUTH);
    expect(text(await c.call('AUTH', 'sekret'))).toBe('OK');
    expect(text(await c.call('PING'))).toBe('PONG');
  });
});
