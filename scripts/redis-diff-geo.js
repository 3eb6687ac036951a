// The geo commands for scripts/redis-diff.js: geo sets with points at the
// poles' limits (±85.05112878), on the antimeridian, at the same place (ties
// in distance), and searches around them with radii from zero to more than
// the Earth's, boxes, every option, the STORE forms (and the zsets they
// write, with their scores), and each command's errors in Redis's order.
// Random points and searches come from a fixed seed: the same every run.
'use strict';

const LAT = '85.05112878';

/** Points at the edges: [lon, lat, member]. */
const EDGE = [
  ['180', LAT, 'ne'], ['-180', `-${LAT}`, 'sw'], ['180', '0', 'e0'], ['-180', '0', 'w0'], ['0', LAT, 'n0'], ['0', `-${LAT}`, 's0'],
  ['179.9999', '10', 'am1'], ['-179.9999', '10', 'am2'], ['179.5', '36', 'am3'], ['-179.5', '36', 'am4'], ['0', '0', 'origin'],
  ['-0', '-0', 'negzero'], ['13.361389', '38.115556', 'Palermo'], ['15.087269', '37.502669', 'Catania'], ['13.361389', '38.115556', 'Palermo2'],
  ['13.361389', '38.115556', 'Palermo3'], ['45', '85', 'polar1'], ['-135', '85.05', 'polar2'], ['90', '-85', 'polar3'], ['0.0078125', '0.0000005', 'tiny'],
];

function seeded(seed) {
  let x = seed;
  return () => {
    x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff;
    return x / 0x80000000;
  };
}

