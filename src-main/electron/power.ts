/**
 * While a run trains, Electron keeps the machine from sleeping; when one ends, a desktop
 * notification says so. Thin over the narrow interfaces below, so it is tested without Electron.
 */
import type { EventPayload, RunStatus } from '../contract/index.ts'

/** The slice of Electron's powerSaveBlocker and Notification this module uses. */
export interface TrainingElectron {
  powerSaveBlocker: {
    start(type: 'prevent-app-suspension' | 'prevent-display-sleep'): number
    stop(id: number): void
  }
  Notification: {
    isSupported(): boolean
    new (options: { title: string; body: string; silent?: boolean }): { show(): void }
  }
}

interface Bus {
  subscribe(listener: (event: 'run.progress' | 'job.progress', payload: unknown) => void): () => void
}

const ENDINGS: Partial<Record<RunStatus, string>> = {
  done: 'Training finished',
  diverged: 'Training diverged',
  crashed: 'Training stopped with an error',
  cancelled: 'Training cancelled',
}

/**
 * Subscribes to run progress: holds a power-save blocker (app suspension, not the display) while
 * any run trains, and notifies when a run that was training ends. Returns the unsubscribe.
 */
export function watchTraining(bus: Bus, electron: TrainingElectron, describe: (runId: number) => { name: string } | null): () => void {
  const training = new Set<number>()
  let blocker: number | null = null
  const update = () => {
    if (training.size > 0 && blocker === null) blocker = electron.powerSaveBlocker.start('prevent-app-suspension')
    else if (training.size === 0 && blocker !== null) {
      electron.powerSaveBlocker.stop(blocker)
      blocker = null
    }
  }
  const unsubscribe = bus.subscribe((event, payload) => {
    if (event !== 'run.progress') return
    const progress = payload as EventPayload<'run.progress'>
    const wasTraining = training.has(progress.runId)
    if (progress.status === 'running') training.add(progress.runId)
    else training.delete(progress.runId)
    update()
    const title = ENDINGS[progress.status]
    if (wasTraining && title && electron.Notification.isSupported()) {
      const name = describe(progress.runId)?.name ?? `Run ${progress.runId}`
      const loss = progress.metrics.validation_loss ?? progress.metrics.loss
      const body = `${name}: step ${progress.step}${progress.totalSteps ? ` of ${progress.totalSteps}` : ''}${loss !== undefined ? `, loss ${loss.toPrecision(4)}` : ''}`
      new electron.Notification({ title, body }).show()
    }
  })
  return () => {
    unsubscribe()
    training.clear()
    update()
  }
}
