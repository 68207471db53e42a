#!/usr/bin/env node
// Writes the labelled samples shipped in resources/samples/ (see its README.md): one file per task
// kind plus an unlabelled corpus on the same topics for pre-training. Everything comes from seeded
// templates, so the files are reproducible byte for byte and carry no licence question:
//
//   node scripts/make-samples.mjs [--out resources/samples] [--seed 20251201]
//
// Each file draws from its own stream derived from (seed, file name), so changing one generator
// leaves the other files as they were.
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

export const DEFAULT_SEED = 20251201

// ---------------------------------------------------------------- randomness

/** FNV-1a over the UTF-16 units: a stable 32-bit hash of a stream's name. */
function hashString(text) {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** mulberry32: small, fast and good enough to pick template slots; one state word. */
function makeRng(seed, stream) {
  let state = (hashString(`${seed}:${stream}`) ^ Math.imul(seed >>> 0, 0x9e3779b1)) >>> 0
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const rng = {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (list) => list[Math.floor(next() * list.length)],
    chance: (p) => next() < p,
    shuffle(list) {
      for (let i = list.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1))
        ;[list[i], list[j]] = [list[j], list[i]]
      }
      return list
    },
    /** `count` distinct items of `list`, in random order. */
    sample(list, count) {
      return rng.shuffle([...list]).slice(0, count)
    },
  }
  return rng
}