function geo() {
  const out = [];
  const rnd = seeded(11);
  const pick = (a) => a[Math.floor(rnd() * a.length)];
  const add = ['GEOADD', 'g', ...EDGE.flat()];
  const sub = (opts) => opts.filter(() => rnd() < 0.4);

  // The edges: scores, positions, hashes, distances.
  out.push([add, ['ZRANGE', 'g', '0', '-1', 'WITHSCORES'], ['GEOPOS', 'g', ...EDGE.map((p) => p[2]), 'nope'], ['GEOHASH', 'g', ...EDGE.map((p) => p[2]), 'nope'],
    ...EDGE.map((p) => ['GEODIST', 'g', p[2], 'origin']), ...EDGE.map((p) => ['GEODIST', 'g', p[2], 'ne', pick(['m', 'km', 'mi', 'ft', 'KM'])]),
    ['GEODIST', 'g', 'sw', 'ne'], ['GEODIST', 'g', 'e0', 'w0'], ['GEODIST', 'g', 'origin', 'e0', 'mi'], ['GEODIST', 'g', 'Palermo', 'Palermo2']]);

  // Searches around the edges, with every option.
  const RADII = ['0', '0.0001', '1', '100', '5000', '200000', '2000000', '5009431', '20000000', '40000000', '1e10', 'inf'];
  const UNITS = ['m', 'km', 'mi', 'ft', 'M', 'Km'];
  const OPTS = ['WITHDIST', 'WITHCOORD', 'WITHHASH'];
  const centres = [...EDGE.map((p) => [p[0], p[1]]), ['179', '37'], ['-179', '37'], ['0', '84'], ['0', '-84'], ['0', '70'], ['100', '-66.5']];
  const searches = [add];
  for (const [lon, lat] of centres) {
    for (let k = 0; k < 6; k++) {
      const r = pick(RADII);
      const u = pick(UNITS);
      const order = pick([[], ['ASC'], ['DESC']]);
      const count = pick([[], [], ['COUNT', pick(['1', '2', '3', '5', '100'])], ['COUNT', pick(['1', '3']), 'ANY']]);
      const opts = [...sub(OPTS), ...order, ...count];
      searches.push(['GEORADIUS', 'g', lon, lat, r, u, ...opts], ['GEORADIUS_RO', 'g', lon, lat, r, u, ...opts]);
      searches.push(['GEOSEARCH', 'g', 'FROMLONLAT', lon, lat, 'BYRADIUS', r, u, ...opts]);
      searches.push(['GEOSEARCH', 'g', 'FROMLONLAT', lon, lat, 'BYBOX', pick(RADII), pick(RADII), u, ...opts]);
    }
  }
  for (const [, , m] of EDGE) {
    const r = pick(RADII);
    const u = pick(UNITS);
    const opts = [...sub(OPTS), ...pick([[], ['ASC'], ['DESC']]), ...pick([[], ['COUNT', '2'], ['COUNT', '2', 'ANY']])];
    searches.push(['GEORADIUSBYMEMBER', 'g', m, r, u, ...opts], ['GEORADIUSBYMEMBER_RO', 'g', m, r, u, ...opts]);
    searches.push(['GEOSEARCH', 'g', 'FROMMEMBER', m, 'BYBOX', pick(RADII), pick(RADII), u, ...opts]);
  }
  out.push(searches);

  // Random points and searches (the unit's own fuzz, compared reply by reply), and ties at one place.
  for (let set = 0; set < 6; set++) {
    const pts = ['GEOADD', 'r'];
    const n = 50 + Math.floor(rnd() * 200);
    for (let i = 0; i < n; i++) {
      const lon = (-180 + rnd() * 360).toFixed(6);
      const lat = (-85 + rnd() * 170).toFixed(6);
      pts.push(lon, lat, `p${i}`);
      if (rnd() < 0.1) pts.push(lon, lat, `q${i}`);
    }
    const seq = [pts, ['ZRANGE', 'r', '0', '-1', 'WITHSCORES']];
    for (let q = 0; q < 25; q++) {
      const lon = (-180 + rnd() * 360).toFixed(4);
      const lat = (-85 + rnd() * 170).toFixed(4);
      const r = String(Math.floor(10 ** (rnd() * 7.5)));
      const opts = [...sub(OPTS), ...pick([[], ['ASC'], ['DESC']]), ...pick([[], ['COUNT', pick(['1', '3', '10'])], ['COUNT', '5', 'ANY']])];
      seq.push(['GEOSEARCH', 'r', 'FROMLONLAT', lon, lat, 'BYRADIUS', r, 'km', ...opts]);
      seq.push(['GEOSEARCH', 'r', 'FROMLONLAT', lon, lat, 'BYBOX', r, String(Math.floor(10 ** (rnd() * 7.5))), 'km', ...opts]);
      seq.push(['GEORADIUSBYMEMBER', 'r', `p${Math.floor(rnd() * n)}`, r, 'km', ...opts]);
    }
    seq.push(['GEOSEARCHSTORE', 'd', 'r', 'FROMLONLAT', '0', '0', 'BYRADIUS', '5000', 'km', 'COUNT', '10'], ['ZRANGE', 'd', '0', '-1', 'WITHSCORES'],
      ['GEOSEARCHSTORE', 'd', 'r', 'FROMLONLAT', '0', '0', 'BYBOX', '9000', '9000', 'km', 'STOREDIST', 'DESC'], ['ZRANGE', 'd', '0', '-1', 'WITHSCORES'],
      ['GEORADIUS', 'r', '10', '10', '3000', 'km', 'STORE', 'd', 'COUNT', '4', 'ANY'], ['ZRANGE', 'd', '0', '-1', 'WITHSCORES'],
      ['GEORADIUS', 'r', '10', '10', '3000', 'mi', 'STOREDIST', 'd'], ['ZRANGE', 'd', '0', '-1', 'WITHSCORES'],
      ['GEORADIUSBYMEMBER', 'r', 'p0', '2000', 'km', 'STOREDIST', 'd2', 'ASC', 'COUNT', '3'], ['ZRANGE', 'd2', '0', '-1', 'WITHSCORES']);
    out.push(seq);
  }
  // Many points at one place and at a few: the order of equal distances under a partial sort (COUNT) and a full one.
  const same = ['GEOADD', 't'];
  for (let i = 0; i < 120; i++) same.push(String(10 + (i % 3) * 0.001), '20', `m${String(i).padStart(3, '0')}`);
  out.push([same, ...['1', '2', '7', '8', '41', '60', '119', '120', '500'].flatMap((n) => [['GEORADIUS', 't', '10', '20', '1', 'km', 'COUNT', n, 'WITHDIST'],
    ['GEORADIUS', 't', '10', '20', '1', 'km', 'COUNT', n, 'DESC'], ['GEOSEARCH', 't', 'FROMLONLAT', '10.001', '20', 'BYBOX', '1', '1', 'km', 'COUNT', n, 'ASC']]),
  ['GEORADIUS', 't', '10', '20', '1', 'km', 'ASC'], ['GEORADIUS', 't', '10', '20', '1', 'km', 'DESC'], ['GEORADIUS', 't', '10', '20', '1', 'km']]);

  // GEOADD's options and the zset it writes.
  out.push([['GEOADD', 'a', '10', '20', 'x'], ['GEOADD', 'a', 'NX', '11', '20', 'x', '12', '20', 'y'], ['GEOADD', 'a', 'XX', '13', '20', 'x', '14', '20', 'z'],
    ['GEOADD', 'a', 'CH', '15', '20', 'x', '15', '20', 'y'], ['GEOADD', 'a', 'CH', 'NX', '16', '20', 'x', '16', '20', 'w'], ['GEOADD', 'a', 'ch', 'xx', '17', '20', 'x', '17', '20', 'v'],
    ['GEOADD', 'a', 'XX', 'NX', '1', '2', 'x'], ['GEOADD', 'a', 'NX', 'XX', 'CH'], ['GEOADD', 'a', 'CH', 'NX', 'CH'], ['GEOADD', 'a', 'GT', '1', '2', 'x'], ['GEOADD', 'a', '1', '2'],
    ['GEOADD', 'a', '1', '2', 'x', '3'], ['GEOADD', 'xx', 'XX', '1', '2', 'x'], ['EXISTS', 'xx'], ['ZRANGE', 'a', '0', '-1', 'WITHSCORES'], ['OBJECT', 'ENCODING', 'a'],
    ['GEOADD', 'a', '181', '0', 'x'], ['GEOADD', 'a', '0', '86', 'x'], ['GEOADD', 'a', '180.0078125', `-${LAT}1`, 'x'], ['GEOADD', 'a', 'inf', '0', 'x'], ['GEOADD', 'a', '0', '-inf', 'x'],
    ['GEOADD', 'a', '1e300', '0', 'x'], ['GEOADD', 'a', '-0.0000001', '90', 'x'], ['GEOADD', 'a', 'x', '0', 'x'], ['GEOADD', 'a', '0', 'x', 'x'], ['GEOADD', 'a', '0', '0', 'x', '200', '0', 'y'],
    ['GEOADD', 'a', '0', '0', 'x', 'a', 'b', 'y'], ['GEOADD', 'a', '0x10', '0x1p2', 'hex'], ['GEOADD', 'a', ' 1', '2', 'x'], ['GEOADD', 'a', '1', '', 'x'], ['GEOADD', 'str', '1', '2', 'x'],
    ['GEOADD', 'str', '1', '200', 'x'], ['GEOADD', 'l', 'XX', '1', '2', 'x'], ['ZRANGE', 'a', '0', '-1', 'WITHSCORES']]);

  // Scores that are no geohash: any score decodes (a negative one wraps, one past 2^64 is 0).
  const S = ['-1', '1.5', '1e20', '-1e20', 'inf', '-inf', '18446744073709551616', '9.3e18', '0', '4503599627370496', '9007199254740993', '-0', '0.5', '123456789.987', '-9223372036854775808', '-9.3e18'];
  out.push([['ZADD', 'w', ...S.flatMap((v, i) => [v, `s${i}`])], ['GEOPOS', 'w', ...S.map((_, i) => `s${i}`)], ['GEOHASH', 'w', ...S.map((_, i) => `s${i}`)],
    ['GEODIST', 'w', 's0', 's1'], ['GEODIST', 'w', 's2', 's3', 'km'], ['GEORADIUS', 'w', '0', '0', '30000', 'km', 'WITHHASH', 'WITHCOORD', 'WITHDIST', 'ASC'],
    ['GEOSEARCH', 'w', 'FROMMEMBER', 's0', 'BYBOX', '1', '1', 'km', 'WITHHASH'], ['GEOSEARCH', 'w', 'FROMLONLAT', '180', '85', 'BYRADIUS', '1', 'km', 'WITHHASH'],
    ['GEOPOS', 'z', 'a', 'b', 'c', 'd'], ['GEODIST', 'z', 'a', 'b'], ['GEOHASH', 'z', 'a', 'c']]);

  // Errors, in Redis's order: the key's type first, then the centre, the radius or box, the options one by one, their combinations.
  const E = [add];
  const errs = [
    ['GEOPOS', 'str', 'a'], ['GEOPOS', 'nokey', 'a', 'b'], ['GEOPOS', 'g'], ['GEOHASH', 'str', 'a'], ['GEOHASH', 'nokey', 'a'], ['GEOHASH', 'g'],
    ['GEODIST', 'str', 'a', 'b'], ['GEODIST', 'nokey', 'a', 'b'], ['GEODIST', 'str', 'a', 'b', 'x'], ['GEODIST', 'g', 'ne', 'sw', 'x'], ['GEODIST', 'g', 'ne', 'sw', 'km', 'x'],
    ['GEODIST', 'g', 'ne', 'nope'], ['GEODIST', 'g', 'ne', 'ne'], ['GEODIST', 'g', 'a'],
    ['GEORADIUS', 'str', 'x', '0', '1', 'km'], ['GEORADIUS', 'g', 'x', '0', '1', 'km'], ['GEORADIUS', 'g', '0', 'x', '1', 'km'], ['GEORADIUS', 'g', '200', '0', 'x', 'km'],
    ['GEORADIUS', 'g', '0', '0', 'x', 'km'], ['GEORADIUS', 'g', '0', '0', '-1', 'x'], ['GEORADIUS', 'g', '0', '0', '1', 'x'], ['GEORADIUS', 'g', '0', '0', '-0', 'km'],
    ['GEORADIUS', 'g', '0', '0', '1', 'km', 'COUNT'], ['GEORADIUS', 'g', '0', '0', '1', 'km', 'COUNT', 'x'], ['GEORADIUS', 'g', '0', '0', '1', 'km', 'COUNT', '0'],
    ['GEORADIUS', 'g', '0', '0', '1', 'km', 'COUNT', '-1'], ['GEORADIUS', 'g', '0', '0', '1', 'km', 'ANY'], ['GEORADIUS', 'g', '0', '0', '1', 'km', 'ANY', 'COUNT', 'x'],
    ['GEORADIUS', 'g', '0', '0', '1', 'km', 'STORE'], ['GEORADIUS', 'g', '0', '0', '1', 'km', 'STORE', 'd', 'WITHDIST'], ['GEORADIUS', 'g', '0', '0', '1', 'km', 'WITHHASH', 'STOREDIST', 'd'],
    ['GEORADIUS', 'g', '0', '0', '1', 'km', 'STORE', 'd', 'x'], ['GEORADIUS', 'g', '0', '0', '1', 'km', 'FROMMEMBER', 'ne'], ['GEORADIUS', 'g', '0', '0', '1', 'km', 'BYBOX', '1', '1', 'km'],
    ['GEORADIUS_RO', 'g', '0', '0', '1', 'km', 'STORE', 'd'], ['GEORADIUS_RO', 'g', '0', '0', '1', 'km', 'STOREDIST', 'd'], ['GEORADIUS', 'nokey', '0', '0', '1', 'km', 'STORE', 'str'],
    ['EXISTS', 'str'], ['SET', 'str', 'hello'], ['GEORADIUS', 'nokey', '0', '0', '1', 'km', 'ANY'], ['GEORADIUS', 'nokey', '0', '0', '1', 'km', 'x'],
    ['GEORADIUSBYMEMBER', 'str', 'x', '1', 'km'], ['GEORADIUSBYMEMBER', 'g', 'nope', 'x', 'km'], ['GEORADIUSBYMEMBER', 'g', 'ne', 'x', 'km'], ['GEORADIUSBYMEMBER', 'g', 'ne', '1', 'x'],
    ['GEORADIUSBYMEMBER', 'nokey', 'x', 'x', 'x'], ['GEORADIUSBYMEMBER', 'nokey', 'x', 'x', 'x', 'x'], ['GEORADIUSBYMEMBER', 'nokey', 'x', 'x', 'x', 'STORE', 'str'], ['EXISTS', 'str'],
    ['SET', 'str', 'hello'], ['GEORADIUSBYMEMBER_RO', 'g', 'ne', '1', 'km', 'STORE', 'd'],
    ['GEOSEARCH', 'str', 'FROMLONLAT', '0', '0', 'BYRADIUS', '1', 'km'], ['GEOSEARCH', 'g', 'FROMLONLAT', '0', '0'], ['GEOSEARCH', 'g', 'BYRADIUS', '1', 'km', 'ASC'],
    ['geosearch', 'g', 'BYRADIUS', '1', 'km', 'ASC'], ['GeoSearch', 'g', 'FROMLONLAT', '0', '0', 'ASC', 'DESC'], ['GEOSEARCH', 'g', 'FROMMEMBER', 'nope', 'BYRADIUS', '1', 'km'],
    ['GEOSEARCH', 'g', 'FROMMEMBER', 'ne', 'FROMLONLAT', '0', '0', 'BYRADIUS', '1', 'km'], ['GEOSEARCH', 'g', 'FROMLONLAT', '0', '0', 'FROMMEMBER', 'ne', 'BYRADIUS', '1', 'km'],
    ['GEOSEARCH', 'g', 'FROMMEMBER', 'ne', 'FROMMEMBER', 'sw', 'BYRADIUS', '1', 'km'], ['GEOSEARCH', 'g', 'FROMLONLAT', '1', '1', 'FROMLONLAT', '0', '0', 'BYRADIUS', '1', 'km'],
    ['GEOSEARCH', 'g', 'FROMLONLAT', '0', '0', 'BYRADIUS', '1', 'km', 'BYBOX', '1', '1', 'km'], ['GEOSEARCH', 'g', 'FROMLONLAT', '0', '0', 'BYBOX', '1', '1', 'km', 'BYRADIUS', '1', 'km'],
    ['GEOSEARCH', 'g', 'FROMLONLAT', '0', '0', 'BYRADIUS', '1', 'km', 'BYRADIUS', '2', 'km'], ['GEOSEARCH', 'g', 'FROMLONLAT', '0', '0', 'BYBOX', 'x', '1', 'km'],
    ['GEOSEARCH', 'g', 'FROMLONLAT', '0', '0', 'BYBOX', '1', 'x', 'km'], ['GEOSEARCH', 'g', 'FROMLONLAT', '0', '0', 'BYBOX', '-1', 'x', 'km'], ['GEOSEARCH', 'g', 'FROMLONLAT', '0', '0', 'BYBOX', '-1', '1', 'x'],
    ['GEOSEARCH', 'g', 'FROMLONLAT', '0', '0', 'BYBOX', '1', '1', 'x'], ['GEOSEARCH', 'g', 'FROMLONLAT', '0', '0', 'BYBOX', '1', '1'], ['GEOSEARCH', 'g', 'FROMLONLAT', '0', '0', 'BYRADIUS', '1'],
    ['GEOSEARCH', 'g', 'FROMLONLAT', '0', 'x', 'BYRADIUS', '1', 'km'], ['GEOSEARCH', 'g', 'FROMLONLAT', '0', '90', 'BYRADIUS', '1', 'km'], ['GEOSEARCH', 'g', 'FROMLONLAT', '0', '0', 'BYRADIUS', '-1', 'km'],
    ['GEOSEARCH', 'g', 'FROMLONLAT', '0', '0', 'BYRADIUS', '1', 'km', 'STORE', 'd'], ['GEOSEARCH', 'g', 'FROMLONLAT', '0', '0', 'BYRADIUS', '1', 'km', 'STOREDIST'],
    ['GEOSEARCH', 'g', 'FROMLONLAT', '0', '0', 'BYRADIUS', '1', 'km', 'ANY'], ['GEOSEARCH', 'g', 'FROMLONLAT', '0', '0', 'BYRADIUS', '1', 'km', 'COUNT', '0'],
    ['GEOSEARCH', 'nokey', 'FROMMEMBER', 'x', 'BYRADIUS', '1', 'km'], ['GEOSEARCH', 'nokey', 'FROMMEMBER', 'x'], ['GEOSEARCH', 'nokey', 'FROMMEMBER', 'x', 'BYRADIUS', 'x', 'km'],
    ['GEOSEARCH', 'g', 'FROMMEMBER', 'ne', 'BYRADIUS', '1', 'km', 'frommember'],
    ['GEOSEARCHSTORE', 'd', 'str', 'FROMLONLAT', '0', '0', 'BYRADIUS', '1', 'km'], ['GEOSEARCHSTORE', 'd', 'g', 'FROMLONLAT', '0', '0', 'BYRADIUS', '1', 'km', 'WITHDIST'],
    ['GEOSEARCHSTORE', 'd', 'g', 'FROMLONLAT', '0', '0', 'BYRADIUS', '1', 'km', 'STORE', 'x'], ['GEOSEARCHSTORE', 'd', 'g', 'FROMLONLAT', '0', '0', 'BYRADIUS', '1', 'km', 'WITHCOORD', 'ANY'],
    ['GEOSEARCHSTORE', 'd', 'g', 'BYRADIUS', '1', 'km', 'WITHCOORD'], ['GEOSEARCHSTORE', 'str', 'g', 'FROMLONLAT', '0', '0', 'BYRADIUS', '100000', 'km', 'STOREDIST'], ['TYPE', 'str'],
    ['ZRANGE', 'str', '0', '-1', 'WITHSCORES'], ['GEOSEARCHSTORE', 'str', 'g', 'FROMLONLAT', '0', '0', 'BYRADIUS', '1', 'm'], ['EXISTS', 'str'],
    ['GEOSEARCHSTORE', 'g', 'g', 'FROMMEMBER', 'ne', 'BYRADIUS', '100', 'km', 'STOREDIST'], ['ZRANGE', 'g', '0', '-1', 'WITHSCORES'],
    ['GEOSEARCHSTORE', 'l', 'nokey', 'FROMMEMBER', 'x', 'BYBOX', '1', '1', 'km'], ['EXISTS', 'l'],
    ['GEORADIUS', 'g', '0', '0', '1', 'km', 'STORE', 'x', 'STOREDIST', 'y'], ['EXISTS', 'x', 'y'],
    ['COMMAND', 'GETKEYS', 'GEORADIUS', 'k', '1', '2', '3', 'km', 'STORE', 'x', 'STOREDIST', 'y'], ['COMMAND', 'GETKEYS', 'GEORADIUS', 'k', '1', '2', 'STORE', 'x'],
    ['COMMAND', 'GETKEYS', 'GEORADIUSBYMEMBER', 'k', 'm', '3', 'km', 'storedist', 'x', 'store', 'y', 'store', 'z'], ['COMMAND', 'GETKEYS', 'GEOSEARCHSTORE', 'd', 's', 'FROMMEMBER', 'm', 'BYRADIUS', '1', 'm'],
    ['COMMAND', 'GETKEYS', 'GEORADIUS_RO', 'k', '1', '2', '3', 'km', 'STORE', 'x'],
  ];
  E.push(...errs);
  out.push(E);
  // The same replies in RESP3: doubles for coordinates, arrays of pairs.
  out.push([['HELLO', '3'], add, ['GEOPOS', 'g', 'ne', 'sw', 'nope'], ['GEODIST', 'g', 'ne', 'sw'], ['GEODIST', 'g', 'ne', 'nope'], ['GEOHASH', 'g', 'ne', 'nope'],
    ['GEOSEARCH', 'g', 'FROMLONLAT', '13', '38', 'BYRADIUS', '500', 'km', 'WITHCOORD', 'WITHDIST', 'WITHHASH', 'ASC'], ['GEORADIUS', 'nokey', '0', '0', '1', 'km'],
    ['GEOPOS', 'nokey', 'a'], ['HELLO', '2']]);
  return out;
}

module.exports = { geo };
