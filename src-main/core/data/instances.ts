/**
 * Pre-training instances from a token cache, the recipe of google-research/bert
 * `create_pretraining_data.py`: sentences accumulate into chunks of a target length (shorter with
 * probability `shortSeqProb`), each chunk splits at a random sentence into A and B, B is the true
 * continuation half the time and otherwise text from another document (the unused sentences go
 * back), the pair is truncated longest-first from a random end, and 15% of tokens are chosen for
 * prediction (80% [MASK], 10% a random token, 10% unchanged).
 *
 * Differences from the reference, on purpose:
 * - Instances are made while training, not written once with `dupe_factor` copies: each epoch
 *   redraws pairs and masks. Everything about a document's instances in an epoch comes from
 *   streams derived from (seed, epoch, document), so they are a pure function of those, and a
 *   position `{epoch, documentCursor, instanceInDocument}` resumes exactly.
 * - A pair is planned from sentence lengths alone (the index is in memory) and becomes tokens only
 *   when it is batched: A and B are each one contiguous token range, one read each.
 * - The short target is drawn per chunk (the reference draws it once per document, so a long
 *   document is either all short or all full); either way ~10% of instances are short.
 * - The random document is always another document of the same split (the reference tries 10
 *   times and may keep the same one); a random replacement token is never a special token; with
 *   whole-word masking a `##` piece joins only the token right before it in the same segment.
 * - The reference shuffles all instances of the corpus; we shuffle per epoch the document order,
 *   then the instances of a window of `shuffleWindowDocuments` documents together, so a batch
 *   mixes documents. `instanceInDocument` counts instances already taken from the window that
 *   starts at `documentCursor` (with a window of 1 it is literally the document).
 * - `round` is JavaScript's (half up), Python's rounds half to even: max(1, round(n × 0.15)).
 */
import { badInput } from '../errors.ts'
import { CLS, CONTINUING_PREFIX, MASK, PAD, SEP, SPECIAL_TOKENS } from '../tokenizer/format.ts'
import type { PretrainBatch } from '../train/types.ts'
import { hashKeys, Rng } from './rng.ts'
import type { TokenCache } from './token-cache.ts'

export interface PretrainDataConfig {
  /** max_seq_length: [CLS] A [SEP] B [SEP] and padding. */
  readonly seqLength: number
  /** max_predictions_per_seq; null: round(seqLength × maskedLmProb). */
  readonly maxPredictionsPerSeq: number | null
  readonly maskedLmProb: number
  readonly shortSeqProb: number
  /** Choose a word's `##` pieces together (BERT's whole-word-masking models). */
  readonly wholeWordMask: boolean
  readonly seed: number
  /** Held-out fraction of documents (by a stable hash of the document index, independent of the seed). */
  readonly validationFraction: number
  /** Documents whose instances are shuffled together (1: document by document). */
  readonly shuffleWindowDocuments: number
}

export const pretrainDataDefaults: PretrainDataConfig = {
  seqLength: 128,
  maxPredictionsPerSeq: null,
  maskedLmProb: 0.15,
  shortSeqProb: 0.1,
  wholeWordMask: false,
  seed: 12345,
  validationFraction: 0.01,
  shuffleWindowDocuments: 64,
}

/** Defaults filled in and every field checked; an unknown key is an error (STYLE 1). */
export function resolvePretrainDataConfig(partial: Partial<PretrainDataConfig> = {}): PretrainDataConfig {
  for (const key of Object.keys(partial)) if (!(key in pretrainDataDefaults)) throw badInput(`pre-training data config has unknown field "${key}"; expected one of ${Object.keys(pretrainDataDefaults).join(', ')}`)
  const config = { ...pretrainDataDefaults, ...partial }
  const integer = (field: keyof PretrainDataConfig, min: number) => {
    const value = config[field]
    if (!(typeof value === 'number' && Number.isInteger(value) && value >= min)) throw badInput(`pre-training data config ${field} is ${value}, expected an integer ≥ ${min}`)
  }
  const probability = (field: keyof PretrainDataConfig) => {
    const value = config[field]
    if (!(typeof value === 'number' && value >= 0 && value <= 1)) throw badInput(`pre-training data config ${field} is ${value}, expected a number in [0, 1]`)
  }
  integer('seqLength', 8)
  if (config.maxPredictionsPerSeq !== null) integer('maxPredictionsPerSeq', 1)
  probability('maskedLmProb')
  probability('shortSeqProb')
  probability('validationFraction')
  if (!Number.isSafeInteger(config.seed)) throw badInput(`pre-training data config seed is ${config.seed}, expected a safe integer`)
  integer('shuffleWindowDocuments', 1)
  if (typeof config.wholeWordMask !== 'boolean') throw badInput(`pre-training data config wholeWordMask is ${config.wholeWordMask}, expected true or false`)
  return config
}

