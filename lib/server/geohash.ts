// The geohash arithmetic of the geo commands, as Redis 7.0 computes it
// (geohash.c, geohash_helper.c): a point is a 52-bit integer whose even bits
// are its latitude's 26 and whose odd bits are its longitude's, within
// -180..180 and -85.05112878..85.05112878 (Web Mercator's limits). That
// integer, as a double, is the point's sorted-set score. A search covers its
// shape with the geohash box at a step (bits per axis) its size decides and
// the box's eight neighbours, each a range of scores. Every formula and the
// order of its operations is Redis's, so that scores, decoded coordinates,
// the boxes searched and the distances are the same doubles. sin, cos and
// asin are the C library's (native/core/libm.cc): V8's differ from glibc's in
// the last bit for a few percent of arguments.
import { binding } from '../core/binding';

export const LON_MIN = -180;
export const LON_MAX = 180;
export const LAT_MIN = -85.05112878;
export const LAT_MAX = 85.05112878;
/** Redis's GEO_STEP_MAX: 26 bits per axis, 52 in all. */
export const STEP_MAX = 26;

const D_R = Math.PI / 180.0;
const EARTH_RADIUS_IN_METERS = 6372797.560856;
const MERCATOR_MAX = 20037726.37;
const TWO32 = 2 ** 32;
const TWO63 = 2 ** 63;

const { libmSin: sin, libmCos: cos, libmAsin: asin } = binding;

const degRad = (ang: number): number => ang * D_R;
const radDeg = (ang: number): number => ang / D_R;

/** A coordinate range: longitudes or latitudes. */
export interface Range {
  min: number;
  max: number;
}

const LON: Range = { min: LON_MIN, max: LON_MAX };
const LAT: Range = { min: LAT_MIN, max: LAT_MAX };

/** A geohash of `step` bits per axis (interleaved, latitude in the even bits). */
export interface HashBits {
  bits: bigint;
  step: number;
}

/** Spreads the 16 bits of `v` to the even bits of a 32-bit word. */
function spread16(v: number): number {
  v = (v | (v << 8)) & 0x00ff00ff;
  v = (v | (v << 4)) & 0x0f0f0f0f;
  v = (v | (v << 2)) & 0x33333333;
  return (v | (v << 1)) & 0x55555555;
}

/** The even bits of a 32-bit word, packed into 16. */
function compact16(w: number): number {
  let v = w & 0x55555555;
  v = (v | (v >>> 1)) & 0x33333333;
  v = (v | (v >>> 2)) & 0x0f0f0f0f;
  v = (v | (v >>> 4)) & 0x00ff00ff;
  return (v | (v >>> 8)) & 0x0000ffff;
}

/** interleave64: x's bits to the even positions, y's to the odd; as [high word, low word]. */
function interleave(x: number, y: number): [number, number] {
  const lo = (spread16(x & 0xffff) | (spread16(y & 0xffff) << 1)) >>> 0;
  const hi = (spread16(x >>> 16) | (spread16(y >>> 16) << 1)) >>> 0;
  return [hi, lo];
}

/** deinterleave64 of a 64-bit word given as [high, low]: [even bits (latitude), odd bits (longitude)], each 32 bits. */
function deinterleave(hi: number, lo: number): [number, number] {
  const lat = (compact16(lo) | (compact16(hi) << 16)) >>> 0;
  const lon = (compact16(lo >>> 1) | (compact16(hi >>> 1) << 16)) >>> 0;
  return [lat, lon];
}

/**
 * geohashEncode's fixed point: the offsets of (lon, lat) in the ranges at
 * `step` bits, interleaved, as [high, low] words; null outside the limits.
 */
function encodeWords(lonR: Range, latR: Range, lon: number, lat: number, step: number): [number, number] | null {
  if (lon > LON_MAX || lon < LON_MIN || lat > LAT_MAX || lat < LAT_MIN) return null;
  if (lat < latR.min || lat > latR.max || lon < lonR.min || lon > lonR.max) return null;
  let latOffset = (lat - latR.min) / (latR.max - latR.min);
  let lonOffset = (lon - lonR.min) / (lonR.max - lonR.min);
  latOffset *= 2 ** step;
  lonOffset *= 2 ** step;
  // C converts each to a uint32_t, truncating: an offset of exactly 2^step (the range's top) stays 2^step.
  return interleave(Math.trunc(latOffset), Math.trunc(lonOffset));
}

