// pmem serve's geo commands through a real client (ioredis): a geo set is
// a sorted set of 52-bit geohash scores, the same as Redis's, and survives a
// restart; GEOADD of many members and the STORE forms are one commit each,
// and a GEOSEARCHSTORE whose commit fails leaves the destination as it was;
// the errors come in Redis's order. Redis's own unit/geo runs in `npm run
// test:redis`; scripts/redis-diff.js compares replies with redis-server's.

import { drained, failNextBatch, watchBatches } from './fixtures/serve/batch';
import { ioredisServer } from './fixtures/serve/ioredis-server';
import { frame, RawClient } from './fixtures/serve/raw';

const srv = ioredisServer('geo.kv');

// Redis's unit/geo's New York points and the scores redis-srv.server 7.0.15 gives them.
const NYC = ['-73.9454966', '40.747533', 'lic market', '-73.9733487', '40.7648057', 'central park n/q/r', '-73.9903085', '40.7362513', 'union square',
  '-74.0131604', '40.7126674', 'wtc one', '-73.7858139', '40.6428986', 'jfk', '-73.9375699', '40.7498929', 'q4', '-73.9564142', '40.7480973', '4545'];
const NYC_SCORES = ['wtc one', '1791873972053020', 'union square', '1791875485187452', 'central park n/q/r', '1791875761332224', '4545', '1791875796750882',
  'lic market', '1791875804419201', 'q4', '1791875830079666', 'jfk', '1791895905559723'];

describe('geo sets', () => {
  test('scores, positions, hashes and distances are Redis\'s, and survive a restart', async () => {
    let r = srv.conn();
    await r.flushall();
    expect(await r.geoadd('nyc', ...NYC)).toBe(7);
    expect(await r.zrange('nyc', 0, -1, 'WITHSCORES')).toEqual(NYC_SCORES);
    // The limits: a latitude of ±85.05112878 and a longitude of ±180 are points; past them, not.
    expect(await r.geoadd('edge', '180', '85.05112878', 'ne', '-180', '-85.05112878', 'sw')).toBe(2);
    expect(await r.zrange('edge', 0, -1, 'WITHSCORES')).toEqual(['sw', '0', 'ne', '13510798882111488']);
    expect(await r.geopos('edge', 'ne', 'sw', 'nope')).toEqual([['180', '85.0511287799999991'], ['-179.99999731779098511', '-85.05112751263942528'], null]);
    expect(await r.geohash('nyc', 'wtc one', 'nope')).toEqual(['dr5reg922r0', null]);
    expect(await r.geodist('nyc', 'wtc one', 'jfk', 'KM')).toBe('20.6880');
    expect(await r.geodist('nyc', 'wtc one', 'wtc one')).toBe('0.0000');
    expect(await r.geodist('nyc', 'wtc one', 'nope')).toBeNull();
    const before = await r.geosearch('nyc', 'FROMMEMBER', 'wtc one', 'BYRADIUS', '7', 'km', 'WITHDIST', 'WITHHASH', 'WITHCOORD', 'ASC');
    expect(before).toEqual([
      ['wtc one', '0.0000', 1791873972053020, ['-74.01316255331039429', '40.71266718145121644']],
      ['union square', '3.2544', 1791875485187452, ['-73.99031013250350952', '40.73625022711770782']],
      ['4545', '6.1975', 1791875796750882, ['-73.95641237497329712', '40.74809751381645384']],
      ['central park n/q/r', '6.7000', 1791875761332224, ['-73.97334784269332886', '40.76480639569881959']],
      ['lic market', '6.8969', 1791875804419201, ['-73.94549578428268433', '40.74753227099792952']],
    ]);
    await srv.restart();
    r = srv.conn();
    expect(await r.zrange('nyc', 0, -1, 'WITHSCORES')).toEqual(NYC_SCORES);
    expect(await r.geosearch('nyc', 'FROMMEMBER', 'wtc one', 'BYRADIUS', '7', 'km', 'WITHDIST', 'WITHHASH', 'WITHCOORD', 'ASC')).toEqual(before);
    expect(await r.geopos('edge', 'ne')).toEqual([['180', '85.0511287799999991']]);
  });

  test('GEOADD of many members is one commit, also while a deleted set is freed; NX, XX and CH as ZADD\'s', async () => {
    const r = srv.conn();
    // 50,000 elements to free: lazy-free steps of 1,000 commit in turns of
    // their own before, during and after the GEOADD.
    for (let i = 0; i < 50; i++) await r.sadd('garbage', ...Array.from({ length: 1000 }, (_, j) => `m${i * 1000 + j}`));
    await r.flushall();
    const n = 3000;
    const args: string[] = [];
    for (let i = 0; i < n; i++) args.push(String(-180 + (i * 7.919) % 360), String(-85 + (i * 3.1) % 170), `p${i}`);
    const batches: number[] = [];
    const stop = watchBatches(srv.server, (writes) => batches.push(writes.size));
    expect(await r.geoadd('many', ...args)).toBe(n);
    stop();
    expect(batches.length).toBe(1);
    expect(batches[0]).toBeGreaterThanOrEqual(n + 1);
    expect(await r.zcard('many')).toBe(n);
    expect(await r.geoadd('many', 'NX', '1', '1', 'p0', '2', '2', 'new')).toBe(1);
    expect(await r.geoadd('many', 'XX', 'CH', '1', '1', 'p0', '3', '3', 'other')).toBe(1);
    expect(await r.exists('other')).toBe(0);
    expect(await r.geoadd('nokey', 'XX', '1', '1', 'x')).toBe(0);
    expect(await r.exists('nokey')).toBe(0);
    // A ZREM's commit deletes elements of a live set: counted, not taken for a lazy-free step.
    expect(await srv.commits(() => r.zrem('many', 'p1', 'p2'))).toBe(1);
    await drained(srv.server);
  });

  test('distances are the C library\'s: a stored one has every digit of Redis\'s', async () => {
    const r = srv.conn();
    await r.flushall();
    await r.geoadd('pts', '17.02', '9.66', 'far', '0', '0', 'here');
    // V8's Math.sin, Math.cos and Math.asin make this 2168.8551016377387.
    expect(await r.geosearchstore('d', 'pts', 'FROMLONLAT', '0', '0', 'BYRADIUS', '3000', 'km', 'STOREDIST')).toBe(2);
    expect(await r.zrange('d', 0, -1, 'WITHSCORES')).toEqual(['here', '0.0003299589265287915', 'far', '2168.8551016377392']);
    expect(await r.geosearch('pts', 'FROMLONLAT', '0', '0', 'BYRADIUS', '3000', 'km', 'WITHDIST', 'COUNT', '1', 'DESC')).toEqual([['far', '2168.8551']]);
  });
});