export const maxPredictionsOf = (config: PretrainDataConfig): number => config.maxPredictionsPerSeq ?? Math.max(1, Math.round(config.seqLength * config.maskedLmProb))

/** Where the training stream stands; plain JSON, saved with a checkpoint. */
export interface DataPosition {
  readonly epoch: number
  /** Index into the epoch's shuffled order of training documents where the current window starts. */
  readonly documentCursor: number
  /** Instances already taken from that window. */
  readonly instanceInDocument: number
}

export const startPosition: DataPosition = { epoch: 0, documentCursor: 0, instanceInDocument: 0 }

/** What the generator needs from a tokenizer: its vocabulary (BertTokenizer has it). */
export interface DataVocabulary {
  readonly vocab: readonly string[]
}

/** One planned instance: token ranges of the cache, before specials and masking. */
export interface InstancePlan {
  readonly document: number
  /** Index of this instance among its document's instances in the epoch. */
  readonly index: number
  readonly aStart: number
  readonly aEnd: number
  readonly bStart: number
  readonly bEnd: number
  readonly isRandomNext: boolean
  /** The chunk drew a short target length. */
  readonly isShort: boolean
}

/** Training and validation documents (indices of non-empty documents, ascending). */
export interface DocumentSplit {
  readonly training: Int32Array
  readonly validation: Int32Array
}

const SPLIT_SALT = 'bert-studio-validation-split'
const VALIDATION_SEED = 0x5eed

/**
 * Held-out documents: those whose stable hash falls under `fraction`; at least one when there are
 * two or more non-empty documents, and never all of them. Empty documents are in neither.
 */
export function splitDocuments(cache: TokenCache, fraction: number): DocumentSplit {
  const starts = cache.documentSentences
  const training: number[] = []
  const validation: number[] = []
  let lowest = -1
  let lowestHash = Infinity
  let highest = -1
  let highestHash = -1
  for (let d = 0; d < cache.documentCount; d++) {
    if (starts[d + 1] === starts[d]) continue
    const h = hashKeys(SPLIT_SALT, d)
    if (h < lowestHash) [lowest, lowestHash] = [d, h]
    if (h > highestHash) [highest, highestHash] = [d, h]
    ;(h / 4294967296 < fraction ? validation : training).push(d)
  }
  const nonEmpty = training.length + validation.length
  if (nonEmpty >= 2 && validation.length === 0 && fraction > 0) {
    validation.push(lowest)
    training.splice(training.indexOf(lowest), 1)
  }
  if (nonEmpty >= 1 && training.length === 0) {
    training.push(highest)
    validation.splice(validation.indexOf(highest), 1)
  }
  return { training: Int32Array.from(training), validation: Int32Array.from(validation) }
}

/** A set of documents to draw random B segments from. */
class DocumentPool {
  private readonly positionOf: Int32Array

  constructor(
    readonly documents: Int32Array,
    documentCount: number,
  ) {
    this.positionOf = new Int32Array(documentCount).fill(-1)
    documents.forEach((document, position) => (this.positionOf[document] = position))
  }

  /** A uniformly random document of the pool other than `document` (itself when it is alone). */
  other(document: number, rng: Rng): number {
    const n = this.documents.length
    const own = this.positionOf[document] ?? -1
    if (own < 0) return this.documents[rng.int(n)]!
    if (n === 1) return document
    const pick = rng.int(n - 1)
    return this.documents[pick >= own ? pick + 1 : pick]!
  }
}

/** Plans are kept flat: 8 numbers each. */
const PLAN_FIELDS = 8

class PlanList {
  data = new Float64Array(64 * PLAN_FIELDS)
  length = 0

