// The geo group: GEOADD, GEOPOS, GEODIST, GEOHASH, GEOSEARCH,
// GEOSEARCHSTORE and the GEORADIUS family. A geo set is a sorted set whose
// scores are 52-bit geohashes (geohash.ts), so every zset command reads and
// writes it too. GEOADD is a ZADD of those scores; the STORE forms write a
// whole zset (zstore). A command's writes are one atomic durable batch.
import { ReplyError, SYNTAX, type Client } from '../client';
import { boxScores, decodeScore, distance, encodeScore, geohashString, LAT_MAX, LAT_MIN, LON_MAX, LON_MIN, searchBoxes, withinShape, type HashBits, type Shape } from '../geohash';
import type { RespServer } from '../server';
import type { ZSetValue } from '../zset';
import { i64Arg, keyArg, strictDouble, word } from './args';
import { mergeSort, partialSort } from './geo-sort';
import { distanceText, fixed, human, scoreInt } from './geo-text';
import type { Def } from './types';
import { memberArg, zsetOf, zstore } from './zset-store';
import { zaddPairs } from './zsets';

/** getDoubleFromObjectOrReply: the whole argument a double. @throws ReplyError `msg` */
function doubleArg(b: Buffer, msg = 'ERR value is not a valid float'): number {
  const n = strictDouble(b.toString('latin1'));
  if (n === null) throw new ReplyError(msg);
  return n;
}

/** extractLongLatOrReply: a longitude and a latitude inside the limits. @throws ReplyError */
function lonLatArg(lonArg: Buffer, latArg: Buffer): [number, number] {
  const lon = doubleArg(lonArg);
  const lat = doubleArg(latArg);
  if (lon < LON_MIN || lon > LON_MAX || lat < LAT_MIN || lat > LAT_MAX) throw new ReplyError(`ERR invalid longitude,latitude pair ${fixed(lon, 6)},${fixed(lat, 6)}`);
  return [lon, lat];
}

/** extractUnitOrReply: how many meters a unit is. @throws ReplyError */
function unitArg(b: Buffer): number {
  const u = word(b);
  if (u === 'm') return 1;
  if (u === 'km') return 1000;
  if (u === 'ft') return 0.3048;
  if (u === 'mi') return 1609.34;
  throw new ReplyError('ERR unsupported unit provided. please use M, KM, FT, MI');
}

/** extractDistanceOrReply: a radius and its unit into `shape`. */
function radiusArgs(shape: Shape, argv: Buffer[], at: number): void {
  const r = doubleArg(argv[at], 'ERR need numeric radius');
  if (r < 0) throw new ReplyError('ERR radius cannot be negative');
  shape.conversion = unitArg(argv[at + 1]);
  shape.radius = r;
  shape.width = shape.height = undefined;
}

/** extractBoxOrReply: a width, a height and their unit into `shape`. */
function boxArgs(shape: Shape, argv: Buffer[], at: number): void {
  const w = doubleArg(argv[at], 'ERR need numeric width');
  const h = doubleArg(argv[at + 1], 'ERR need numeric height');
  if (h < 0 || w < 0) throw new ReplyError('ERR height or width cannot be negative');
  shape.conversion = unitArg(argv[at + 2]);
  shape.width = w;
  shape.height = h;
  shape.radius = undefined;
}

/** longLatFromMember: the point of a member. @throws ReplyError when it is not there */
function memberPoint(z: ZSetValue, b: Buffer): [number, number] {
  const score = z.members.get(b.toString('latin1'));
  if (score === undefined) throw new ReplyError('ERR could not decode requested zset member');
  return decodeScore(score);
}

