import { describe, expect, it } from 'vitest'
import type { RunProgress } from '../../../src-main/contract/index.ts'
import { watchTraining, type TrainingElectron } from '../../../src-main/electron/power.ts'
import { EventBus } from '../../../src-main/services/events.ts'

function fakeElectron() {
  const calls: string[] = []
  const shown: { title: string; body: string }[] = []
  let next = 1
  const electron: TrainingElectron = {
    powerSaveBlocker: {
      start: (type) => {
        calls.push(`start ${type}`)
        return next++
      },
      stop: (id) => void calls.push(`stop ${id}`),
    },
    Notification: class {
      static isSupported = () => true
      constructor(private readonly options: { title: string; body: string }) {}
      show() {
        shown.push(this.options)
      }
    },
  }
  return { electron, calls, shown }
}

const progress = (runId: number, status: RunProgress['status'], metrics: Record<string, number> = {}): RunProgress => ({
  runId,
  status,
  phase: status === 'running' ? 'Training' : 'Stopped',
  step: 10,
  totalSteps: 30,
  etaSeconds: null,
  metrics,
})

describe('training in Electron', () => {
  it('keeps the machine awake while any run trains and notifies when one ends', () => {
    const bus = new EventBus()
    const { electron, calls, shown } = fakeElectron()
    const stop = watchTraining(bus, electron, (runId) => ({ name: `run ${runId}` }))
    bus.emit('run.progress', progress(1, 'queued'))
    expect(calls).toEqual([])
    bus.emit('run.progress', progress(1, 'running'))
    bus.emit('run.progress', progress(1, 'running'))
    expect(calls).toEqual(['start prevent-app-suspension'])
    bus.emit('run.progress', progress(1, 'paused'))
    expect(calls).toEqual(['start prevent-app-suspension', 'stop 1'])
    // A pause is not an ending: no notification.
    expect(shown).toEqual([])
    bus.emit('run.progress', progress(2, 'running'))
    bus.emit('run.progress', progress(2, 'done', { loss: 2.5, validation_loss: 2.25 }))
    expect(calls).toEqual(['start prevent-app-suspension', 'stop 1', 'start prevent-app-suspension', 'stop 2'])
    expect(shown).toEqual([{ title: 'Training finished', body: 'run 2: step 10 of 30, loss 2.250' }])
    // A run that never trained here (cancelled while queued) ends silently.
    bus.emit('run.progress', progress(3, 'cancelled'))
    expect(shown).toHaveLength(1)
    bus.emit('run.progress', progress(4, 'running'))
    stop()
    expect(calls.at(-1)).toBe('stop 3')
  })
})