  push(document: number, index: number, aStart: number, aEnd: number, bStart: number, bEnd: number, isRandomNext: boolean, isShort: boolean): void {
    if ((this.length + 1) * PLAN_FIELDS > this.data.length) {
      const bigger = new Float64Array(this.data.length * 2)
      bigger.set(this.data)
      this.data = bigger
    }
    const at = this.length++ * PLAN_FIELDS
    const data = this.data
    data[at] = document
    data[at + 1] = index
    data[at + 2] = aStart
    data[at + 3] = aEnd
    data[at + 4] = bStart
    data[at + 5] = bEnd
    data[at + 6] = isRandomNext ? 1 : 0
    data[at + 7] = isShort ? 1 : 0
  }

  get(i: number): InstancePlan {
    const at = i * PLAN_FIELDS
    const d = this.data
    return { document: d[at]!, index: d[at + 1]!, aStart: d[at + 2]!, aEnd: d[at + 3]!, bStart: d[at + 4]!, bEnd: d[at + 5]!, isRandomNext: d[at + 6] === 1, isShort: d[at + 7] === 1 }
  }
}

/**
 * `create_instances_from_document` over sentence lengths: appends the document's instances to
 * `out`, drawing from `rng` only. Pure given (cache index, pool, document, rng state).
 */
function planDocument(cache: TokenCache, pool: DocumentPool, document: number, rng: Rng, maxNumTokens: number, shortSeqProb: number, out: PlanList): number {
  const offsets = cache.sentenceOffsets
  const starts = cache.documentSentences
  const first = starts[document]!
  const end = starts[document + 1]!
  let index = 0
  let chunkStart = first
  let currentLength = 0
  let isShort = false
  const drawTarget = () => {
    isShort = rng.float() < shortSeqProb
    return isShort ? rng.range(2, maxNumTokens) : maxNumTokens
  }
  let target = drawTarget()
  for (let i = first; i < end; i++) {
    currentLength += offsets[i + 1]! - offsets[i]!
    if (i !== end - 1 && currentLength < target) continue
    const chunkSentences = i - chunkStart + 1
    const aSentences = chunkSentences >= 2 ? rng.range(1, chunkSentences - 1) : 1
    let aStart = offsets[chunkStart]!
    let aEnd = offsets[chunkStart + aSentences]!
    let bStart: number
    let bEnd: number
    const isRandomNext = chunkSentences === 1 || rng.float() < 0.5
    if (isRandomNext) {
      const targetB = target - (aEnd - aStart)
      const other = pool.other(document, rng)
      const otherFirst = starts[other]!
      const otherEnd = starts[other + 1]!
      const randomStart = rng.range(otherFirst, otherEnd - 1)
      let j = randomStart
      let lengthB = 0
      while (j < otherEnd) {
        lengthB += offsets[j + 1]! - offsets[j]!
        j++
        if (lengthB >= targetB) break
      }
      bStart = offsets[randomStart]!
      bEnd = offsets[j]!
      i -= chunkSentences - aSentences // the unused sentences go back
    } else {
      bStart = aEnd
      bEnd = offsets[i + 1]!
    }
    // truncate_seq_pair: trim the longer segment, from the front or the back at random.
    while (aEnd - aStart + (bEnd - bStart) > maxNumTokens) {
      if (aEnd - aStart > bEnd - bStart) {
        if (rng.float() < 0.5) aStart++
        else aEnd--
      } else if (rng.float() < 0.5) bStart++
      else bEnd--
    }
    out.push(document, index++, aStart, aEnd, bStart, bEnd, isRandomNext, isShort)
    chunkStart = i + 1
    currentLength = 0
    target = drawTarget()
  }
  return index
}

/** Turns plans into batch rows: tokens, specials, padding and masks. Holds scratch buffers. */
class Materializer {
  readonly seqLength: number
  readonly maxPredictions: number
  private readonly padId: number
  private readonly clsId: number
  private readonly sepId: number
  private readonly maskId: number
  private readonly isContinuation: Uint8Array
  private readonly replacements: Int32Array
  private readonly groupStart: Int32Array
  private readonly groupLength: Int32Array
  private readonly order: Int32Array
  private readonly positions: Int32Array