describe('STORE', () => {
  test('GEOSEARCHSTORE and GEORADIUS STORE replace the destination in one commit; an empty result deletes it', async () => {
    const r = srv.conn();
    await r.flushall();
    await r.geoadd('src', ...NYC);
    await r.hset('dst', 'f', 'v');
    await r.expire('dst', 1000);
    const batches: number[] = [];
    const stop = watchBatches(srv.server, (writes) => batches.push(writes.size));
    expect(await r.geosearchstore('dst', 'src', 'FROMLONLAT', '-73.9798091', '40.7598464', 'BYBOX', '6', '6', 'km', 'ASC', 'COUNT', '3')).toBe(3);
    stop();
    expect(batches.length).toBe(1);
    expect(await r.type('dst')).toBe('zset');
    expect(await r.ttl('dst')).toBe(-1);
    expect(await r.zrange('dst', 0, -1, 'WITHSCORES')).toEqual(['union square', '1791875485187452', 'central park n/q/r', '1791875761332224', '4545', '1791875796750882']);
    expect(await r.georadius('src', '-73.9798091', '40.7598464', '3', 'km', 'STOREDIST', 'dst')).toBe(3);
    expect(await r.zrange('dst', 0, -1, 'WITHSCORES')).toEqual(['central park n/q/r', '0.77501636173928778', '4545', '2.3651170851181265', 'union square', '2.7696655797195091']);
    expect(await r.georadiusbymember('src', 'jfk', '1', 'm', 'STORE', 'dst')).toBe(1);
    expect(await r.zrange('dst', 0, -1)).toEqual(['jfk']);
    expect(await r.geosearchstore('dst', 'src', 'FROMLONLAT', '0', '0', 'BYRADIUS', '1', 'km')).toBe(0);
    expect(await r.exists('dst')).toBe(0);
    await r.set('dst', 'x');
    expect(await r.geosearchstore('dst', 'nokey', 'FROMMEMBER', 'x', 'BYRADIUS', '1', 'km')).toBe(0);
    expect(await r.exists('dst')).toBe(0);
  });

  test('a GEOSEARCHSTORE whose commit fails is not answered, and leaves the destination as it was, also after a restart', async () => {
    let r = srv.conn();
    await r.flushall();
    await r.geoadd('src', ...NYC);
    await r.geoadd('dst', '10', '20', 'old');
    const p = new RawClient(srv.port);
    await p.ready;
    const failed = failNextBatch(srv.server);
    p.send(frame('GEOSEARCHSTORE', 'dst', 'src', 'FROMMEMBER', 'jfk', 'BYRADIUS', '100', 'km', 'STOREDIST'));
    // A failed commit's replies are never sent: the connection closes.
    expect(await p.read()).toBeNull();
    expect(failed()).toBe(1);
    const kept = ['old', '3403951602136190'];
    expect(await r.zrange('dst', 0, -1, 'WITHSCORES')).toEqual(kept);
    await srv.restart();
    r = srv.conn();
    expect(await r.zrange('dst', 0, -1, 'WITHSCORES')).toEqual(kept);
    expect(await r.geopos('dst', 'old')).toEqual([['10.00000208616256714', '20.00000058910486445']]);
  });
});

