import type { AppInfo, Project } from '../../../../src-main/contract/index.ts'
import { api } from '../api.ts'
import { messageOf } from '../format.ts'
import type { StepId } from '../steps.ts'
import { storage } from './storage.ts'

const PROJECT_KEY = 'bert-studio.project'

/** The shell's state: app info, the projects, which one is open, which wizard step is shown. */
export class StudioState {
  info = $state.raw<AppInfo | null>(null)
  projects = $state.raw<Project[]>([])
  projectId = $state<number | null>(null)
  step = $state<StepId>('import')
  loading = $state(true)
  error = $state<string | null>(null)

  project = $derived(this.projects.find((project) => project.id === this.projectId) ?? null)

  async load(): Promise<void> {
    this.loading = true
    this.error = null
    try {
      const [info, projects] = await Promise.all([api.info(), api['projects.list']({})])
      this.info = info
      this.projects = projects
      const remembered = Number(storage.get(PROJECT_KEY))
      const chosen = projects.find((project) => project.id === remembered) ?? projects[0] ?? null
      this.projectId = chosen?.id ?? null
    } catch (error) {
      this.error = messageOf(error)
    } finally {
      this.loading = false
    }
  }

  async createProject(name: string): Promise<Project> {
    const project = await api['projects.create']({ name })
    this.projects = [...this.projects, project]
    this.select(project.id)
    return project
  }

  select(projectId: number): void {
    this.projectId = projectId
    storage.set(PROJECT_KEY, String(projectId))
  }

  /** Re-read the project list (corpus counts change after imports). */
  async refreshProjects(): Promise<void> {
    try {
      this.projects = await api['projects.list']({})
    } catch {
      // The list stays as it was; the next action will surface a real problem.
    }
  }
}
