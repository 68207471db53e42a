import type { Corpus, DocumentPage } from '../../../../src-main/contract/index.ts'
import { api } from '../api.ts'
import { messageOf } from '../format.ts'

export const PAGE_SIZE = 25
const SEARCH_DELAY_MS = 250

/**
 * A project's corpora and the one being viewed. Only one page of documents is ever held, so a
 * corpus of a million documents costs the same as one of fifty.
 */
export class CorporaState {
  projectId = $state<number | null>(null)
  list = $state.raw<Corpus[]>([])
  selectedId = $state<number | null>(null)
  query = $state('')
  offset = $state(0)
  page = $state.raw<DocumentPage | null>(null)
  loadingPage = $state(false)
  error = $state<string | null>(null)

  selected = $derived(this.list.find((corpus) => corpus.id === this.selectedId) ?? null)
  pageCount = $derived(this.page ? Math.max(1, Math.ceil(this.page.total / PAGE_SIZE)) : 1)
  pageNumber = $derived(Math.floor(this.offset / PAGE_SIZE) + 1)

  private pageRequest = 0
  private searchTimer: ReturnType<typeof setTimeout> | null = null

  async load(projectId: number | null): Promise<void> {
    this.projectId = projectId
    this.list = []
    this.selectedId = null
    this.page = null
    this.error = null
    if (projectId === null) return
    try {
      const list = await api['corpora.list']({ projectId })
      if (this.projectId !== projectId) return
      this.list = list
      const first = list.at(-1)
      if (first) await this.select(first.id)
    } catch (error) {
      this.error = messageOf(error)
    }
  }

  async select(corpusId: number | null): Promise<void> {
    this.selectedId = corpusId
    this.query = ''
    this.offset = 0
    this.page = null
    if (corpusId !== null) await this.fetchPage()
  }

  /** A new corpus (just imported) joins the list and is shown. */
  async add(corpus: Corpus): Promise<void> {
    this.list = [...this.list.filter((item) => item.id !== corpus.id), corpus]
    await this.select(corpus.id)
  }

  /** Debounced: typing a word asks once, not once per key. */
  search(query: string): void {
    this.query = query
    if (this.searchTimer) clearTimeout(this.searchTimer)
    this.searchTimer = setTimeout(() => {
      this.searchTimer = null
      this.offset = 0
      void this.fetchPage()
    }, SEARCH_DELAY_MS)
  }

  goTo(offset: number): void {
    const total = this.page?.total ?? 0
    this.offset = Math.max(0, Math.min(offset, Math.max(0, total - 1)))
    this.offset -= this.offset % PAGE_SIZE
    void this.fetchPage()
  }

  async fetchPage(): Promise<void> {
    const corpusId = this.selectedId
    if (corpusId === null) return
    const request = ++this.pageRequest
    this.loadingPage = true
    try {
      const page = await api['corpora.documents']({ corpusId, query: this.query, offset: this.offset, limit: PAGE_SIZE })
      if (request !== this.pageRequest) return
      this.page = page
      this.error = null
    } catch (error) {
      if (request === this.pageRequest) this.error = messageOf(error)
    } finally {
      if (request === this.pageRequest) this.loadingPage = false
    }
  }

  async rename(corpusId: number, name: string): Promise<void> {
    const renamed = await api['corpora.rename']({ corpusId, name })
    this.list = this.list.map((corpus) => (corpus.id === corpusId ? renamed : corpus))
  }

  async remove(corpusId: number): Promise<void> {
    await api['corpora.delete']({ corpusId })
    this.list = this.list.filter((corpus) => corpus.id !== corpusId)
    if (this.selectedId === corpusId) await this.select(this.list.at(-1)?.id ?? null)
  }
}