  constructor(
    private readonly cache: TokenCache,
    vocabulary: DataVocabulary,
    private readonly config: PretrainDataConfig,
  ) {
    const vocab = vocabulary.vocab
    if (vocab.length !== cache.header.vocabSize) throw badInput(`the vocabulary has ${vocab.length} tokens, the token cache ${cache.path} was built with ${cache.header.vocabSize}`)
    const idOf = (token: string) => {
      const id = vocab.indexOf(token)
      if (id < 0) throw badInput(`the vocabulary has no ${token} token, which pre-training needs`)
      return id
    }
    this.padId = idOf(PAD)
    this.clsId = idOf(CLS)
    this.sepId = idOf(SEP)
    this.maskId = idOf(MASK)
    this.isContinuation = Uint8Array.from(vocab, (token) => (token.startsWith(CONTINUING_PREFIX) && token.length > CONTINUING_PREFIX.length ? 1 : 0))
    const specials = new Set<string>(SPECIAL_TOKENS)
    const replacements: number[] = []
    vocab.forEach((token, id) => {
      if (!specials.has(token)) replacements.push(id)
    })
    if (replacements.length === 0) throw badInput('the vocabulary has only special tokens')
    this.replacements = Int32Array.from(replacements)
    this.seqLength = config.seqLength
    this.maxPredictions = maxPredictionsOf(config)
    this.groupStart = new Int32Array(this.seqLength)
    this.groupLength = new Int32Array(this.seqLength)
    this.order = new Int32Array(this.seqLength)
    this.positions = new Int32Array(this.seqLength)
  }

  allocate(batchSize: number): PretrainBatch {
    const T = this.seqLength
    const P = this.maxPredictions
    return {
      batchSize,
      seqLength: T,
      maxPredictions: P,
      inputIds: new Int32Array(batchSize * T).fill(this.padId),
      tokenTypeIds: new Int32Array(batchSize * T),
      attentionMask: new Int32Array(batchSize * T),
      maskedPositions: new Int32Array(batchSize * P),
      maskedIds: new Int32Array(batchSize * P),
      maskedWeights: new Float32Array(batchSize * P),
      nextSentenceLabels: new Int32Array(batchSize),
    }
  }

  /** Writes `plan` into row `row` of `batch`, masking with `rng`. */
  fill(batch: PretrainBatch, row: number, plan: InstancePlan, rng: Rng): void {
    const T = this.seqLength
    const base = row * T
    const ids = batch.inputIds
    const lengthA = plan.aEnd - plan.aStart
    const lengthB = plan.bEnd - plan.bStart
    const n = lengthA + lengthB + 3
    if (n > T) throw badInput(`an instance has ${n} tokens, more than seqLength ${T}`)
    ids[base] = this.clsId
    this.cache.readTokens(plan.aStart, plan.aEnd, ids, base + 1)
    const firstSep = lengthA + 1
    ids[base + firstSep] = this.sepId
    this.cache.readTokens(plan.bStart, plan.bEnd, ids, base + firstSep + 1)
    ids[base + n - 1] = this.sepId
    batch.tokenTypeIds.fill(0, base, base + firstSep + 1)
    batch.tokenTypeIds.fill(1, base + firstSep + 1, base + n)
    batch.attentionMask.fill(1, base, base + n)
    batch.nextSentenceLabels[row] = plan.isRandomNext ? 1 : 0

    // Candidates: every token but [CLS]/[SEP]; with whole-word masking a ## piece joins the
    // group of the token before it (when that token is in the same segment).
    const groupStart = this.groupStart
    const groupLength = this.groupLength
    let groups = 0
    for (let p = 1; p < n - 1; p++) {
      if (p === firstSep) continue
      if (this.config.wholeWordMask && groups > 0 && p - 1 !== firstSep && this.isContinuation[ids[base + p]!] === 1) {
        groupLength[groups - 1]!++
        continue
      }
      groupStart[groups] = p
      groupLength[groups] = 1
      groups++
    }
    const budget = Math.min(this.maxPredictions, Math.max(1, Math.round(n * this.config.maskedLmProb)))
    const order = this.order
    for (let g = 0; g < groups; g++) order[g] = g
    const positions = this.positions
    let chosen = 0
    // A lazy Fisher–Yates: the k-th draw is the k-th group of a uniform shuffle.
    for (let k = 0; k < groups && chosen < budget; k++) {
      const j = k + rng.int(groups - k)
      const group = order[j]!
      order[j] = order[k]!
      order[k] = group
      const length = groupLength[group]!
      if (chosen + length > budget) continue
      for (let p = groupStart[group]!; p < groupStart[group]! + length; p++) positions[chosen++] = p
    }
    // Sorted positions, as the reference writes them.
    for (let i = 1; i < chosen; i++) {
      const value = positions[i]!
      let j = i - 1
      while (j >= 0 && positions[j]! > value) {
        positions[j + 1] = positions[j]!
        j--
      }
      positions[j + 1] = value
    }
    const P = this.maxPredictions
    for (let i = 0; i < chosen; i++) {
      const p = positions[i]!
      const original = ids[base + p]!
      batch.maskedPositions[row * P + i] = p
      batch.maskedIds[row * P + i] = original
      batch.maskedWeights[row * P + i] = 1
      if (rng.float() < 0.8) ids[base + p] = this.maskId
      else if (rng.float() >= 0.5) ids[base + p] = this.replacements[rng.int(this.replacements.length)]!
    }
  }
}