/**
 * A point's score: its 52-bit geohash as a double, as GEOADD stores it
 * (the integer is at most 2^53 + 2^52; above 2^53 it rounds to a double
 * as strtod rounds its decimal). Null outside the limits.
 */
export function encodeScore(lon: number, lat: number): number | null {
  const w = encodeWords(LON, LAT, lon, lat, STEP_MAX);
  return w === null ? null : w[0] * TWO32 + w[1];
}

/** A geohash of `step` bits of (lon, lat) in Redis's ranges, or null outside them. */
function encodeHash(lonR: Range, latR: Range, lon: number, lat: number, step: number): HashBits | null {
  const w = encodeWords(lonR, latR, lon, lat, step);
  return w === null ? null : { bits: (BigInt(w[0]) << 32n) | BigInt(w[1]), step };
}

/**
 * C's conversion of a score to uint64_t on x86-64, as [high, low] words: a
 * truncation; a negative number wraps (two's complement), one below -2^63
 * is 2^63, and 2^64 or more (or an infinity) is 0.
 */
function u64Words(x: number): [number, number] {
  if (!(x < TWO63)) {
    if (x - TWO63 < TWO63) {
      const hi = Math.floor(x / TWO32);
      return [hi, x - hi * TWO32];
    }
    return [0, 0];
  }
  const t = Math.trunc(x);
  if (t < -TWO63) return [0x80000000, 0];
  if (t >= 0) {
    const hi = Math.floor(t / TWO32);
    return [hi, t - hi * TWO32];
  }
  const u = BigInt.asUintN(64, BigInt(t));
  return [Number(u >> 32n), Number(u & 0xffffffffn)];
}

/** A decoded geohash box. */
export interface Area {
  lon: Range;
  lat: Range;
}

/** geohashDecode: the box of the latitude and longitude offsets at `step` bits. */
function decodeOffsets(ilat: number, ilon: number, step: number): Area {
  const scale = 2 ** step;
  const latScale = LAT.max - LAT.min;
  const lonScale = LON.max - LON.min;
  // (ilato + 1) is uint32_t arithmetic in C: 2^32 - 1 wraps to 0.
  return {
    lat: { min: LAT.min + (ilat * 1.0 / scale) * latScale, max: LAT.min + (((ilat + 1) >>> 0) * 1.0 / scale) * latScale },
    lon: { min: LON.min + (ilon * 1.0 / scale) * lonScale, max: LON.min + (((ilon + 1) >>> 0) * 1.0 / scale) * lonScale },
  };
}

function decodeHash(h: HashBits): Area {
  const [ilat, ilon] = deinterleave(Number(h.bits >> 32n), Number(h.bits & 0xffffffffn));
  return decodeOffsets(ilat, ilon, h.step);
}

/**
 * The point a score stands for (decodeGeohash): its box's centre, clamped
 * to the limits; any score decodes, as in Redis. @returns [lon, lat]
 */
export function decodeScore(score: number): [number, number] {
  const [hi, lo] = u64Words(score);
  const [ilat, ilon] = deinterleave(hi, lo);
  const a = decodeOffsets(ilat, ilon, STEP_MAX);
  let lon = (a.lon.min + a.lon.max) / 2;
  if (lon > LON_MAX) lon = LON_MAX;
  if (lon < LON_MIN) lon = LON_MIN;
  let lat = (a.lat.min + a.lat.max) / 2;
  if (lat > LAT_MAX) lat = LAT_MAX;
  if (lat < LAT_MIN) lat = LAT_MIN;
  return [lon, lat];
}

const GEOALPHABET = '0123456789bcdefghjkmnpqrstuvwxyz';

/**
 * GEOHASH's string of a score: the decoded point encoded again in the
 * standard ranges (latitude -90..90), 10 characters of 5 bits and a final
 * '0' (52 bits make 10.4 characters).
 */
