import { randomBytes } from 'node:crypto'
import { readdirSync, statSync } from 'node:fs'
import { basename, join } from 'node:path'
import type { PickedFile } from '../contract/index.ts'
import { StudioError } from '../core/errors.ts'

export interface RegisteredFile extends PickedFile {
  path: string
}

/**
 * The files and folders this session may read. The renderer never sends a path: it gets an
 * opaque `fileId` from a native dialog (Electron) or an upload (web mode), and only paths
 * registered here are read.
 */
export class FileRegistry {
  private readonly files = new Map<string, RegisteredFile>()

  register(path: string, kind: 'file' | 'folder', fileId = newFileId()): RegisteredFile {
    const file: RegisteredFile = { fileId, name: basename(path), size: sizeOf(path, kind), kind, path }
    this.files.set(fileId, file)
    return file
  }

  get(fileId: string): RegisteredFile {
    const file = this.files.get(fileId)
    if (!file) throw new StudioError('NOT_FOUND', `No picked file with id ${fileId}: pick or upload it again`)
    return file
  }

  /** Re-measure after an upload added files to a folder. */
  refresh(fileId: string): RegisteredFile {
    const file = this.get(fileId)
    file.size = sizeOf(file.path, file.kind)
    return file
  }
}

export const newFileId = () => randomBytes(12).toString('base64url')

function sizeOf(path: string, kind: 'file' | 'folder'): number {
  if (kind === 'file') return statSync(path).size
  let total = 0
  for (const entry of readdirSync(path, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.toLowerCase().endsWith('.txt')) {
      total += statSync(join(entry.parentPath, entry.name)).size
    }
  }
  return total
}
