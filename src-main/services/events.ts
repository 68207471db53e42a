import type { EventName, EventPayload } from '../contract/index.ts'

/** (event, payload) pairs as a union, so checking `event` narrows `payload` at the call site. */
type Listener = (...args: { [E in EventName]: [event: E, payload: EventPayload<E>] }[EventName]) => void

/** Fan-out of contract events to every transport (Electron windows, web sockets, the CLI). */
export class EventBus {
  private readonly listeners = new Set<Listener>()

  emit<E extends EventName>(event: E, payload: EventPayload<E>): void {
    for (const listener of this.listeners) (listener as (event: E, payload: EventPayload<E>) => void)(event, payload)
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }
}
