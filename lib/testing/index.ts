// pmem/testing: the crash simulator and the kill harness.
export { CrashSim, IMAGE_KINDS, MAX_SIM_SIZE } from './sim';
export type { CrashSimOptions, ImageKind, SimMode } from './sim';
export { crashTest, replayCrash, MAX_VIOLATIONS } from './crash-test';
export type {
  CheckContext,
  CrashPointInfo,
  CrashReport,
  CrashTestOptions,
  OperationContext,
  ReplayResult,
  Violation,
} from './crash-test';
export { killTest } from './kill';
export type { KillReport, KillTestOptions, KillViolation } from './kill';
export type { KillContext } from './kill-child';
export { seededRandom } from './random';
export { spawnRetrying, SPAWN_PATIENCE_MS } from './spawn';
export type { SpawnRetryingOptions } from './spawn';