/** Upper-cases the first letter, after an opening quote if there is one. */
const capitalise = (s) => s.replace(/^(["']?)([a-z])/, (_, quote, letter) => quote + letter.toUpperCase())

/**
 * Fills `{slot}` markers from `slots` (a list to pick from, or a function of the rng). Templates
 * start in lower case unless they start with a name, so a sentence can be capitalised or put
 * after an opener as it is.
 */
function fillRaw(rng, template, slots) {
  const used = new Set()
  return template.replace(/\{(\w+)\}/g, (_, name) => {
    const slot = slots[name]
    if (slot === undefined) throw new Error(`template "${template}" names an unknown slot {${name}}`)
    const draw = () => (typeof slot === 'function' ? slot(rng) : rng.pick(slot))
    // A slot used twice in one sentence ("{team} beat {team}") gets two different values.
    let value = draw()
    for (let again = 0; used.has(value) && again < 20; again++) value = draw()
    used.add(value)
    return value
  })
}
const fill = (rng, template, slots) => capitalise(fillRaw(rng, template, slots))

// ---------------------------------------------------------------- shared vocabulary

const FIRST_NAMES = [
  'Maria', 'James', 'Aisha', 'Tom', 'Lena', 'Carlos', 'Priya', 'Oliver', 'Sofia', 'Daniel', 'Mei', 'Lucas', 'Fatima', 'Noah',
  'Elena', 'Samuel', 'Hannah', 'Marco', 'Yuki', 'Peter', 'Amara', 'Jonas', 'Clara', 'David', 'Nadia', 'Felix', 'Rosa', 'Ibrahim',
  'Grace', 'Viktor', 'Leila', 'Arthur', 'Ines', 'Tariq', 'Julia', 'Kofi', 'Anna', 'Mateo', 'Zara', 'Henrik',
]
const LAST_NAMES = [
  'Lopez', 'Okafor', 'Schmidt', 'Tanaka', 'Novak', 'Brennan', 'Silva', 'Haddad', 'Kowalski', 'Moreau', 'Andersen', 'Rossi',
  'Mensah', 'Petrov', 'Nguyen', 'Fischer', 'Costa', 'Walsh', 'Jensen', 'Ibarra', 'Kapoor', 'Lindqvist', 'Duarte', 'Marsh',
  'Osei', 'Varga', 'Castillo', 'Dubois', 'Hale', 'Sato', 'Reyes', 'Byrne', 'Farouk', 'Holm', 'Quinn', 'Abara', 'Pryce', 'Lund',
]
const person = (rng) => `${rng.pick(FIRST_NAMES)} ${rng.pick(LAST_NAMES)}`
const firstName = (rng) => rng.pick(FIRST_NAMES)

const TOWNS = [
  'Riverside', 'Northfield', 'Eastbrook', 'Westvale', 'Lakeside', 'Kingsport', 'Millbrook', 'Stonebridge', 'Oakridge', 'Ashford',
  'Bramley', 'Carrick', 'Dunmore', 'Elmstead', 'Fairhaven', 'Glenwood', 'Harrowgate', 'Ivydale', 'Larkhill', 'Marlow Bay',
]

// Words and phrases every topic uses, so that a sentence's topic is not given away by its frame.
const GENERIC_OPENERS = [
  'yesterday', 'last week', 'on Sunday', 'this morning', 'last night', 'earlier this month', 'on Friday evening', 'after a long wait',
  'in the end', 'once again', 'by the afternoon', 'for the first time in years', 'to everyone\'s surprise', 'as expected',
]
const GENERIC_TAILS = [
  'according to local reports', 'people said afterwards', 'which surprised nobody', 'as the newspaper put it',
  'at least for now', 'to the relief of many', 'which was a first', 'and nobody complained', 'before anyone noticed',
]

// Instructions read oddly with a news frame ("Yesterday, peel the carrots"), so they keep none.
const IMPERATIVE = /^(season|add|preheat|let|cut|taste|crush|serve|balance|reduce|sprinkle|keep|stir|whisk|fold|beat|blend|mix|chop|dice|slice|peel|halve|quarter|simmer|bake|roast|cook|braise|fry|grill|steam|sauté|for the match-day|to save money) /

/** Sometimes an opener, sometimes a tail (on an uncapitalised sentence): the frame varies the same way in every topic. */
function frame(rng, sentence) {
  if (sentence.endsWith('?') || sentence.startsWith('"') || IMPERATIVE.test(sentence)) return sentence
  const text = sentence.replace(/\.$/, '')
  if (rng.chance(0.22)) return `${rng.pick(GENERIC_OPENERS)}, ${text}.`
  if (rng.chance(0.15)) return `${text}, ${rng.pick(GENERIC_TAILS)}.`
  return sentence
}

// ---------------------------------------------------------------- topics: sport, cooking, finance

const SPORT = {
  team: [
    'the Riverside Rovers', 'Northfield United', 'the Eastbrook Eagles', 'Westvale Rangers', 'the Lakeside Lions', 'Kingsport Athletic',
    'the Millbrook Miners', 'Stonebridge Wanderers', 'the Oakridge Owls', 'Ashford City', 'the Bramley Bears', 'Carrick Town',
    'the Dunmore Dolphins', 'Fairhaven Rovers', 'the Glenwood Giants', 'Harrowgate Harriers',
  ],
  sport: ['football', 'tennis', 'basketball', 'cricket', 'rugby', 'hockey', 'volleyball', 'handball', 'netball', 'water polo'],
  event: [
    'the cup final', 'the league match', 'the semi-final', 'the local derby', 'the championship game', 'the opening round',
    'the quarter-final', 'the away game', 'the home game', 'the title decider', 'the season opener', 'the play-off',
  ],
  player: ['striker', 'goalkeeper', 'captain', 'midfielder', 'defender', 'winger', 'forward', 'full-back', 'substitute', 'playmaker'],
  athlete: ['sprinter', 'swimmer', 'cyclist', 'marathon runner', 'long jumper', 'rower', 'high jumper', 'triathlete', 'skier', 'boxer'],
  race: ['the 100 metres', 'the relay', 'the time trial', 'the marathon', 'the 400 metres hurdles', 'the freestyle final', 'the road race', 'the slalom'],
  score: ['two goals', 'a hat-trick', 'three tries', 'the winning goal', 'a late equaliser', 'a penalty', 'a brilliant header', 'two late baskets', 'the decisive point', 'a stunning free kick'],
  result: ['won', 'lost', 'drew', 'was decided', 'ended goalless', 'went to extra time', 'went to penalties'],
  margin: ['by a single point', '3-1', '2-0', 'by two goals', '78-74', 'by a narrow margin', 'by an innings', '4-2', 'in straight sets'],
  injury: ['a hamstring injury', 'a knee injury', 'a sprained ankle', 'a shoulder problem', 'a broken wrist', 'a calf strain'],
  count: ['two', 'three', 'four', 'five', 'six', 'eight', 'ten'],
  ordinal: ['second', 'third', 'fourth', 'fifth', 'eighth', 'last'],
  venue: ['the stadium', 'the arena', 'the ground', 'the velodrome', 'the pool', 'the track', 'the court', 'the pitch'],
  coachSaid: [
    'we played with real heart', 'the defence let us down', 'the lads never gave up', 'we need to finish our chances',
    'the referee made the right call', 'our fitness made the difference', 'that second half was our best football this season',
    'we will go back to the training ground and work harder',
  ],
  person, firstName,
}
const SPORT_TEMPLATES = [
  '{team} {result} {event} {margin} in front of a packed {venue}.',
  '{team} beat {team} {margin} in {event}.',
  'the {player} scored {score} as {team} won {event}.',
  '{person} scored {score} for {team} in {event}.',
  'the {player} {person} will miss {event} with {injury}.',
  '{person} is out for {count} weeks with {injury} picked up in training.',
  'the coach said "{coachSaid}" after {event}.',
  '"{coachSaid}," said the coach of {team}.',
  'the {athlete} {person} broke the course record in {race}.',
  '{person} won gold in {race} with a personal best.',
  'can {team} climb the league table after losing {event}?',
  'who will replace the injured {player} before {event}?',
  'fans filled {venue} to watch {team} play {team}.',
  'the referee sent off the {player} in the second half of {event}.',
  '{team} signed a new {player} from {team} before the transfer deadline.',
  'the {sport} season starts next weekend with {event}.',
  '{person} served an ace to win the final set in straight sets.',
  'the {athlete} finished {ordinal} in {race} after a slow start.',
  'the crowd cheered as the {player} lifted the trophy at {venue}.',
  '{team} have not lost at home in {count} matches this season.',
  'our {sport} team trains three evenings a week on the school pitch.',
  'I watched {event} at {venue} with my brother and the atmosphere was electric.',
  'the {player} pulled up with {injury} and was substituted at half time.',
  'the young {athlete} hopes to qualify for the national championship in {race}.',
  'after a record season, {team} finished top of the league.',
  '{team} must win their last {count} games to avoid relegation.',
  'the {player} returned from {injury} to score on his first game back.',
  'the manager of {team} dropped the {player} for {event}.',
  'tickets for {event} sold out within an hour.',
  'the match report praised the {player} for his tireless running.',
]

const COOKING = {
  dish: [
    'risotto', 'lentil soup', 'banana bread', 'roast chicken', 'vegetable curry', 'apple pie', 'pancakes', 'tomato sauce', 'beef stew',
    'lemon tart', 'mushroom pasta', 'fish pie', 'sourdough loaf', 'stir-fry', 'omelette', 'chocolate cake', 'pumpkin soup', 'paella',
    'gnocchi', 'flatbreads', 'chickpea salad', 'scones', 'shepherd\'s pie', 'carrot cake', 'minestrone', 'bean chilli',
  ],
  // Vegetables can be chopped and roasted; seasonings are added to a dish; pantry goods are mixed in.
  veg: ['onions', 'carrots', 'leeks', 'mushrooms', 'potatoes', 'courgettes', 'red peppers', 'shallots', 'sweet potatoes', 'aubergines', 'parsnips', 'tomatoes'],
  seasoning: ['garlic', 'fresh basil', 'thyme', 'cumin', 'ginger', 'black pepper', 'sea salt', 'coriander', 'paprika', 'chilli flakes', 'cinnamon', 'lemon zest', 'soy sauce', 'rosemary', 'nutmeg'],
  pantry: ['butter', 'flour', 'olive oil', 'brown sugar', 'eggs', 'cream', 'parmesan', 'chickpeas', 'honey', 'rice', 'yeast', 'yoghurt', 'ground almonds', 'oats'],
  prep: ['chop', 'dice', 'slice', 'peel', 'halve', 'quarter'],
  method: ['roast', 'fry', 'grill', 'steam', 'braise', 'sauté'],
  dishMethod: ['simmer', 'bake', 'roast', 'cook', 'braise'],
  mix: ['stir', 'whisk', 'fold', 'beat', 'blend', 'mix'],
  tool: ['the oven', 'a frying pan', 'a heavy saucepan', 'a baking tray', 'a large mixing bowl', 'a wooden spoon', 'a sharp knife', 'the blender', 'a cast-iron pot'],
  time: ['for twenty minutes', 'for an hour', 'for five minutes', 'for forty minutes', 'overnight', 'for about ten minutes', 'for two hours'],
  heat: ['at 180 degrees', 'over a low heat', 'over a medium heat', 'until golden', 'until soft', 'until tender', 'until the edges crisp'],
  cook: ['the chef', 'the baker', 'my grandmother', 'the head cook', 'my flatmate', 'the pastry chef', 'our neighbour'],
  texture: ['crisp', 'creamy', 'fluffy', 'tender', 'rich', 'light', 'sticky', 'smoky', 'tangy', 'silky'],
  meal: ['dinner', 'lunch', 'breakfast', 'a family supper', 'the picnic', 'a birthday party', 'Sunday lunch'],
  count: ['two', 'three', 'four', 'six', 'eight', 'twelve'],
  person, firstName,
}
const COOKING_TEMPLATES = [
  '{prep} the {veg} and {method} them {heat}.',
  '{mix} the {pantry} into the batter with {tool}.',
  '{dishMethod} the {dish} {heat}, then leave it to rest {time}.',
  'season the {dish} with {seasoning} and a pinch of {seasoning}.',
  '{cook} made {dish} with {veg} and {seasoning} for {meal}.',
  '{person} shares a family recipe for {dish}, which uses {pantry} and {seasoning}.',
  'add the {veg} to {tool} and stir gently.',
  'the secret to a good {dish} is to {dishMethod} it slowly {heat}.',
  'how long should I {dishMethod} the {dish} for?',
  'can you use {pantry} instead of {pantry} in {dish}?',
  'the {dish} came out {texture} and everyone asked for seconds.',
  'I burnt the {dish} because I left it in the oven {time}.',
  'preheat the oven and grease {tool} before you start.',
  'let the dough rise {time} before you knead it again.',
  '{cook} says a good stock makes the {dish} taste {texture}.',
  'this {dish} recipe serves {count} and takes about an hour.',
  'cut the cold butter into the flour until it looks like breadcrumbs.',
  'taste the sauce and adjust the seasoning with {seasoning}.',
  'the new cookbook by {person} has a whole chapter on {dish}.',
  'we cooked {dish} for {meal} and paired it with a green salad.',
  'crush {count} cloves of garlic and fry them in olive oil {heat}.',
  'whisk the eggs with a little {pantry} until light and {texture}.',
  'the restaurant\'s kitchen team prepares the {dish} fresh every morning.',
  'serve the {dish} warm with a spoonful of {pantry}.',
  'my first attempt at {dish} was too salty, so I halved the {seasoning}.',
  'balance the sweetness of the {dish} with a squeeze of lemon.',
  'reduce the sauce {heat} and finish it with {seasoning}.',
  '{cook} won a prize at the fair for a {texture} {dish}.',
  'sprinkle {seasoning} over the {dish} just before serving.',
  'keep the leftover {dish} in the fridge for up to {count} days.',
  'is it better to {method} the {veg} before adding them to the {dish}?',
  'our kitchen smelled of {seasoning} while the {dish} was cooking.',
]

const FINANCE = {
  company: [
    'Meridian Group', 'Silverline Financial', 'Granite Partners', 'Vantage Industries', 'Bluestone Bank', 'Crestview Insurance',
    'Northwind Holdings', 'Apex Capital', 'Harbourside Trust', 'Summit Retail', 'Keystone Energy', 'Larkspur Motors',
    'Orion Telecom', 'Pinecrest Pharmaceuticals', 'Redwood Logistics', 'Sterling Mining',
  ],
  holding: ['shares', 'bonds', 'government bonds', 'gold', 'bank shares', 'tech stocks', 'property funds'],
  asset: ['shares', 'bonds', 'government bonds', 'the stock price', 'the currency', 'oil prices', 'gold', 'the main index', 'property prices', 'bank shares'],
  move: ['rose', 'fell', 'climbed', 'dropped', 'surged', 'slipped', 'jumped', 'edged lower', 'recovered', 'tumbled'],
  percent: ['by 2 percent', 'by 0.5 percent', 'by nearly 4 percent', 'by 1.2 percent', 'by a tenth', 'by 7 percent', 'by half a percent', 'by 3 percent'],
  money: ['2 billion dollars', '450 million euros', '12 million pounds', '80 million dollars', '1.5 billion euros', '300 million pounds', '6 billion yen'],
  measure: ['quarterly profit', 'annual revenue', 'operating income', 'net earnings', 'sales', 'free cash flow', 'operating profit'],
  debt: ['a personal loan', 'my mortgage', 'a credit card balance', 'a car loan', 'a student loan'],
  body: ['the central bank', 'the treasury', 'the finance ministry', 'the regulator', 'the federal reserve', 'the monetary policy committee'],
  role: ['analysts', 'investors', 'economists', 'traders', 'fund managers', 'shareholders', 'bondholders', 'accountants'],
  product: ['a savings account', 'a fixed-rate mortgage', 'a pension fund', 'an index fund', 'a personal loan', 'a credit card', 'a corporate bond', 'a retirement plan'],
  rate: ['interest rates', 'mortgage rates', 'the base rate', 'inflation', 'unemployment', 'bond yields', 'the exchange rate', 'borrowing costs'],
  quarter: ['the first quarter', 'the second quarter', 'the third quarter', 'the fourth quarter', 'the last financial year', 'the first half'],
  count: ['two', 'three', 'four', 'five', 'ten'],
  ordinal: ['second', 'third', 'fourth', 'first'],
  person, firstName,
}
const FINANCE_TEMPLATES = [
  '{asset} {move} {percent} after {body} held {rate}.',
  '{company} reported {measure} of {money} for {quarter}.',
  '{company} {move} {percent} after its {measure} beat forecasts.',
  '{body} raised {rate} by a quarter point to fight inflation.',
  '{body} cut {rate} for the {ordinal} time this year.',
  '{role} expect {rate} to stay high until the end of the year.',
  '{company} will pay a dividend of 40 cents a share.',
  'the chief executive of {company}, {person}, said costs would fall.',
  '{person} moved her savings from {product} into {product}.',
  'should I pay off {debt} before I start investing?',
  'is it a good time to buy {asset} while {rate} are rising?',
  '{company} agreed to buy {company} for {money}.',
  '{company} plans to raise {money} by selling new shares.',
  'the balance sheet of {company} shows {money} of debt.',
  '{role} sold {holding} as fears of a recession grew.',
  'the stock market closed higher as {asset} {move} {percent}.',
  'returns on {product} have fallen since {body} changed {rate}.',
  '{company} warned that its {measure} would be lower in {quarter}.',
  'the credit rating of {company} was cut to junk by the agency.',
  'my bank offered me {product} with a fixed rate for {count} years.',
  '{company} posted a record profit of {money}.',
  'the auditors found errors in the accounts of {company}.',
  '{role} are worried that {rate} will push up the cost of loans.',
  'the budget deficit widened to {money} in {quarter}.',
  'the pension fund invested {money} in {company}.',
  'the finance team at {company} cut its forecast for {measure}.',
  '{person} told investors that {company} expects growth next year.',
  'the central bank kept {rate} unchanged at its meeting on Thursday.',
  'a weaker currency made imports more expensive and pushed up {rate}.',
  'analysts at {company} said {asset} could fall further.',
]

// Sentences on one topic told with another topic's words (a club's debts, a footballer's recipe):
// the topic is in what happens, not in which nouns appear, so a bag of keywords is not enough.
const ALL_SLOTS = { ...SPORT, ...COOKING, ...FINANCE, job: ['trader', 'cashier', 'accountant', 'loan officer'] }
const SPORT_CROSS = [
  'the players ate {dish} the night before {event} and then won {margin}.',
  '{team}, owned by the banker {person}, won {event} {margin}.',
  'the {player} who used to work as a {job} scored {score} on Saturday.',
  'the former chef {person} finished {ordinal} in {race}.',
  'a sponsor paid {money} to put its name on the shirts, but {team} still lost {event}.',
  'the club\'s cook cheered from the stands as the {player} scored {score}.',
]
const COOKING_CROSS = [
  'the {player} of {team} shared a recipe for {dish} with {seasoning}.',
  'for the match-day buffet, {prep} the {veg} and {method} them {heat}.',
  'a retired banker, {person} now bakes {dish} for the village cafe.',
  'to save money on the weekly shop, cook a big pot of {dish} and freeze half.',
  'the {athlete}\'s favourite recipe is {dish} with {seasoning} and {pantry}.',
  'a cheap stock made from vegetable peelings gives the {dish} a {texture} flavour.',
]
const FINANCE_CROSS = [
  'shares in the restaurant chain {company} fell {percent} after {pantry} prices rose.',
  '{team} reported debts of {money} and asked its bank for a new loan.',
  'the price of {pantry} pushed food inflation to its highest level in {count} years.',
  'investors bought shares in the bakery group after its {measure} rose {percent}.',
  'the sports channel was sold to {company} for {money}.',
  'the club\'s shares {move} {percent} after the {player} was sold for {money}.',
]

const TOPICS = [
  { label: 'sport', slots: SPORT, templates: SPORT_TEMPLATES, cross: SPORT_CROSS },
  { label: 'cooking', slots: COOKING, templates: COOKING_TEMPLATES, cross: COOKING_CROSS },
  { label: 'finance', slots: FINANCE, templates: FINANCE_TEMPLATES, cross: FINANCE_CROSS },
]

/** One sentence on the topic, not yet capitalised; about one in seven told with another topic's words. */
function topicSentence(rng, topic) {
  if (rng.chance(0.15)) return frame(rng, fillRaw(rng, rng.pick(topic.cross), ALL_SLOTS))
  return frame(rng, fillRaw(rng, rng.pick(topic.templates), topic.slots))
}

/** `perClass` distinct sentences per topic, interleaved in a random order. */
function makeTopics(rng, perClass) {
  const rows = []
  const seen = new Set()
  for (const topic of TOPICS) {
    let made = 0
    for (let tries = 0; made < perClass; tries++) {
      if (tries > perClass * 50) throw new Error(`only ${made} distinct ${topic.label} sentences after ${tries} tries`)
      const text = capitalise(topicSentence(rng, topic))
      if (seen.has(text)) continue
      seen.add(text)
      rows.push([text, topic.label])
      made++
    }
  }
  return rng.shuffle(rows)
}

// Connectives that make a paragraph read as running text rather than a list of samples.
const PARAGRAPH_LINKS = ['Meanwhile,', 'However,', 'Later,', 'In other news,', 'At the same time,', 'As a result,', 'Even so,', 'Afterwards,', 'By contrast,', 'Overall,']
const PARAGRAPH_OPENINGS = {
  sport: ['It was a busy weekend of {sport}.', 'The {sport} season is reaching its final weeks.', 'Here is the round-up from {venue}.', 'Supporters of {team} had plenty to talk about.'],
  cooking: ['This is one of my favourite recipes for {meal}.', 'Cooking {dish} at home is easier than it looks.', 'Here are a few notes from the kitchen.', 'The week\'s recipe is {dish}.'],
  finance: ['Markets had a nervous week.', 'Here is the business round-up for {quarter}.', 'Investors were watching {body} closely.', 'It was a mixed day for {company}.'],
}

/** One paragraph (one line) on one topic: an opening, then 3–7 sentences, some joined by connectives. */
function topicParagraph(rng, topic) {
  const sentences = [fill(rng, rng.pick(PARAGRAPH_OPENINGS[topic.label]), topic.slots)]
  const count = rng.int(3, 7)
  for (let i = 0; i < count; i++) {
    const sentence = topicSentence(rng, topic)
    const linked = !sentence.endsWith('?') && !sentence.startsWith('"') && rng.chance(0.3)
    sentences.push(linked ? `${rng.pick(PARAGRAPH_LINKS)} ${sentence}` : capitalise(sentence))
  }
  return sentences.join(' ')
}

function makeTopicsCorpus(rng, targetBytes) {
  const lines = []
  let bytes = 0
  while (bytes < targetBytes) {
    const line = topicParagraph(rng, rng.pick(TOPICS))
    lines.push(line)
    bytes += Buffer.byteLength(line) + 1
  }
  return lines
}

// ---------------------------------------------------------------- sentiment

const PRODUCTS = [
  'pair of headphones', 'coffee maker', 'backpack', 'phone case', 'desk lamp', 'blender', 'pair of running shoes', 'kettle', 'keyboard',
  'electric toothbrush', 'water bottle', 'office chair', 'rain jacket', 'bluetooth speaker', 'vacuum cleaner', 'tent', 'hair dryer', 'monitor stand',
]
const SENTIMENT = {
  positive: [
    'I love this {product}, it works perfectly.',
    'the {product} is excellent value and feels really solid.',
    'best {product} I have ever owned, highly recommended.',
    'great {product}: {goodDetail}.',
    'really happy with the {product}, {goodDetail}.',
    'the {product} exceeded my expectations and {goodDetail}.',
    'five stars, the {product} is brilliant and {goodDetail}.',
    'I was not expecting much but this {product} is fantastic.',
    'my old {product} broke and this one is so much better.',
    'would buy this {product} again without a second thought.',
    'superb {product}, {goodDetail}, and it arrived early.',
    'not a single problem with the {product} after {period}, it is wonderful.',
  ],
  negative: [
    'the {product} stopped working after {period}.',
    'terrible {product}, {badDetail}.',
    'I regret buying this {product}, {badDetail}.',
    'do not waste your money on this {product}.',
    'the {product} is cheaply made and {badDetail}.',
    'very disappointed: the {product} {badDetail}.',
    'one star, the {product} broke after {period}.',
    'awful {product}, I sent it back the same day.',
    'the {product} looked nice but {badDetail}.',
    'worst {product} I have bought, {badDetail}.',
    'I would not recommend this {product}, it is poor quality.',
    'the {product} was faulty and support never replied.',
  ],
  neutral: [
    'the {product} arrived on {day} in a plain box.',
    'I bought the {product} for my {room}.',
    'the {product} comes in black, grey and blue.',
    'the {product} is about the same size as my previous one.',
    'I have had the {product} for {period} and use it most days.',
    'the {product} was delivered by courier on {day}.',
    'this is the second {product} I have ordered from this shop.',
    'the box contains the {product}, a cable and a short manual.',
    'the {product} needs two batteries, which are not included.',
    'I ordered the {product} as a gift for my sister.',
    'the {product} is made of plastic and metal.',
    'the instructions for the {product} are printed in four languages.',
  ],
}
const SENTIMENT_SLOTS = {
  product: PRODUCTS,
  goodDetail: [
    'the battery lasts for days', 'it is quiet and easy to clean', 'the build quality is superb', 'setup took two minutes',
    'it looks beautiful on my desk', 'the sound is clear and rich', 'it is comfortable to use all day', 'it does exactly what it promises',
  ],
  badDetail: [
    'the battery dies within an hour', 'it is loud and hard to clean', 'the plastic cracked on day one', 'the buttons stick',
    'it leaks every time', 'the sound is tinny and distorted', 'it is uncomfortable after ten minutes', 'it does not do what it promises',
  ],
  period: ['a week', 'two weeks', 'a month', 'three months', 'six months', 'a year'],
  day: ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'],
  room: ['kitchen', 'office', 'bedroom', 'living room', 'garage', 'campervan'],
}

function makeSentiment(rng, perClass) {
  const rows = []
  const seen = new Set()
  for (const [label, templates] of Object.entries(SENTIMENT)) {
    let made = 0
    for (let tries = 0; made < perClass; tries++) {
      if (tries > perClass * 50) throw new Error(`only ${made} distinct ${label} reviews after ${tries} tries`)
      const text = fill(rng, rng.pick(templates), SENTIMENT_SLOTS)
      if (seen.has(text)) continue
      seen.add(text)
      rows.push([text, label])
      made++
    }
  }
  return rng.shuffle(rows)
}

// ---------------------------------------------------------------- multi-label: aspects of a review

const ASPECTS = {
  price: ['it was cheap for what you get', 'the price is far too high', 'it was on sale for half the usual price', 'it costs more than similar models', 'good value for money'],
  quality: ['the material feels sturdy', 'the stitching came apart', 'it is very well made', 'the finish scratches easily', 'it still works like new'],
  delivery: ['the parcel arrived a day early', 'the courier lost my parcel for a week', 'delivery took almost a month', 'it was delivered next day', 'the box was crushed in the post'],
  service: ['customer support answered within an hour', 'nobody replied to my emails', 'the staff sorted out the refund quickly', 'the helpline kept me on hold for ages', 'the seller was friendly and helpful'],
}
const ASPECT_NAMES = Object.keys(ASPECTS)
const NO_ASPECT = ['I bought this {product} last month.', 'This is my review of the {product}.', 'I use the {product} at home.', 'The {product} is for my son.']

function makeMultilabel(rng, count) {
  const rows = []
  const seen = new Set()
  for (let tries = 0; rows.length < count; tries++) {
    if (tries > count * 50) throw new Error(`only ${rows.length} distinct multi-label reviews after ${tries} tries`)
    let labels
    let text
    if (rng.chance(0.06)) {
      labels = []
      text = fill(rng, rng.pick(NO_ASPECT), SENTIMENT_SLOTS)
    } else {
      const k = rng.pick([1, 1, 2, 2, 2, 3, 3, 4])
      labels = rng.sample(ASPECT_NAMES, k)
      const clauses = labels.map((aspect) => rng.pick(ASPECTS[aspect]))
      const product = rng.pick(PRODUCTS)
      const opening = rng.pick([`The ${product}: `, `About the ${product}: `, `Review of the ${product}. `, `Bought a ${product}. `, ''])
      text = `${opening}${capitalise(clauses.join(rng.pick([', ', '; ', ' and ', ', but '])))}.`
      labels = ASPECT_NAMES.filter((name) => labels.includes(name))
    }
    if (seen.has(text)) continue
    seen.add(text)
    rows.push({ text, labels })
  }
  return rows
}

// ---------------------------------------------------------------- entities (tagging)

const CITIES = [
  'Lisbon', 'Oslo', 'Nairobi', 'Porto', 'Krakow', 'Seville', 'Tallinn', 'Accra', 'Osaka', 'Valparaiso', 'Ghent', 'Bergen', 'Cork',
  'Lyon', 'Turin', 'Gdansk', 'Mombasa', 'Hobart', 'Quebec City', 'Buenos Aires', 'Cape Town', 'Kuala Lumpur', 'San Diego', 'Rio de Janeiro',
  'Aarhus', 'Bilbao', 'Graz', 'Leeds', 'Malmo', 'Nantes',
]
const ORGS = [
  'Acme Robotics', 'Bluestone Bank', 'Northwind Holdings', 'Orion Telecom', 'Pinecrest Pharmaceuticals', 'Redwood Logistics',
  'Sterling Mining', 'the Red Cross', 'Keystone Energy', 'Larkspur Motors', 'Meridian Group', 'Vantage Industries', 'Harbourside Trust',
  'Global Seed Bank', 'the Institute of Marine Science', 'Summit Retail', 'Crestview Insurance', 'Atlas Airlines', 'Nova Software', 'Helios Solar',
]
// Parts are plain strings or [label, value]; the span of an entity does not include a leading "the".
const ENTITY_TEMPLATES = [
  ['{PERSON}', ' moved from ', '{CITY}', ' to ', '{CITY}', ' to join ', '{ORG}', '.'],
  ['{ORG}', ' opened a new office in ', '{CITY}', ' last year.'],
  ['{PERSON}', ' works as an engineer at ', '{ORG}', '.'],
  ['Yesterday ', '{PERSON}', ' met ', '{PERSON}', ' in ', '{CITY}', '.'],
  ['The mayor of ', '{CITY}', ', ', '{PERSON}', ', visited ', '{ORG}', ' on Monday.'],
  ['{ORG}', ' hired ', '{PERSON}', ' as its new chief executive.'],
  ['After ten years in ', '{CITY}', ', ', '{PERSON}', ' returned home to ', '{CITY}', '.'],
  ['{PERSON}', ' and ', '{PERSON}', ' founded ', '{ORG}', ' in a garage.'],
  ['The conference in ', '{CITY}', ' was sponsored by ', '{ORG}', '.'],
  ['According to ', '{PERSON}', ', ', '{ORG}', ' will move its headquarters to ', '{CITY}', '.'],
  ['Flights from ', '{CITY}', ' to ', '{CITY}', ' were cancelled because of the storm.'],
  ['{PERSON}', ' grew up in ', '{CITY}', ' and studied law.'],
  ['A spokesperson for ', '{ORG}', ' said the plant in ', '{CITY}', ' would stay open.'],
  ['{PERSON}', ' left ', '{ORG}', ' to start a bakery.'],
  ['Workers at ', '{ORG}', ' in ', '{CITY}', ' went on strike.'],
  ['We had dinner with ', '{PERSON}', ' before the show.'],
  ['The weather was cold and grey all week.'],
  ['Nobody knew what to expect from the meeting.'],
]

function entityValue(rng, label) {
  if (label === 'PERSON') return rng.chance(0.15) ? firstName(rng) : person(rng)
  if (label === 'CITY') return rng.pick(CITIES)
  return rng.pick(ORGS)
}

function makeEntities(rng, count) {
  const rows = []
  const seen = new Set()
  for (let tries = 0; rows.length < count; tries++) {
    if (tries > count * 50) throw new Error(`only ${rows.length} distinct tagging examples after ${tries} tries`)
    const template = rng.pick(ENTITY_TEMPLATES)
    let text = ''
    const spans = []
    const used = new Set()
    for (const part of template) {
      const slot = /^\{(PERSON|CITY|ORG)\}$/.exec(part)
      if (!slot) {
        text += part
        continue
      }
      const label = slot[1]
      let value = entityValue(rng, label)
      for (let again = 0; used.has(value) && again < 20; again++) value = entityValue(rng, label)
      used.add(value)
      // "the Red Cross": the article is text, the name is the entity; at a sentence start it is capitalised.
      const article = /^the /.exec(value)
      if (article) {
        text += text === '' ? 'The ' : 'the '
        value = value.slice(4)
      }
      spans.push({ start: text.length, end: text.length + value.length, label })
      text += value
    }
    if (seen.has(text)) continue
    seen.add(text)
    rows.push({ text, spans })
  }
  return rows
}

// ---------------------------------------------------------------- question answering

const SUBJECTS = ['chemistry', 'architecture', 'economics', 'marine biology', 'music', 'mechanical engineering', 'medicine', 'history', 'mathematics', 'law', 'geology', 'philosophy']
const PRODUCTS_MADE = ['solar panels', 'electric bicycles', 'hearing aids', 'garden tools', 'wooden toys', 'water filters', 'weather sensors', 'running shoes', 'glass bottles', 'drone cameras', 'wind turbines', 'school furniture']
const UNIVERSITIES = ['the University of Ashford', 'Northfield College', 'the Royal Academy of Bramley', 'Kingsport Technical University', 'the University of Larkhill', 'Glenwood Institute']
const COMPANY_NAMES = ['Brightwater', 'Cobalt Works', 'Fernleaf', 'Greystone Labs', 'Halcyon', 'Ironbark', 'Juniper Systems', 'Kestrel', 'Lumen Craft', 'Moss & Pine', 'Nimbus', 'Quillstone', 'Tidewell', 'Umberfield', 'Wrenhouse', 'Yarrow Tech']
const RIVERS = ['the Arden', 'the Belle', 'the Corran', 'the Dove', 'the Esk', 'the Fennick', 'the Glass', 'the Hollin']
const FOODS = ['smoked trout', 'honey cake', 'cheese pies', 'plum brandy', 'apple cider', 'oat biscuits', 'salted herring', 'walnut bread']

/** A passage about a fictional founder and the questions it answers, each answer a span of it. */
function founderPassage(rng) {
  const name = person(rng)
  const surname = name.split(' ')[1]
  const [born, hq] = rng.sample(TOWNS, 2)
  const facts = {
    born,
    hq,
    year: String(rng.int(1941, 1990)),
    subject: rng.pick(SUBJECTS),
    university: rng.pick(UNIVERSITIES),
    company: rng.pick(COMPANY_NAMES),
    product: rng.pick(PRODUCTS_MADE),
    staff: String(rng.int(3, 95) * 10),
    founded: null,
  }
  facts.founded = String(Number(facts.year) + rng.int(22, 35))
  // WHO stands for the founder: the full name where the passage first mentions them, the surname after.
  const sentences = rng.shuffle([
    ['born', rng.pick([`WHO was born in ${born} in ${facts.year}.`, `Born in ${born} in ${facts.year}, WHO was the youngest of four children.`])],
    ['study', rng.pick([`WHO studied ${facts.subject} at ${facts.university}.`, `At ${facts.university}, WHO studied ${facts.subject}.`])],
    ['company', rng.pick([`In ${facts.founded}, WHO founded ${facts.company}, a firm that makes ${facts.product}.`, `${facts.company}, which makes ${facts.product}, was founded by WHO in ${facts.founded}.`])],
    ['staff', rng.pick([`Today ${facts.company} employs ${facts.staff} people.`, `The company now has ${facts.staff} employees.`])],
    ['hq', rng.pick([`Its headquarters are in ${hq}.`, `The firm moved its headquarters to ${hq} a few years ago.`])],
  ])
  // "Its headquarters" and "the company" refer back, so the company sentence comes before them.
  const order = sentences.map(([key]) => key)
  if (order.indexOf('hq') < order.indexOf('company') || order.indexOf('staff') < order.indexOf('company')) {
    sentences.unshift(sentences.splice(order.indexOf('company'), 1)[0])
  }
  let named = false
  const context = sentences
    .map(([, s]) => s.replace('WHO', () => (named ? surname : ((named = true), name))))
    .join(' ')
  const questions = [
    [rng.pick([`Where was ${name} born?`, `In which town was ${name} born?`]), born],
    [rng.pick([`In what year was ${name} born?`, `When was ${name} born?`]), facts.year],
    [rng.pick([`What did ${name} study?`, `Which subject did ${surname} study?`]), facts.subject],
    [rng.pick([`Where did ${surname} study?`, `Which university did ${name} attend?`]), facts.university],
    [rng.pick([`Which company did ${name} found?`, `What is the name of the firm ${surname} founded?`]), facts.company],
    [rng.pick([`What does ${facts.company} make?`, `What products does ${facts.company} make?`]), facts.product],
    [rng.pick([`How many people does ${facts.company} employ?`, `How many employees does ${facts.company} have?`]), facts.staff],
    [rng.pick([`Where are the headquarters of ${facts.company}?`, `In which town is ${facts.company} based?`]), hq],
    [rng.pick([`When was ${facts.company} founded?`, `In what year did ${surname} found ${facts.company}?`]), facts.founded],
  ]
  return { context, questions }
}

/** A passage about a fictional town. */
function townPassage(rng) {
  const town = rng.pick(TOWNS)
  const river = rng.pick(RIVERS)
  const people = `${rng.int(2, 90)},${String(rng.int(0, 999)).padStart(3, '0')}`
  const food = rng.pick(FOODS)
  const mayor = person(rng)
  const year = String(rng.int(1120, 1890))
  const sentences = rng.shuffle([
    rng.pick([`${town} lies on the river ${river.slice(4)}.`, `The river ${river.slice(4)} runs through the middle of ${town}.`]),
    rng.pick([`About ${people} people live in the town.`, `The town has a population of about ${people}.`]),
    rng.pick([`It is best known for its ${food}.`, `Visitors come from far away to taste its ${food}.`]),
    rng.pick([`The current mayor is ${mayor}.`, `Since the last election the town has been led by ${mayor}.`]),
    rng.pick([`The old bridge was built in ${year}.`, `Its stone bridge dates from ${year}.`]),
  ])
  // The first sentence must name the town so that "it" and "the town" have something to refer to.
  const first = sentences.findIndex((s) => s.includes(town))
  sentences.unshift(sentences.splice(first, 1)[0])
  const context = sentences.join(' ')
  const riverName = river.slice(4)
  const questions = [
    [rng.pick([`Which river runs through ${town}?`, `On which river does ${town} lie?`]), riverName],
    [rng.pick([`How many people live in ${town}?`, `What is the population of ${town}?`]), people],
    [rng.pick([`What is ${town} known for?`, `What food is ${town} famous for?`]), food],
    [rng.pick([`Who is the mayor of ${town}?`, `Who leads ${town}?`]), mayor],
    [rng.pick([`When was the bridge in ${town} built?`, `In what year was the bridge in ${town} built?`]), year],
  ]
  return { context, questions }
}

function makeQa(rng, contexts, perContext) {
  const rows = []
  for (let i = 0; i < contexts; i++) {
    const { context, questions } = rng.chance(0.7) ? founderPassage(rng) : townPassage(rng)
    for (const [question, answer] of rng.sample(questions, perContext)) {
      const start = context.indexOf(answer)
      if (start < 0 || context.indexOf(answer, start + 1) >= 0) {
        // An answer that is missing or ambiguous would teach the model the wrong span: skip it.
        continue
      }
      rows.push({ context, question, answers: { text: [answer], answer_start: [start] } })
    }
  }
  return rows
}

// ---------------------------------------------------------------- extractive summaries

// Key sentences carry the news (who did what, how much, when); fillers are colour.
const SUMMARY_KEYS = [
  '{company} reported a profit of {amount} million dollars for the year.',
  'the council of {town} approved a new bridge costing {amount} million pounds.',
  '{company} will open a factory in {town} in {month}, creating {jobs} jobs.',
  '{name} was elected mayor of {town} with {share} percent of the vote.',
  '{company} agreed to buy {company2} for {amount} million euros.',
  'the new railway line between {town} and {town2} will open in {month}.',
  'the hospital in {town} will add {jobs} beds by {month}.',
  '{name} was appointed chief executive of {company} on Tuesday.',
  'ticket prices on the {town} ferry will rise by {share} percent from {month}.',
  '{company} recalled {jobs} thousand heaters after reports of overheating.',
]
const SUMMARY_FILLERS = [
  'the weather was mild for the time of year.',
  'several people shared their views online.',
  'a few reporters waited outside the building.',
  'the building has a long and colourful history.',
  'local cafes were busier than usual that morning.',
  'some residents said they had heard rumours for weeks.',
  'the meeting started a little later than planned.',
  'photographs from the day were posted on social media.',
  'a small crowd gathered in the square to watch.',
  'the news was discussed on the local radio station.',
  'one visitor said the view from the hill was lovely.',
  'the car park was full by nine o\'clock.',
  'children from a nearby school came to look.',
  'it was the first sunny day after a week of rain.',
]
const SUMMARY_SLOTS = {
  company: COMPANY_NAMES,
  company2: FINANCE.company,
  town: TOWNS,
  town2: CITIES,
  name: person,
  amount: (rng) => String(rng.int(2, 900)),
  jobs: (rng) => String(rng.int(2, 60) * 10),
  share: (rng) => String(rng.int(3, 71)),
  month: ['January', 'March', 'April', 'June', 'September', 'October', 'November'],
}

function makeSummaries(rng, count) {
  const rows = []
  for (let i = 0; i < count; i++) {
    const keys = rng.sample(SUMMARY_KEYS, rng.int(1, 3)).map((t) => fill(rng, t, SUMMARY_SLOTS))
    const fillers = rng.sample(SUMMARY_FILLERS, rng.int(3, 6)).map((t) => fill(rng, t, SUMMARY_SLOTS))
    const sentences = rng.shuffle([...keys.map((s) => [s, 1]), ...fillers.map((s) => [s, 0])])
    // News leads with its most important fact more often than not.
    if (rng.chance(0.6)) {
      const first = sentences.findIndex(([, key]) => key === 1)
      sentences.unshift(sentences.splice(first, 1)[0])
    }
    rows.push({ sentences: sentences.map(([s]) => s), labels: sentences.map(([, key]) => key) })
  }
  return rows
}

// ---------------------------------------------------------------- files

/** RFC 4180: quote a field when it holds a comma, a quote or a line break; quotes doubled. */
function csvField(value) {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value
}
const csv = (header, rows) => [header, ...rows].map((row) => row.map(csvField).join(',')).join('\n') + '\n'
const jsonl = (rows) => rows.map((row) => JSON.stringify(row)).join('\n') + '\n'

/** Every sample file's name and content, for the seed given. */
export function generateSamples(seed = DEFAULT_SEED) {
  const rng = (name) => makeRng(seed, name)
  return {
    'topics.csv': csv(['text', 'label'], makeTopics(rng('topics.csv'), 350)),
    'sentiment.csv': csv(['text', 'label'], makeSentiment(rng('sentiment.csv'), 100)),
    'topics-corpus.txt': makeTopicsCorpus(rng('topics-corpus.txt'), 1_500_000).join('\n') + '\n',
    'multilabel.jsonl': jsonl(makeMultilabel(rng('multilabel.jsonl'), 300)),
    'entities.jsonl': jsonl(makeEntities(rng('entities.jsonl'), 400)),
    'qa.jsonl': jsonl(makeQa(rng('qa.jsonl'), 150, 3)),
    'summaries.jsonl': jsonl(makeSummaries(rng('summaries.jsonl'), 300)),
  }
}

function main() {
  const { values } = parseArgs({
    options: { out: { type: 'string' }, seed: { type: 'string' } },
    strict: true,
  })
  const here = dirname(fileURLToPath(import.meta.url))
  const out = resolve(values.out ?? join(here, '..', 'resources', 'samples'))
  const seed = values.seed === undefined ? DEFAULT_SEED : Number(values.seed)
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`--seed must be a non-negative integer, got "${values.seed}"`)
  mkdirSync(out, { recursive: true })
  const files = generateSamples(seed)
  for (const [name, content] of Object.entries(files)) writeFileSync(join(out, name), content)
  process.stdout.write(`${JSON.stringify({ out, seed, files: Object.fromEntries(Object.entries(files).map(([n, c]) => [n, Buffer.byteLength(c)])) })}\n`)
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main()