/** GEOADD key [NX | XX] [CH] longitude latitude member [...]: a ZADD of the points' scores. */
function geoadd(s: RespServer, c: Client, argv: Buffer[]): void {
  let nx = false;
  let xx = false;
  let ch = false;
  let at = 2;
  for (; at < argv.length; at++) {
    const w = word(argv[at]);
    if (w === 'nx') nx = true;
    else if (w === 'xx') xx = true;
    else if (w === 'ch') ch = true;
    else break;
  }
  const n = argv.length - at;
  if (n % 3 !== 0 || (xx && nx) || n === 0) throw new ReplyError(SYNTAX);
  const scores: number[] = [];
  for (let j = at; j < argv.length; j += 3) {
    const [lon, lat] = lonLatArg(argv[j], argv[j + 1]);
    scores.push(encodeScore(lon, lat) as number);
  }
  const members: string[] = [];
  for (let j = at + 2; j < argv.length; j += 3) members.push(memberArg(argv[j]));
  zaddPairs(s, c, keyArg(argv[1]), { nx, xx, ch, gt: false, lt: false, incr: false }, scores, members);
}

/** A coordinate pair in a reply. */
function replyPoint(c: Client, lon: number, lat: number): void {
  c.out.array(2);
  c.out.double(human(lon));
  c.out.double(human(lat));
}

/** GEOPOS key [member ...]: each member's point, or a null array. */
function geopos(s: RespServer, c: Client, argv: Buffer[]): void {
  const z = zsetOf(s, c.db, keyArg(argv[1]));
  c.out.array(argv.length - 2);
  for (let i = 2; i < argv.length; i++) {
    const score = z?.members.get(argv[i].toString('latin1'));
    if (score === undefined) c.out.nilArray();
    else replyPoint(c, ...decodeScore(score));
  }
}

/** GEOHASH key [member ...]: each member's standard 11-character geohash, or nil. */
function geohash(s: RespServer, c: Client, argv: Buffer[]): void {
  const z = zsetOf(s, c.db, keyArg(argv[1]));
  c.out.array(argv.length - 2);
  for (let i = 2; i < argv.length; i++) {
    const score = z?.members.get(argv[i].toString('latin1'));
    if (score === undefined) c.out.nil();
    else c.out.bulk(geohashString(score));
  }
}

/** GEODIST key member1 member2 [M | KM | FT | MI]: the unit is read before the key. */
function geodist(s: RespServer, c: Client, argv: Buffer[]): void {
  let toMeter = 1;
  if (argv.length === 5) toMeter = unitArg(argv[4]);
  else if (argv.length > 5) throw new ReplyError(SYNTAX);
  const z = zsetOf(s, c.db, keyArg(argv[1]));
  const a = z?.members.get(argv[2].toString('latin1'));
  const b = z?.members.get(argv[3].toString('latin1'));
  if (a === undefined || b === undefined) {
    c.out.nil();
    return;
  }
  const [lon1, lat1] = decodeScore(a);
  const [lon2, lat2] = decodeScore(b);
  c.out.bulk(distanceText(distance(lon1, lat1, lon2, lat2) / toMeter));
}

/** A point a search found. */
interface GeoPoint {
  member: string;
  score: number;
  lon: number;
  lat: number;
  dist: number;
}

/**
 * membersOfAllNeighbors: the points inside the shape, box by box in
 * Redis's order and by score within a box. A box equal to the one searched
 * last is skipped (a huge radius makes neighbours repeat); with `limit`
 * (ANY) the search stops once that many are found.
 */
function searchPoints(z: ZSetValue, shape: Shape, limit: number): GeoPoint[] {
  const boxes = searchBoxes(shape);
  const found: GeoPoint[] = [];
  let last = 0;
  const same = (a: HashBits, b: HashBits): boolean => a.bits === b.bits && a.step === b.step;
  for (let i = 0; i < boxes.length; i++) {
    const box = boxes[i];
    if (box === null) continue;
    // As Redis: `last_processed` 0 (the centre box, or none yet) is never compared.
    if (last !== 0 && same(box, boxes[last] as HashBits)) continue;
    if (found.length > 0 && limit > 0 && found.length >= limit) break;
    const [min, max] = boxScores(box);
    for (const [member, score] of z.rangeByScore({ min, max, minEx: false, maxEx: true }, false)) {
      const [lon, lat] = decodeScore(score);
      const dist = withinShape(shape, lon, lat);
      if (dist !== null) found.push({ member, score, lon, lat, dist });
      if (found.length > 0 && limit > 0 && found.length >= limit) break;
    }
    last = i;
  }
  return found;
}

