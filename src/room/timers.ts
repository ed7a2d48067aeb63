/** Timers as the room connection uses them: the timer half of a {@link Clock} (docs/architecture.md §Style 2). */
import { SYSTEM_CLOCK, type Clock } from '../util/clock.js';

export type Timers = Pick<Clock, 'setTimeout' | 'clearTimeout'>;

export const NODE_TIMERS: Timers = SYSTEM_CLOCK;
