/**
 * The learning-rate schedule: linear warm-up from 0 to the peak, then linear decay to 0 at the
 * last step — Hugging Face's `get_linear_schedule_with_warmup`, which is also BERT's
 * (`polynomial_decay` with power 1 after `warmup_proportion` of the steps), except that BERT decays
 * from step 0 where Hugging Face decays from the end of warm-up. We follow Hugging Face.
 */
import { StudioError } from '../errors.ts'

export interface ScheduleConfig {
  /** Fraction of the total steps spent warming up (BERT's `warmup_proportion`). */
  readonly warmupFraction: number
}

/** The schedule's own defaults (minGPT's `get_default_config`): 10% warm-up. */
export const scheduleDefaults: ScheduleConfig = { warmupFraction: 0.1 }

/** Warm-up steps for a run of `totalSteps` (BERT: `int(num_train_steps * warmup_proportion)`). */
export function warmupSteps(schedule: ScheduleConfig, totalSteps: number): number {
  return Math.floor(totalSteps * schedule.warmupFraction)
}

/**
 * The learning rate of the update with 0-based index `step` (the schedule's step: how many updates
 * came before). As in Hugging Face, the first update of a warm-up runs at 0.
 */
export function learningRateAt(peak: number, schedule: ScheduleConfig, totalSteps: number, step: number): number {
  if (!Number.isInteger(totalSteps) || totalSteps < 1) {
    throw new StudioError('VALIDATION', `The total number of steps is ${totalSteps}, expected an integer ≥ 1`)
  }
  const warmup = warmupSteps(schedule, totalSteps)
  if (step < warmup) return (peak * step) / Math.max(1, warmup)
  return peak * Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmup))
}
