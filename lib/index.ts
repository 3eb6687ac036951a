export { PmemError } from './errors';
export type { PmemErrorCode, PmemErrorDetails } from './errors';
export type { Granularity, Region } from './region';
export { Mapping, openMapping } from './mapping';
export type { DurabilityMode, MapOptions } from './mapping';
export { defaultLocation, daxMounts, EMULATED_BANNER } from './location';
export type { DefaultLocation } from './location';
export { crc32c } from './crc32c';
