// Where balancing reads the time: the peak-EWMA's decay and slow start's ramps take it from a
// Clock handed in rather than from performance.now() directly, so that tests and the fleet
// simulation (bench/fleet-sim.ts) can drive them with time of their own.

/** Milliseconds on a clock that never goes back (performance.now()'s unit). */
export type Clock = () => number

export const systemClock: Clock = () => performance.now()
