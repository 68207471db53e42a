import type { StepId } from '../steps.ts'

/**
 * A run one step hands to another ("Evaluate this run", "Try it in the playground"): the target
 * step takes it once, when shown, and keeps its own choice otherwise.
 */
export class RunHandoff {
  offers = $state.raw<Partial<Record<StepId, number>>>({})

  offer(step: StepId, runId: number): void {
    this.offers = { ...this.offers, [step]: runId }
  }

  /** The run offered to `step`, removed as it is taken; null when none waits. */
  take(step: StepId): number | null {
    const runId = this.offers[step]
    if (runId === undefined) return null
    const { [step]: _taken, ...rest } = this.offers
    this.offers = rest
    return runId
  }
}
