/** A small typed event emitter: listeners never throw into the emitter. */
export class TypedEmitter<Events extends object> {
  readonly #listeners = new Map<keyof Events, Set<(data: never) => void>>()
  readonly #any = new Set<(name: keyof Events, data: Events[keyof Events]) => void>()

  /** Subscribes to one event; returns the unsubscribe function. */
  on<E extends keyof Events>(event: E, listener: (data: Events[E]) => void): () => void {
    let set = this.#listeners.get(event)
    if (set === undefined) {
      set = new Set()
      this.#listeners.set(event, set)
    }
    set.add(listener as (data: never) => void)
    return () => set.delete(listener as (data: never) => void)
  }

  /** Subscribes to every event (used by hosts that forward all events to a window). */
  onAny(listener: <E extends keyof Events>(name: E, data: Events[E]) => void): () => void {
    const l = listener as (name: keyof Events, data: Events[keyof Events]) => void
    this.#any.add(l)
    return () => this.#any.delete(l)
  }

  emit<E extends keyof Events>(event: E, data: Events[E]): void {
    for (const l of this.#listeners.get(event) ?? []) {
      try {
        ;(l as (d: Events[E]) => void)(data)
      } catch {
        // A failing listener must not stop the node or the other listeners.
      }
    }
    for (const l of this.#any) {
      try {
        l(event, data)
      } catch {
        // as above
      }
    }
  }
}
