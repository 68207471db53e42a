export const steps = [
  { id: 'import', title: 'Import', summary: 'Bring in text: files, folders, CSV, TSV, JSON Lines.' },
  { id: 'tokenizer', title: 'Tokenizer', summary: 'Train a WordPiece vocabulary on your corpora.' },
  { id: 'pretrain', title: 'Pre-train', summary: 'Pre-train a BERT encoder with masked language modelling.' },
  { id: 'label', title: 'Label', summary: 'Label documents for a fine-tuning task.' },
  { id: 'finetune', title: 'Fine-tune', summary: 'Fine-tune the encoder for classification, tagging or QA.' },
  { id: 'evaluate', title: 'Evaluate', summary: 'Measure a model on held-out data.' },
  { id: 'runs', title: 'Runs', summary: 'Watch loss curves and compare runs.' },
  { id: 'playground', title: 'Playground', summary: 'Try a model on your own sentences.' },
  { id: 'export', title: 'Export', summary: 'Export the model in formats other tools load.' },
] as const

export type StepId = (typeof steps)[number]['id']
export type Step = (typeof steps)[number]