type Search = 'coords' | 'member' | 'search';

/**
 * georadiusGeneric: GEORADIUS (coords), GEORADIUSBYMEMBER (member), their
 * _RO forms (`noStore`), GEOSEARCH and GEOSEARCHSTORE (`searchStore`).
 * Arguments are checked in Redis's order: the source key's type, the centre
 * and radius of the GEORADIUS forms, the options one by one, then the
 * options' combinations.
 */
function georadius(kind: Search, noStore: boolean, searchStore: boolean) {
  return (s: RespServer, c: Client, argv: Buffer[]): void => {
    const z = zsetOf(s, c.db, keyArg(argv[searchStore ? 2 : 1]));
    const shape: Shape = { lon: 0, lat: 0, conversion: 1 };
    let storeKey: string | null = null;
    let storeDist = false;
    let base: number;
    if (kind === 'coords') {
      base = 6;
      [shape.lon, shape.lat] = lonLatArg(argv[2], argv[3]);
      radiusArgs(shape, argv, 4);
    } else if (kind === 'member') {
      base = 5;
      // Without a source key, nothing past the options is read: the reply is empty (or 0 stored).
      if (z !== undefined) {
        [shape.lon, shape.lat] = memberPoint(z, argv[2]);
        radiusArgs(shape, argv, 3);
      }
    } else {
      base = searchStore ? 3 : 2;
      if (searchStore) storeKey = keyArg(argv[1]);
    }
    let withDist = false;
    let withHash = false;
    let withCoord = false;
    let fromMember = false;
    let fromLoc = false;
    let byRadius = false;
    let byBox = false;
    let sort: 'none' | 'asc' | 'desc' = 'none';
    let any = false;
    let count = 0;
    const search = kind === 'search';
    const remaining = argv.length - base;
    for (let i = 0; i < remaining; i++) {
      const at = base + i;
      const w = word(argv[at]);
      if (w === 'withdist') withDist = true;
      else if (w === 'withhash') withHash = true;
      else if (w === 'withcoord') withCoord = true;
      else if (w === 'any') any = true;
      else if (w === 'asc') sort = 'asc';
      else if (w === 'desc') sort = 'desc';
      else if (w === 'count' && i + 1 < remaining) {
        const n = i64Arg(argv[at + 1]);
        if (n <= 0n) throw new ReplyError('ERR COUNT must be > 0');
        count = Number(n);
        i++;
      } else if ((w === 'store' || w === 'storedist') && i + 1 < remaining && !noStore && !search) {
        storeKey = keyArg(argv[at + 1]);
        storeDist = w === 'storedist';
        i++;
      } else if (w === 'storedist' && search && searchStore) storeDist = true;
      else if (w === 'frommember' && i + 1 < remaining && search && !fromLoc) {
        if (z !== undefined) [shape.lon, shape.lat] = memberPoint(z, argv[at + 1]);
        fromMember = true;
        i++;
      } else if (w === 'fromlonlat' && i + 2 < remaining && search && !fromMember) {
        [shape.lon, shape.lat] = lonLatArg(argv[at + 1], argv[at + 2]);
        fromLoc = true;
        i += 2;
      } else if (w === 'byradius' && i + 2 < remaining && search && !byBox) {
        radiusArgs(shape, argv, at + 1);
        byRadius = true;
        i += 2;
      } else if (w === 'bybox' && i + 3 < remaining && search && !byRadius) {
        boxArgs(shape, argv, at + 1);
        byBox = true;
        i += 3;
      } else throw new ReplyError(SYNTAX);
    }
    if (storeKey !== null && (withDist || withHash || withCoord)) {
      throw new ReplyError(`ERR ${searchStore ? 'GEOSEARCHSTORE' : 'STORE option in GEORADIUS'} is not compatible with WITHDIST, WITHHASH and WITHCOORD options`);
    }
    const name = argv[0].toString('latin1');
    if (search && !(fromMember || fromLoc)) throw new ReplyError(`ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for ${name}`);
    if (search && !(byRadius || byBox)) throw new ReplyError(`ERR exactly one of BYRADIUS and BYBOX can be specified for ${name}`);
    if (any && count === 0) throw new ReplyError('ERR the ANY argument requires COUNT argument');
    if (z === undefined) {
      if (storeKey !== null) c.out.int(zstore(s, c.db, storeKey, [], 'georadiusstore'));
      else c.out.array(0);
      return;
    }
    // COUNT returns the nearest: it sorts, unless ANY takes the first found.
    if (count !== 0 && sort === 'none' && !any) sort = 'asc';
    const found = searchPoints(z, shape, any ? count : 0);
    if (found.length === 0 && storeKey === null) {
      c.out.array(0);
      return;
    }
    const n = count === 0 || found.length < count ? found.length : count;
    if (sort !== 'none') {
      if (n === found.length) mergeSort(found, sort === 'desc');
      else partialSort(found, sort === 'desc', 0, n - 1);
    }
    if (storeKey !== null) {
      const entries: [string, number][] = [];
      for (let i = 0; i < n; i++) entries.push([found[i].member, storeDist ? found[i].dist / shape.conversion : found[i].score]);
      c.out.int(zstore(s, c.db, storeKey, entries, search ? 'geosearchstore' : 'georadiusstore'));
      return;
    }
    const options = (withDist ? 1 : 0) + (withCoord ? 1 : 0) + (withHash ? 1 : 0);
    c.out.array(n);
    for (let i = 0; i < n; i++) {
      const p = found[i];
      if (options > 0) c.out.array(options + 1);
      c.out.bulkLatin1(p.member);
      if (withDist) c.out.bulk(distanceText(p.dist / shape.conversion));
      if (withHash) c.out.int(scoreInt(p.score));
      if (withCoord) replyPoint(c, p.lon, p.lat);
    }
  };
}

