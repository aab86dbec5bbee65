/**
 * Every migration of the gateway database, in order. Each feature adds its own file
 * (<timestamp>-<feature>.ts) and appends it here; never edit a migration that has landed.
 */
export const ALL_MIGRATIONS: (new () => unknown)[] = [];