/**
 * The training stream and the held-out set over one token cache. A generator made from a saved
 * position continues with exactly the batches one that ran there would have produced, given the
 * same cache and config.
 */
export class PretrainDataGenerator {
  readonly config: PretrainDataConfig
  readonly split: DocumentSplit
  private readonly materializer: Materializer
  private readonly trainingPool: DocumentPool
  private readonly validationPool: DocumentPool
  private readonly maxNumTokens: number
  private epoch = 0
  private documentCursor = 0
  private instanceInWindow = 0
  private epochOrder: Int32Array = new Int32Array(0)
  private orderEpoch = -1
  private window: PlanList | null = null
  private windowOrder: Int32Array = new Int32Array(0)
  private readonly instanceCounts = new Map<number, number>()
  private validationPlans: PlanList | null = null

  constructor(
    private readonly cache: TokenCache,
    vocabulary: DataVocabulary,
    config: Partial<PretrainDataConfig> = {},
    position: DataPosition = startPosition,
  ) {
    this.config = resolvePretrainDataConfig(config)
    this.materializer = new Materializer(cache, vocabulary, this.config)
    this.maxNumTokens = this.config.seqLength - 3
    this.split = splitDocuments(cache, this.config.validationFraction)
    if (this.split.training.length === 0) throw badInput(`the token cache ${cache.path} has no document with text to pre-train on`)
    this.trainingPool = new DocumentPool(this.split.training, cache.documentCount)
    this.validationPool = new DocumentPool(this.split.validation, cache.documentCount)
    this.seek(position)
  }

  get maxPredictions(): number {
    return this.materializer.maxPredictions
  }

  /** The position of the next instance. */
  get position(): DataPosition {
    return { epoch: this.epoch, documentCursor: this.documentCursor, instanceInDocument: this.instanceInWindow }
  }

  /** Moves to a saved position (as returned with a batch). */
  seek(position: DataPosition): void {
    const { epoch, documentCursor, instanceInDocument } = position
    const check = (name: string, value: unknown, max: number) => {
      if (!(typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= max)) throw badInput(`data position ${name} is ${JSON.stringify(value)}, expected an integer in 0..${max}`)
    }
    check('epoch', epoch, Number.MAX_SAFE_INTEGER)
    check('documentCursor', documentCursor, this.split.training.length - 1)
    check('instanceInDocument', instanceInDocument, Number.MAX_SAFE_INTEGER)
    this.epoch = epoch
    this.documentCursor = documentCursor
    this.window = null
    this.loadWindow()
    if (instanceInDocument > this.window!.length) throw badInput(`data position instanceInDocument is ${instanceInDocument}, but the window at document ${documentCursor} of epoch ${epoch} has ${this.window!.length} instances`)
    this.instanceInWindow = instanceInDocument
  }

  /** The next `batchSize` training instances (continuing into the next epoch at the end of one). */
  nextBatch(batchSize: number): { batch: PretrainBatch; position: DataPosition } {
    if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw badInput(`batchSize is ${batchSize}, expected an integer ≥ 1`)
    const batch = this.materializer.allocate(batchSize)
    for (let row = 0; row < batchSize; row++) {
      while (this.instanceInWindow >= this.window!.length) this.advanceWindow()
      const plan = this.window!.get(this.windowOrder[this.instanceInWindow]!)
      this.instanceInWindow++
      this.materializer.fill(batch, row, plan, Rng.derive(this.config.seed, 'mask', this.epoch, plan.document, plan.index))
    }
    while (this.instanceInWindow >= this.window!.length) this.advanceWindow()
    return { batch, position: this.position }
  }