/**
 * The keys of GEORADIUS and GEORADIUSBYMEMBER for COMMAND GETKEYS, as
 * Redis 7.0 finds them by their key specs: the source, then the key after
 * the first STORE and the one after the first STOREDIST, each searched
 * for from argument `from` on.
 */
export function georadiusKeys(args: Buffer[], from: number): Buffer[] {
  const keys = [args[1]];
  for (const kw of ['store', 'storedist']) {
    for (let i = from; i < args.length - 1; i++) {
      if (word(args[i]) === kw) {
        keys.push(args[i + 1]);
        break;
      }
    }
  }
  return keys;
}

export const GEO_COMMANDS: Record<string, Def> = {
  geoadd: [-5, 'write', 1, 1, 1, geoadd],
  geopos: [-2, 'readonly', 1, 1, 1, geopos],
  geohash: [-2, 'readonly', 1, 1, 1, geohash],
  geodist: [-4, 'readonly', 1, 1, 1, geodist],
  georadius: [-6, 'write', 1, 1, 1, georadius('coords', false, false)],
  georadius_ro: [-6, 'readonly', 1, 1, 1, georadius('coords', true, false)],
  georadiusbymember: [-5, 'write', 1, 1, 1, georadius('member', false, false)],
  georadiusbymember_ro: [-5, 'readonly', 1, 1, 1, georadius('member', true, false)],
  geosearch: [-7, 'readonly', 1, 1, 1, georadius('search', false, false)],
  geosearchstore: [-8, 'write', 1, 2, 1, georadius('search', false, true)],
};
