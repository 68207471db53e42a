import { storage } from './storage.ts'

export type ThemeChoice = 'system' | 'light' | 'dark'
const KEY = 'bert-studio.theme'

/** Light, dark, or follow the system; applied as `data-theme` on <html> (CSS does the rest). */
export class Theme {
  choice = $state<ThemeChoice>('system')

  constructor() {
    const saved = storage.get(KEY)
    if (saved === 'light' || saved === 'dark') this.choice = saved
    this.apply()
  }

  set(choice: ThemeChoice): void {
    this.choice = choice
    storage.set(KEY, choice === 'system' ? null : choice)
    this.apply()
  }

  private apply(): void {
    const root = document.documentElement
    if (this.choice === 'system') delete root.dataset.theme
    else root.dataset.theme = this.choice
  }
}