  /** Training instances in `epoch` (exact: planning reads only the in-memory index). */
  instancesPerEpoch(epoch = 0): number {
    let count = this.instanceCounts.get(epoch)
    if (count === undefined) {
      count = 0
      const scratch = new PlanList()
      for (const document of this.split.training) {
        scratch.length = 0
        count += planDocument(this.cache, this.trainingPool, document, this.planRng(epoch, document), this.maxNumTokens, this.config.shortSeqProb, scratch)
      }
      this.instanceCounts.set(epoch, count)
    }
    return count
  }

  /** Optimizer steps in one pass over the training documents (epoch 0's count; others differ slightly). */
  stepsPerEpoch(batchSize: number): number {
    return Math.ceil(this.instancesPerEpoch(0) / batchSize)
  }

  /** Held-out instances (fixed: independent of the seed and the epoch). */
  validationInstanceCount(): number {
    return this.validationPlanList().length
  }

  /**
   * The held-out set as batches, the same every call (a fixed seed), so validation loss is
   * comparable across steps and runs. The last batch may be smaller. At most `maxBatches`.
   */
  *validationBatches(batchSize: number, maxBatches = Infinity): Generator<PretrainBatch> {
    if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw badInput(`batchSize is ${batchSize}, expected an integer ≥ 1`)
    const plans = this.validationPlanList()
    let emitted = 0
    for (let start = 0; start < plans.length && emitted < maxBatches; start += batchSize, emitted++) {
      const size = Math.min(batchSize, plans.length - start)
      const batch = this.materializer.allocate(size)
      for (let row = 0; row < size; row++) {
        const plan = plans.get(start + row)
        this.materializer.fill(batch, row, plan, Rng.derive(VALIDATION_SEED, 'validation-mask', plan.document, plan.index))
      }
      yield batch
    }
  }

  /** The plans of one training document in one epoch (for inspection and tests). */
  planDocument(epoch: number, document: number): InstancePlan[] {
    const list = new PlanList()
    planDocument(this.cache, this.trainingPool, document, this.planRng(epoch, document), this.maxNumTokens, this.config.shortSeqProb, list)
    return Array.from({ length: list.length }, (_, i) => list.get(i))
  }

  private planRng(epoch: number, document: number): Rng {
    return Rng.derive(this.config.seed, 'plan', epoch, document)
  }

  private validationPlanList(): PlanList {
    if (this.validationPlans === null) {
      const list = new PlanList()
      for (const document of this.split.validation) {
        planDocument(this.cache, this.validationPool, document, Rng.derive(VALIDATION_SEED, 'validation-plan', document), this.maxNumTokens, this.config.shortSeqProb, list)
      }
      this.validationPlans = list
    }
    return this.validationPlans
  }

  private ensureEpochOrder(): void {
    if (this.orderEpoch === this.epoch) return
    this.epochOrder = Rng.derive(this.config.seed, 'order', this.epoch).shuffle(Int32Array.from(this.split.training))
    this.orderEpoch = this.epoch
  }

  /** Plans the window of documents at the cursor and shuffles its instances together. */
  private loadWindow(): void {
    this.ensureEpochOrder()
    const list = new PlanList()
    const end = Math.min(this.epochOrder.length, this.documentCursor + this.config.shuffleWindowDocuments)
    for (let k = this.documentCursor; k < end; k++) {
      const document = this.epochOrder[k]!
      planDocument(this.cache, this.trainingPool, document, this.planRng(this.epoch, document), this.maxNumTokens, this.config.shortSeqProb, list)
    }
    const order = new Int32Array(list.length)
    for (let i = 0; i < order.length; i++) order[i] = i
    Rng.derive(this.config.seed, 'window', this.epoch, this.documentCursor).shuffle(order)
    this.window = list
    this.windowOrder = order
    this.instanceInWindow = 0
  }

  private advanceWindow(): void {
    this.documentCursor += this.config.shuffleWindowDocuments
    if (this.documentCursor >= this.epochOrder.length) {
      this.epoch++
      this.documentCursor = 0
    }
    this.loadWindow()
  }
}