export function geohashString(score: number): string {
  const [lon, lat] = decodeScore(score);
  const h = encodeHash({ min: -180, max: 180 }, { min: -90, max: 90 }, lon, lat, STEP_MAX);
  const bits = h?.bits ?? 0n;
  let out = '';
  for (let i = 0; i < 10; i++) out += GEOALPHABET[Number((bits >> BigInt(52 - (i + 1) * 5)) & 0x1fn)];
  return `${out}0`;
}

const EVEN = 0xaaaaaaaaaaaaaaaan; // the longitude bits (odd positions, counting from 0)
const ODD = 0x5555555555555555n;
const U64 = (1n << 64n) - 1n;

/** geohash_move_x: one box east (d > 0) or west, wrapping around the antimeridian. */
function moveX(h: HashBits, d: number): HashBits {
  let x = h.bits & EVEN;
  const y = h.bits & ODD;
  const zz = ODD >> BigInt(64 - h.step * 2);
  if (d > 0) x = x + (zz + 1n);
  else {
    x = x | zz;
    x = (x - (zz + 1n)) & U64;
  }
  x &= EVEN >> BigInt(64 - h.step * 2);
  return { bits: x | y, step: h.step };
}

/** geohash_move_y: one box north (d > 0) or south, wrapping from one limit to the other. */
function moveY(h: HashBits, d: number): HashBits {
  const x = h.bits & EVEN;
  let y = h.bits & ODD;
  const zz = EVEN >> BigInt(64 - h.step * 2);
  if (d > 0) y = y + (zz + 1n);
  else {
    y = y | zz;
    y = (y - (zz + 1n)) & U64;
  }
  y &= ODD >> BigInt(64 - h.step * 2);
  return { bits: x | y, step: h.step };
}

/** A search shape: a circle (radius) or a box (width, height), in `conversion` units of a meter, around (lon, lat). */
export interface Shape {
  lon: number;
  lat: number;
  conversion: number;
  radius?: number;
  width?: number;
  height?: number;
}

/** geohashEstimateStepsByRadius: the step whose boxes are about the radius's size (fewer bits near the poles). */
function stepsByRadius(rangeMeters: number, lat: number): number {
  if (rangeMeters === 0) return 26;
  let step = 1;
  while (rangeMeters < MERCATOR_MAX) {
    rangeMeters *= 2;
    step++;
  }
  step -= 2;
  if (lat > 66 || lat < -66) {
    step--;
    if (lat > 80 || lat < -80) step--;
  }
  if (step < 1) step = 1;
  if (step > 26) step = 26;
  return step;
}

/** geohashBoundingBox: [min lon, min lat, max lon, max lat] of the shape (wider on the side nearer a pole). */
function boundingBox(s: Shape): [number, number, number, number] {
  const circle = s.radius !== undefined;
  const height = s.conversion * (circle ? (s.radius as number) : (s.height as number) / 2);
  const width = s.conversion * (circle ? (s.radius as number) : (s.width as number) / 2);
  const latDelta = radDeg(height / EARTH_RADIUS_IN_METERS);
  const lonDeltaTop = radDeg(width / EARTH_RADIUS_IN_METERS / cos(degRad(s.lat + latDelta)));
  const lonDeltaBottom = radDeg(width / EARTH_RADIUS_IN_METERS / cos(degRad(s.lat - latDelta)));
  const south = s.lat < 0;
  return [south ? s.lon - lonDeltaBottom : s.lon - lonDeltaTop, s.lat - latDelta, south ? s.lon + lonDeltaBottom : s.lon + lonDeltaTop, s.lat + latDelta];
}

/**
 * geohashCalculateAreasByShapeWGS84: the boxes to search, in Redis's order
 * (the centre, then north, south, east, west, north-east, north-west,
 * south-east, south-west); null for a neighbour left out as useless.
 */