describe('errors', () => {
  test('in Redis\'s order: the type, the centre, the radius, the options, their combinations', async () => {
    const r = srv.conn();
    await r.flushall();
    await r.set('str', 'x');
    await r.geoadd('g', '10', '20', 'a');
    await expect(r.geoadd('g', '181', '0', 'x')).rejects.toThrow('ERR invalid longitude,latitude pair 181.000000,0.000000');
    await expect(r.geoadd('g', 'x', '0', 'x')).rejects.toThrow('ERR value is not a valid float');
    await expect(r.geoadd('g', 'NX', 'XX', '1', '1', 'x')).rejects.toThrow('ERR syntax error');
    await expect(r.geoadd('g', '1', '1', 'x', '2')).rejects.toThrow('ERR syntax error');
    // The coordinates are checked before the key's type, as ZADD's scores are.
    await expect(r.geoadd('str', '1', '100', 'x')).rejects.toThrow('ERR invalid longitude,latitude pair');
    await expect(r.geoadd('str', '1', '1', 'x')).rejects.toThrow(/^WRONGTYPE/);
    await expect(r.call('GEODIST', 'g', 'a', 'a', 'yards')).rejects.toThrow('ERR unsupported unit provided. please use M, KM, FT, MI');
    await expect(r.call('GEODIST', 'str', 'a', 'a', 'yards')).rejects.toThrow('ERR unsupported unit');
    await expect(r.geopos('str', 'a')).rejects.toThrow(/^WRONGTYPE/);
    await expect(r.georadius('str', '200', '0', '1', 'km')).rejects.toThrow(/^WRONGTYPE/);
    await expect(r.georadius('g', '200', '0', '-1', 'km')).rejects.toThrow('ERR invalid longitude,latitude pair 200.000000,0.000000');
    await expect(r.georadius('g', '0', '0', '-1', 'km')).rejects.toThrow('ERR radius cannot be negative');
    await expect(r.georadius('g', '0', '0', 'x', 'km')).rejects.toThrow('ERR need numeric radius');
    await expect(r.georadius('g', '0', '0', '1', 'km', 'COUNT', '0')).rejects.toThrow('ERR COUNT must be > 0');
    await expect(r.georadius('g', '0', '0', '1', 'km', 'ANY')).rejects.toThrow('ERR the ANY argument requires COUNT argument');
    await expect(r.georadius('g', '0', '0', '1', 'km', 'STORE', 'd', 'WITHDIST')).rejects.toThrow('ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options');
    await expect(r.call('GEORADIUS_RO', 'g', '0', '0', '1', 'km', 'STORE', 'd')).rejects.toThrow('ERR syntax error');
    await expect(r.georadiusbymember('g', 'nope', '1', 'km')).rejects.toThrow('ERR could not decode requested zset member');
    // Without the source key, GEORADIUSBYMEMBER reads no radius.
    expect(await r.georadiusbymember('nokey', 'nope', 'x', 'x')).toEqual([]);
    await expect(r.call('geosearch', 'g', 'BYRADIUS', '1', 'km', 'ASC', 'WITHDIST')).rejects.toThrow('ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for geosearch');
    await expect(r.geosearch('g', 'FROMLONLAT', '0', '0', 'ASC', 'DESC')).rejects.toThrow('ERR exactly one of BYRADIUS and BYBOX can be specified for geosearch');
    await expect(r.geosearch('g', 'FROMLONLAT', '0', '0', 'FROMMEMBER', 'a', 'BYRADIUS', '1', 'km')).rejects.toThrow('ERR syntax error');
    await expect(r.geosearch('g', 'FROMLONLAT', '0', '0', 'BYBOX', '-1', '1', 'km')).rejects.toThrow('ERR height or width cannot be negative');
    await expect(r.geosearch('g', 'FROMLONLAT', '0', '0', 'BYBOX', '1', 'x', 'km')).rejects.toThrow('ERR need numeric height');
    await expect(r.geosearch('g', 'FROMLONLAT', '0', '0', 'BYRADIUS', '1', 'km', 'STOREDIST')).rejects.toThrow('ERR syntax error');
    await expect(r.geosearchstore('d', 'g', 'FROMLONLAT', '0', '0', 'BYRADIUS', '1', 'km', 'WITHCOORD')).rejects.toThrow('ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options');
    // COMMAND GETKEYS finds GEORADIUS's STORE and STOREDIST destinations.
    expect(await r.call('COMMAND', 'GETKEYS', 'GEORADIUS', 'k', '1', '2', '3', 'km', 'STORE', 'x', 'STOREDIST', 'y')).toEqual(['k', 'x', 'y']);
    expect(await r.exists('d')).toBe(0);
  });
});
