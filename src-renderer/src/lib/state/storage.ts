/** localStorage that never throws (it can be disabled, full, or absent in a sandbox). */
export const storage = {
  get(key: string): string | null {
    try {
      return localStorage.getItem(key)
    } catch {
      return null
    }
  },
  set(key: string, value: string | null): void {
    try {
      if (value === null) localStorage.removeItem(key)
      else localStorage.setItem(key, value)
    } catch {
      // Remembering is a convenience; losing it is fine.
    }
  },
}