export function searchBoxes(s: Shape): (HashBits | null)[] {
  const [minLon, minLat, maxLon, maxLat] = boundingBox(s);
  let radiusMeters = s.radius !== undefined ? s.radius : Math.sqrt(((s.width as number) / 2) * ((s.width as number) / 2) + ((s.height as number) / 2) * ((s.height as number) / 2));
  radiusMeters *= s.conversion;
  let steps = stepsByRadius(radiusMeters, s.lat);
  // The centre is inside the limits (the commands check it): it encodes.
  let hash = encodeHash(LON, LAT, s.lon, s.lat, steps) as HashBits;
  let n = neighbours(hash);
  let area = decodeHash(hash);
  // A box at the edge of the shape may be too small to reach past it: one step less.
  const north = decodeHash(n.north);
  const south = decodeHash(n.south);
  const east = decodeHash(n.east);
  const west = decodeHash(n.west);
  const decrease = north.lat.max < maxLat || south.lat.min > minLat || east.lon.max < maxLon || west.lon.min > minLon;
  if (steps > 1 && decrease) {
    steps--;
    hash = encodeHash(LON, LAT, s.lon, s.lat, steps) as HashBits;
    n = neighbours(hash);
    area = decodeHash(hash);
  }
  const out: Record<string, HashBits | null> = { ...n };
  if (steps >= 2) {
    if (area.lat.min < minLat) out.south = out.south_west = out.south_east = null;
    if (area.lat.max > maxLat) out.north = out.north_east = out.north_west = null;
    if (area.lon.min < minLon) out.west = out.south_west = out.north_west = null;
    if (area.lon.max > maxLon) out.east = out.south_east = out.north_east = null;
  }
  return [hash, out.north, out.south, out.east, out.west, out.north_east, out.north_west, out.south_east, out.south_west];
}

function neighbours(h: HashBits): Record<'north' | 'south' | 'east' | 'west' | 'north_east' | 'north_west' | 'south_east' | 'south_west', HashBits> {
  return {
    east: moveX(h, 1),
    west: moveX(h, -1),
    south: moveY(h, -1),
    north: moveY(h, 1),
    north_west: moveY(moveX(h, -1), 1),
    north_east: moveY(moveX(h, 1), 1),
    south_east: moveY(moveX(h, 1), -1),
    south_west: moveY(moveX(h, -1), -1),
  };
}

/** scoresOfGeoHashBox: the scores [min, max) of the points inside a box. */
export function boxScores(h: HashBits): [number, number] {
  const shift = BigInt(52 - h.step * 2);
  return [Number(h.bits << shift), Number((h.bits + 1n) << shift)];
}

/** geohashGetLatDistance: meters between two latitudes on a meridian. */
function latDistance(lat1d: number, lat2d: number): number {
  return EARTH_RADIUS_IN_METERS * Math.abs(degRad(lat2d) - degRad(lat1d));
}

/** geohashGetDistance: the haversine distance in meters. */
export function distance(lon1d: number, lat1d: number, lon2d: number, lat2d: number): number {
  const lon1r = degRad(lon1d);
  const lon2r = degRad(lon2d);
  const v = sin((lon2r - lon1r) / 2);
  if (v === 0.0) return latDistance(lat1d, lat2d);
  const lat1r = degRad(lat1d);
  const lat2r = degRad(lat2d);
  const u = sin((lat2r - lat1r) / 2);
  const a = u * u + cos(lat1r) * cos(lat2r) * v * v;
  return 2.0 * EARTH_RADIUS_IN_METERS * asin(Math.sqrt(a));
}

/** geoWithinShape: the point's distance from the shape's centre in meters when it is inside, else null. */
export function withinShape(s: Shape, lon: number, lat: number): number | null {
  if (s.radius !== undefined) {
    const d = distance(s.lon, s.lat, lon, lat);
    return d > s.radius * s.conversion ? null : d;
  }
  // geohashGetDistanceIfInRectangle: the latitude's distance first (cheaper), then the longitude's along the point's parallel.
  const widthM = (s.width as number) * s.conversion;
  const heightM = (s.height as number) * s.conversion;
  if (latDistance(lat, s.lat) > heightM / 2) return null;
  if (distance(lon, lat, s.lon, lat) > widthM / 2) return null;
  return distance(s.lon, s.lat, lon, lat);
}
