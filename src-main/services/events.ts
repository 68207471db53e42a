import type { EventName, EventPayload } from '../contract/index.ts'

type Listener = <E extends EventName>(event: E, payload: EventPayload<E>) => void

/** Fan-out of contract events to every transport (Electron windows, web sockets, the CLI). */
export class EventBus {
  private readonly listeners = new Set<Listener>()

  emit<E extends EventName>(event: E, payload: EventPayload<E>): void {
    for (const listener of this.listeners) listener(event, payload)
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }
}
