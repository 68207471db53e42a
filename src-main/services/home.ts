import { homedir } from 'node:os'
import { join } from 'node:path'

/**
 * Where studio data lives: `--home DIR`, else STUDIO_HOME, else the OS app-data folder
 * (the same folder Electron's app.getPath('userData') gives for this app name).
 */
export function resolveHome(explicit?: string): string {
  if (explicit) return explicit
  if (process.env.STUDIO_HOME) return process.env.STUDIO_HOME
  const appName = 'BERT Studio'
  switch (process.platform) {
    case 'win32':
      return join(process.env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), appName)
    case 'darwin':
      return join(homedir(), 'Library', 'Application Support', appName)
    default:
      return join(process.env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), appName)
  }
}
